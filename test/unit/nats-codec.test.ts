// The NATS engine's wire layout without a server: subjects safe for any id, the payload format,
// generated-id epochs, and both forms of JetStream's delivery subject (the 2.10+ form cannot be
// produced by the nats-server 2.9 the integration tests run).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodePayload,
  encodePayload,
  epochOf,
  eventSubject,
  idSubject,
  parseAckSubject,
  parseSequence,
} from '../../src/engines/nats-codec.js';

describe('nats codec', () => {
  it('puts any custom id on one short, wildcard-free subject token', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), (id) => {
        const subject = idSubject('herald', id);
        assert.match(subject, /^herald\.id\.[A-Za-z0-9_-]{43}$/);
        assert.equal(subject, idSubject('herald', id), 'stable');
      }),
    );
    assert.notEqual(idSubject('h', 'a.b'), idSubject('h', 'a*b'));
    assert.equal(eventSubject('my.prefix'), 'my.prefix.event');
  });

  it('round-trips every field, whatever the data holds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', minLength: 1 }), { minLength: 1, maxLength: 4 }),
        fc.string({ unit: 'grapheme' }),
        fc.option(fc.string(), { nil: undefined }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.boolean(),
        (topics, data, id, retry, priv) => {
          const input = { topics, data, id, type: 'x y', retry, private: priv };
          const decoded = decodePayload(encodePayload(input, 1234));
          assert.ok(decoded);
          assert.equal(decoded.data, data);
          assert.deepEqual(decoded.meta.t, topics);
          assert.equal(decoded.meta.i, id);
          assert.equal(decoded.meta.y, 'x y');
          assert.equal(decoded.meta.r, retry);
          assert.equal(decoded.meta.p === 1, priv);
          assert.equal(decoded.meta.ms, 1234);
        },
      ),
    );
  });

  it('refuses payloads Herald did not write', () => {
    const enc = new TextEncoder();
    for (const text of [
      '',
      'no line feed',
      '{"t":[]}\nx',
      'not json\nx',
      '{"t":["/a"]}\nx',
      '[1]\n',
    ]) {
      assert.equal(decodePayload(enc.encode(text)), undefined, text);
    }
  });

  it('derives the generated-id epoch from the stream creation time', () => {
    assert.equal(epochOf('1970-01-01T00:00:00Z'), '0');
    const a = epochOf('2026-11-22T04:29:21.395979776Z');
    const b = epochOf('2026-11-22T04:29:21.396979776Z');
    assert.match(a, /^[0-9a-z]+$/);
    assert.notEqual(a, b);
    assert.throws(() => epochOf('yesterday'));
  });

  it('parses sequences written as positions', () => {
    assert.equal(parseSequence('0'), 0);
    assert.equal(parseSequence('42'), 42);
    for (const bad of ['', '01', '-1', '1.5', '1e3', 'x', '99999999999999999999']) {
      assert.equal(parseSequence(bad), undefined, bad);
    }
  });

  it('reads both forms of the delivery subject', () => {
    // nats-server before 2.10: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
    assert.deepEqual(parseAckSubject('$JS.ACK.herald.oc_1.1.12995.3.1795321824596780094.5'), {
      seq: 12995,
      pending: 5,
    });
    // 2.10 and later: a domain and an account hash after $JS.ACK, a token at the end.
    assert.deepEqual(
      parseAckSubject('$JS.ACK._.ACCHASH.herald.oc_1.1.77.3.1795321824596780094.0.xyz'),
      { seq: 77, pending: 0 },
    );
    for (const bad of [undefined, '', '_INBOX.abc', '$JS.ACK.too.short', '$JS.ACK.s.c.1.x.3.4.5']) {
      assert.equal(parseAckSubject(bad), undefined, String(bad));
    }
  });
});
