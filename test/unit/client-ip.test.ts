// The client address behind trusted proxies (src/server/client-ip.ts): which `--trusted-proxies`
// entries are accepted, how X-Forwarded-For entries are read, and which address a request is
// counted under — spoofing and malformed headers included. The same rules over real sockets:
// test/integration/security-proxy.test.ts.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MAX_FORWARDED_HOPS,
  NO_TRUSTED_PROXIES,
  parseForwardedAddress,
  parseTrustedProxies,
  resolveClientIp,
} from '../../src/server/client-ip.js';

describe('parseTrustedProxies', () => {
  const trusted = parseTrustedProxies(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);

  it('matches IPv4 and IPv6 addresses and ranges, and nothing else', () => {
    for (const yes of ['127.0.0.1', '10.0.0.0', '10.255.255.255', '::1', 'fd00::1', 'fdff::']) {
      assert.ok(trusted.trusts(yes), yes);
    }
    for (const no of ['127.0.0.2', '11.0.0.1', '9.255.255.255', '::2', 'fe00::1', 'fc00::1']) {
      assert.ok(!trusted.trusts(no), no);
    }
  });

  it('an IPv4 entry matches the IPv4-mapped IPv6 form a dual-stack socket reports', () => {
    assert.ok(trusted.trusts('::ffff:127.0.0.1'));
    assert.ok(trusted.trusts('::FFFF:10.1.2.3'));
    assert.ok(!trusted.trusts('::ffff:127.0.0.2'));
    const mapped = parseTrustedProxies(['::ffff:192.168.0.0/112']);
    assert.ok(mapped.trusts('192.168.3.4'), 'and an IPv4-mapped range matches plain IPv4');
    assert.ok(!mapped.trusts('192.169.0.1'));
  });

  it('never trusts what is not an IP address', () => {
    const everything = parseTrustedProxies(['0.0.0.0/0', '::/0']);
    for (const no of ['', 'unknown', '_hidden', 'localhost', '1.2.3.4:80', '[::1]']) {
      assert.equal(everything.trusts(no), false, no);
    }
    assert.ok(everything.trusts('203.0.113.9'));
    assert.ok(everything.trusts('2001:db8::1'));
  });

  it('trusts nothing when empty', () => {
    assert.deepEqual(NO_TRUSTED_PROXIES.entries, []);
    assert.equal(NO_TRUSTED_PROXIES.trusts('127.0.0.1'), false);
    assert.equal(NO_TRUSTED_PROXIES.trusts('::1'), false);
  });

  it('refuses an entry that is not an address or a range, naming it', () => {
    for (const [bad, pattern] of [
      ['localhost', /"localhost" is not an IP address or CIDR range/],
      ['10.0.0.0/33', /"10\.0\.0\.0\/33".*0 to 32 for an IPv4 range/],
      ['::/129', /"::\/129".*0 to 128 for an IPv6 range/],
      ['10.0.0.0/x', /"10\.0\.0\.0\/x".*prefix length/],
      ['10.0.0.0/', /prefix length/],
      ['/8', /"\/8" is not an IP address/],
      ['1.2.3.4.5', /not an IP address/],
      ['fe80::1%eth0', /not an IP address/],
      ['', /"" is not an IP address/],
    ] as const) {
      assert.throws(() => parseTrustedProxies(['127.0.0.1', bad]), pattern, bad);
    }
  });
});

describe('parseForwardedAddress', () => {
  it('reads addresses, with or without a port, in canonical form', () => {
    for (const [text, address] of [
      ['203.0.113.7', '203.0.113.7'],
      ['  203.0.113.7\t', '203.0.113.7'],
      ['203.0.113.7:41234', '203.0.113.7'],
      ['2001:DB8::1', '2001:db8::1'],
      ['[2001:db8::1]', '2001:db8::1'],
      ['[2001:db8::1]:443', '2001:db8::1'],
      ['::ffff:198.51.100.2', '198.51.100.2'],
      ['[::ffff:198.51.100.2]:80', '198.51.100.2'],
      ['::1', '::1'],
    ] as const) {
      assert.equal(parseForwardedAddress(text), address, text);
    }
  });

  it('refuses everything else', () => {
    for (const text of [
      '',
      ' ',
      'unknown',
      '_hidden',
      'for=192.0.2.1',
      'localhost',
      '256.0.0.1',
      '1.2.3',
      '01.2.3.4',
      '1.2.3.4:',
      '1.2.3.4:port',
      '1.2.3.4:123456',
      '1.2.3.4 5.6.7.8',
      '[::1',
      '[::1]x',
      '[::1]:',
      '[1.2.3.4]',
      '[]',
      'fe80::1%eth0',
      '[fe80::1%25eth0]',
      '2001:db8::1:443:x',
      '"1.2.3.4"',
      '1.2.3.4\u0000',
      'é',
    ]) {
      assert.equal(parseForwardedAddress(text), undefined, JSON.stringify(text));
    }
  });
});

describe('resolveClientIp', () => {
  const trusted = parseTrustedProxies(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
  const ip = (peer: string | undefined, header?: string | string[]): string =>
    resolveClientIp(peer, header, trusted);

  it('is the socket address without a header or without trusted proxies', () => {
    assert.equal(ip('198.51.100.1'), '198.51.100.1');
    assert.equal(ip('127.0.0.1'), '127.0.0.1');
    assert.equal(resolveClientIp('127.0.0.1', '203.0.113.7', NO_TRUSTED_PROXIES), '127.0.0.1');
    assert.equal(ip(undefined, '203.0.113.7'), 'unknown', 'a socket already gone');
    assert.equal(ip('::ffff:198.51.100.1'), '198.51.100.1', 'IPv4-mapped is IPv4');
  });

  it('ignores the header of an untrusted peer entirely', () => {
    for (const header of ['203.0.113.7', '127.0.0.1', '10.0.0.1, 127.0.0.1', 'garbage']) {
      assert.equal(ip('198.51.100.1', header), '198.51.100.1', header);
    }
  });

  it('takes the rightmost untrusted entry from a trusted peer', () => {
    assert.equal(ip('127.0.0.1', '203.0.113.7'), '203.0.113.7');
    assert.equal(ip('::ffff:127.0.0.1', '203.0.113.7'), '203.0.113.7', 'a mapped peer is trusted');
    assert.equal(ip('::1', '2001:db8::7'), '2001:db8::7');
    // A chain of our proxies: the client is left of them.
    assert.equal(ip('127.0.0.1', '1.2.3.4, 10.0.0.5'), '1.2.3.4');
    assert.equal(ip('10.9.9.9', '1.2.3.4,10.0.0.5 , fd00::3'), '1.2.3.4');
    // A client that wrote its own header: only what our proxy appended counts.
    assert.equal(ip('127.0.0.1', '6.6.6.6, 1.2.3.4'), '1.2.3.4');
    assert.equal(ip('127.0.0.1', '10.0.0.1, 6.6.6.6, 1.2.3.4'), '1.2.3.4');
    assert.equal(ip('127.0.0.1', '1.2.3.4:5555'), '1.2.3.4');
    assert.equal(ip('127.0.0.1', '[2001:db8::1]:443, 10.0.0.2'), '2001:db8::1');
  });

  it('takes the leftmost entry when every entry is trusted', () => {
    assert.equal(ip('127.0.0.1', '10.0.0.9, 10.0.0.5'), '10.0.0.9');
    assert.equal(ip('127.0.0.1', '::ffff:10.0.0.9'), '10.0.0.9');
  });

  it('reads repeated headers as one list, the last one rightmost', () => {
    assert.equal(ip('127.0.0.1', ['6.6.6.6', '1.2.3.4, 10.0.0.5']), '1.2.3.4');
    assert.equal(ip('127.0.0.1', ['10.0.0.1', '10.0.0.5']), '10.0.0.1');
  });

  it('stops at a malformed entry: the last address a trusted hop vouched for', () => {
    for (const [header, expected] of [
      ['', '127.0.0.1'],
      [' ', '127.0.0.1'],
      [',', '127.0.0.1'],
      [',,,', '127.0.0.1'],
      ['garbage', '127.0.0.1'],
      ['unknown', '127.0.0.1'],
      ['1.2.3.4, garbage', '127.0.0.1'],
      ['1.2.3.4,', '127.0.0.1'],
      ['1.2.3.4, 10.0.0.5, ', '127.0.0.1'],
      ['1.2.3.4, garbage, 10.0.0.5', '10.0.0.5'],
      ['1.2.3.4,,10.0.0.5', '10.0.0.5'],
      ['garbage, 1.2.3.4', '1.2.3.4'],
      [',1.2.3.4', '1.2.3.4'],
      ['fe80::1%eth0', '127.0.0.1'],
      ['999.1.1.1', '127.0.0.1'],
      ['1.2.3.4\u0000', '127.0.0.1'],
    ] as const) {
      assert.equal(ip('127.0.0.1', header), expected, JSON.stringify(header));
    }
  });

  it(`reads at most ${MAX_FORWARDED_HOPS} entries`, () => {
    const proxies = (n: number): string =>
      Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(', ');
    assert.equal(
      ip('127.0.0.1', `1.2.3.4, ${proxies(MAX_FORWARDED_HOPS - 1)}`),
      '1.2.3.4',
      'the client within the bound',
    );
    // Beyond it the walk stops at the last trusted entry read: never at the client-made left end.
    assert.equal(ip('127.0.0.1', `6.6.6.6, ${proxies(MAX_FORWARDED_HOPS)}`), `10.0.0.0`);
    const huge = `${'10.1.1.1,'.repeat(2000)}6.6.6.6, 10.0.0.5`;
    assert.equal(ip('127.0.0.1', huge), '6.6.6.6');
    assert.equal(ip('127.0.0.1', `6.6.6.6,${'10.1.1.1,'.repeat(2000)}10.0.0.5`), '10.1.1.1');
  });

  it('never throws, never lets an untrusted peer choose, and returns an address or the peer', () => {
    const entry = fc.oneof(
      fc.constantFrom('1.2.3.4', '10.0.0.5', '127.0.0.1', '::1', 'fd00::9', '2001:db8::1'),
      fc.constantFrom('[::1]:80', '1.2.3.4:80', 'unknown', '', ' ', '%', '[', ']', ':'),
      fc.string({ maxLength: 12 }),
    );
    const header = fc.oneof(
      fc.array(entry, { maxLength: 40 }).map((entries) => entries.join(',')),
      fc.string({ maxLength: 64, unit: 'binary' }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('127.0.0.1', '::ffff:10.0.0.1', '198.51.100.1', '::ffff:198.51.100.1'),
        fc.oneof(header, fc.array(header, { maxLength: 3 })),
        (peer, forwarded) => {
          const result = ip(peer, forwarded);
          if (!trusted.trusts(peer)) {
            assert.equal(result, peer.replace('::ffff:', ''));
            return;
          }
          assert.notEqual(isIP(result), 0, result);
          const text = typeof forwarded === 'string' ? forwarded : forwarded.join(',');
          const candidates = text.split(',').map(parseForwardedAddress);
          assert.ok(
            result === peer.replace('::ffff:', '') || candidates.includes(result),
            `${result} comes from the peer or the header`,
          );
        },
      ),
      { numRuns: 2000 },
    );
  });
});
