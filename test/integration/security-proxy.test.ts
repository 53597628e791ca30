// Security review: client addresses behind a reverse proxy (--trusted-proxies). Over real
// sockets from 127.0.0.x: a trusted proxy's X-Forwarded-For makes separate clients for the
// per-IP connection limit and the logs; the client is the rightmost untrusted entry, so a client
// that writes its own header cannot pick its address; an untrusted peer's header, or any header
// without --trusted-proxies, changes nothing; malformed headers fall back to the proxy's address
// and never crash the hub; the same over HTTP/2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { connect as http2Connect, type IncomingHttpHeaders } from 'node:http2';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type HeraldServer, startServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { waitFor, withTimeout } from '../helpers/async.js';
import { cliEnv } from '../helpers/cli-env.js';
import {
  makeToken,
  publish,
  publisherToken,
  SECRET,
  startHub,
  subscribeUrl,
} from '../helpers/hub-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a subscribe got: the status, and the body when it is an error (a stream stays open). */
interface Opened {
  status: number;
  body: string;
  res: IncomingMessage;
}

/**
 * GETs an event stream on a connection of its own from `localAddress` (127.0.0.x: another
 * socket peer), with `headers`. A 200 stream is left open (destroy `res`); an error's body is
 * read.
 */
async function open(
  url: string,
  localAddress: string,
  headers: Record<string, string | string[]> = {},
): Promise<Opened> {
  const res = await withTimeout(
    new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpGet(url, { agent: false, localAddress, headers }, resolve);
      req.on('error', reject);
    }),
    `a response for ${localAddress} ${JSON.stringify(headers)}`,
  );
  let body = '';
  if (res.statusCode !== 200) {
    res.setEncoding('utf8');
    for await (const chunk of res) body += chunk;
  }
  return { status: res.statusCode ?? 0, body, res };
}

/**
 * Sends `head` (request line and headers, latin1, any bytes) on a raw connection from 127.0.0.1
 * with `Connection: close`; resolves with the status code and the body once the hub closes.
 */
async function raw(url: string, head: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  const socket = connect({ port: Number(port), host: hostname, localAddress: '127.0.0.1' });
  await withTimeout(once(socket, 'connect'), 'a raw connection');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  socket.on('error', () => {});
  socket.write(`${head}Connection: close\r\n\r\n`, 'latin1');
  try {
    await withTimeout(once(socket, 'close'), `the hub to answer ${JSON.stringify(head)}`);
  } finally {
    socket.destroy();
  }
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

/** Asserts a 429 of the per-IP limit that names `ip` as the client it counted. */
function assertLimitedAs(opened: { status: number; body: string }, ip: string, what: string): void {
  assert.equal(opened.status, 429, `${what}: expected 429, got ${opened.status} ${opened.body}`);
  assert.ok(
    opened.body.includes(`too many connections from ${ip} (limit 1, --max-connections-per-ip)`),
    `${what}: counted as ${ip}? ${opened.body}`,
  );
}

/** Runs `body` with a hub from `flags`, closing every stream it leaves open and the hub. */
async function withHub(
  flags: string[],
  body: (hub: HeraldServer, url: string, keep: (o: Opened) => Opened) => Promise<void>,
): Promise<void> {
  const hub = await startHub(['--anonymous', '--max-connections-per-ip', '1', ...flags]);
  const held: IncomingMessage[] = [];
  try {
    await body(hub, subscribeUrl(hub.url, ['/proxy']), (o) => {
      held.push(o.res);
      return o;
    });
  } finally {
    for (const res of held) res.destroy();
    await hub.close(500);
  }
}

describe('the per-IP connection limit behind a proxy', () => {
  test('a trusted proxy’s clients are counted apart, by their X-Forwarded-For', async () => {
    await withHub(['--trusted-proxies', '127.0.0.1'], async (hub, url, keep) => {
      const xff = (value: string) => ({ 'x-forwarded-for': value });
      // Two clients behind the proxy at 127.0.0.1: one slot each.
      assert.equal(keep(await open(url, '127.0.0.1', xff('203.0.113.1'))).status, 200);
      assertLimitedAs(
        keep(await open(url, '127.0.0.1', xff('203.0.113.1'))),
        '203.0.113.1',
        'the same client again',
      );
      assert.equal(keep(await open(url, '127.0.0.1', xff('203.0.113.2'))).status, 200);
      // The proxy's own requests (no header) are the proxy's.
      assert.equal(keep(await open(url, '127.0.0.1')).status, 200);
      assertLimitedAs(keep(await open(url, '127.0.0.1')), '127.0.0.1', 'the proxy itself again');
      // Only 127.0.0.1 is trusted: in "1.2.3.4, 10.0.0.5" the client is 10.0.0.5.
      assert.equal(keep(await open(url, '127.0.0.1', xff('1.2.3.4, 10.0.0.5'))).status, 200);
      assertLimitedAs(
        keep(await open(url, '127.0.0.1', xff('10.0.0.5'))),
        '10.0.0.5',
        'an untrusted hop is the client',
      );
      // A peer that is not a trusted proxy: its header is ignored entirely, whatever it says.
      assert.equal(keep(await open(url, '127.0.0.2', xff('203.0.113.3'))).status, 200);
      for (const claim of ['203.0.113.4', '203.0.113.3', '127.0.0.1, 203.0.113.9', '127.0.0.1']) {
        assertLimitedAs(
          keep(await open(url, '127.0.0.2', xff(claim))),
          '127.0.0.2',
          `an untrusted peer claiming ${claim}`,
        );
      }
      // A slot comes back to the client that held it.
      const first = await open(url, '127.0.0.1', xff('203.0.113.20'));
      assert.equal(first.status, 200);
      const before = hub.hub.stats().subscribers;
      first.res.destroy();
      await waitFor(() => hub.hub.stats().subscribers < before, 'the hub to release the slot');
      assert.equal(keep(await open(url, '127.0.0.1', xff('203.0.113.20'))).status, 200);
    });
  });

  test('without --trusted-proxies, X-Forwarded-For does not make another client', async () => {
    await withHub([], async (_hub, url, keep) => {
      assert.equal(
        keep(await open(url, '127.0.0.1', { 'x-forwarded-for': '203.0.113.1' })).status,
        200,
      );
      for (const spoof of ['203.0.113.2', '203.0.113.1', '10.0.0.1, 203.0.113.3']) {
        assertLimitedAs(
          keep(await open(url, '127.0.0.1', { 'x-forwarded-for': spoof })),
          '127.0.0.1',
          `spoofing ${spoof}`,
        );
      }
      // Another socket address still is another client.
      assert.equal(keep(await open(url, '127.0.0.2')).status, 200);
    });
  });

  test('a chain of trusted proxies: the client is the rightmost untrusted entry', async () => {
    await withHub(['--trusted-proxies', '127.0.0.1,10.0.0.0/8'], async (_hub, url, keep) => {
      const xff = (value: string | string[]) => ({ 'x-forwarded-for': value });
      // client 1.2.3.4 → proxy 10.0.0.5 → proxy 127.0.0.1 → hub
      assert.equal(keep(await open(url, '127.0.0.1', xff('1.2.3.4, 10.0.0.5'))).status, 200);
      assertLimitedAs(keep(await open(url, '127.0.0.1', xff('1.2.3.4'))), '1.2.3.4', 'direct');
      // 1.2.3.4 writes its own header, "6.6.6.6"; the proxy appends what it saw: still 1.2.3.4.
      assertLimitedAs(
        keep(await open(url, '127.0.0.1', xff('6.6.6.6, 1.2.3.4'))),
        '1.2.3.4',
        'a spoof attempt',
      );
      assertLimitedAs(
        keep(await open(url, '127.0.0.1', xff('6.6.6.6, 1.2.3.4, 10.0.0.5'))),
        '1.2.3.4',
        'a spoof attempt through both proxies',
      );
      // Repeated headers are one list, the last rightmost.
      assertLimitedAs(
        keep(await open(url, '127.0.0.1', xff(['6.6.6.6', '1.2.3.4, 10.0.0.9']))),
        '1.2.3.4',
        'repeated headers',
      );
      // 6.6.6.6 itself has no connection yet: the refusals above were 1.2.3.4's.
      assert.equal(keep(await open(url, '127.0.0.1', xff('6.6.6.6'))).status, 200);
      // Every entry trusted: the leftmost is the client.
      assert.equal(keep(await open(url, '127.0.0.1', xff('10.0.0.7, 10.0.0.5'))).status, 200);
      assertLimitedAs(keep(await open(url, '127.0.0.1', xff('10.0.0.7'))), '10.0.0.7', 'leftmost');
      // IPv6 clients, with ports and brackets as some proxies write them.
      assert.equal(keep(await open(url, '127.0.0.1', xff('[2001:db8::1]:443'))).status, 200);
      assertLimitedAs(
        keep(await open(url, '127.0.0.1', xff('2001:DB8::1, 10.0.0.5'))),
        '2001:db8::1',
        'one IPv6 client however written',
      );
    });
  });

  test('malformed headers never crash the hub, nor let the client choose', async () => {
    await withHub(['--trusted-proxies', '127.0.0.1'], async (hub, url, keep) => {
      const path = new URL(url).pathname + new URL(url).search;
      // The proxy's own slot is taken: every header that falls back to the peer gets a 429
      // naming 127.0.0.1 — neither a crash nor an address the client wrote.
      assert.equal(keep(await open(url, '127.0.0.1')).status, 200);
      const malformed = [
        '',
        ' ',
        ',',
        ',,,',
        'garbage',
        'unknown',
        '_hidden',
        '1.2.3.4, garbage',
        '1.2.3.4,',
        '1.2.3.4, , 5.6.7.8,',
        '999.1.1.1',
        '1.2.3',
        '[::1',
        '[1.2.3.4]',
        'fe80::1%eth0',
        '1.2.3.4:99999x',
        'for=1.2.3.4',
        '"1.2.3.4"',
        '1.2.3.4\xff\xfe',
        '\xff\xfe\xfd',
        // Beyond the bound of entries read: never the client-made left end.
        `6.6.6.6,${'127.0.0.1,'.repeat(1400)}127.0.0.1`,
      ];
      for (const value of malformed) {
        const got = await raw(
          url,
          `GET ${path} HTTP/1.1\r\nHost: hub\r\nX-Forwarded-For: ${value}\r\n`,
        );
        assertLimitedAs(got, '127.0.0.1', `X-Forwarded-For: ${JSON.stringify(value)}`);
      }
      // Two headers, the last malformed: still the proxy.
      assertLimitedAs(
        await raw(
          url,
          `GET ${path} HTTP/1.1\r\nHost: hub\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: nope\r\n`,
        ),
        '127.0.0.1',
        'two headers',
      );
      // Garbage left of a well-formed rightmost entry does not matter: that entry is the client.
      assert.equal(
        keep(await open(url, '127.0.0.1', { 'x-forwarded-for': '\u00ff, garbage, 203.0.113.50' }))
          .status,
        200,
      );
      // Bytes node's parser refuses never reach the hub: a 400 from node, and the hub lives on.
      const nul = await raw(url, `GET ${path} HTTP/1.1\r\nHost: hub\r\nX-Forwarded-For: 1\x00\r\n`);
      assert.equal(nul.status, 400);
      const health = await fetch(`${hub.url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    });
  });

  test('over HTTP/2 (h2c) the same rules apply', async () => {
    await withHub(['--h2c', '--trusted-proxies', '127.0.0.1'], async (_hub, url) => {
      const { hostname, port } = new URL(url);
      // From 127.0.0.1, the trusted proxy.
      const session = http2Connect(new URL(url).origin, {
        createConnection: () =>
          connect({ port: Number(port), host: hostname, localAddress: '127.0.0.1' }),
      });
      session.on('error', () => {});
      const path = new URL(url).pathname + new URL(url).search;
      const get = async (xff: string): Promise<{ status: number; body: string }> => {
        const stream = session.request({ ':path': path, 'x-forwarded-for': xff });
        const [headers] = (await withTimeout(once(stream, 'response'), `h2 ${xff}`)) as [
          IncomingHttpHeaders,
        ];
        const status = Number(headers[':status']);
        let body = '';
        if (status !== 200) {
          stream.setEncoding('utf8');
          for await (const chunk of stream) body += chunk;
        }
        return { status, body };
      };
      try {
        assert.equal((await get('203.0.113.1')).status, 200);
        assertLimitedAs(await get('203.0.113.1'), '203.0.113.1', 'h2: the same client again');
        assertLimitedAs(await get('6.6.6.6, 203.0.113.1'), '203.0.113.1', 'h2: a spoof attempt');
        assert.equal((await get('203.0.113.2')).status, 200);
        // A malformed header: the proxy's own address (its first slot, then a refusal).
        assert.equal((await get('garbage')).status, 200);
        assertLimitedAs(await get('1.2.3.4, nope'), '127.0.0.1', 'h2: malformed');
      } finally {
        session.destroy();
      }
    });
  });
});

describe('other uses of the client address', () => {
  test('X-Forwarded-For does not split a publisher’s rate limit: it is per token', async () => {
    // Publishes always carry a token (a publish without one is refused with 401 before the
    // limit), so --publish-rate counts tokens; rotating forwarded addresses must not reset it.
    // Rate 0.01/s: one publish, then the bucket stays empty for 100 s.
    const hub = await startHub(['--publish-rate', '0.01', '--trusted-proxies', '127.0.0.1']);
    try {
      const token = await publisherToken();
      const other = await makeToken({ publish: ['*'], payload: 'another publisher' });
      const send = async (t: string, xff: string): Promise<number> => {
        const res = await publish(hub.url, { topic: '/rate', data: 'x' }, t, {
          'x-forwarded-for': xff,
        });
        await res.text();
        return res.status;
      };
      assert.equal(await send(token, '203.0.113.1'), 200);
      assert.equal(await send(token, '203.0.113.2'), 429, 'another forwarded address, same token');
      assert.equal(await send(token, 'garbage'), 429);
      assert.equal(await send(other, '203.0.113.1'), 200, 'another token, same address');
    } finally {
      await hub.close(500);
    }
  });

  test('the subscribe log line names the forwarded client', async () => {
    let written = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.toString();
        done();
      },
    });
    const { config } = loadConfig({
      argv: [
        '--addr',
        '127.0.0.1:0',
        '--jwt-key',
        SECRET,
        '--anonymous',
        '--trusted-proxies',
        '127.0.0.1',
      ],
      env: {},
    });
    const hub = await startServer(config, { logger: createLogger('debug', sink) });
    const url = subscribeUrl(hub.url, ['/logged']);
    const held: IncomingMessage[] = [];
    try {
      held.push((await open(url, '127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.77' })).res);
      held.push((await open(url, '127.0.0.2', { 'x-forwarded-for': '203.0.113.78' })).res);
      await waitFor(
        () => written.split('\n').filter((l) => l.includes('"msg":"subscribe"')).length === 2,
        'two subscribe log lines',
      );
      const ips = written
        .split('\n')
        .filter((line) => line.includes('"msg":"subscribe"'))
        .map((line) => (JSON.parse(line) as { ip: string }).ip)
        .sort();
      assert.deepEqual(ips, ['127.0.0.2', '203.0.113.77']);
    } finally {
      for (const res of held) res.destroy();
      await hub.close(500);
    }
  });

  test('a bad --trusted-proxies entry is a configuration error: exit 2, naming it', async () => {
    const env = cliEnv();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'serve', '--trusted-proxies', '127.0.0.1,10.0.0.0/33'],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.resume();
    const [code] = (await withTimeout(once(child, 'exit'), 'herald serve to exit', 20_000)) as [
      number | null,
    ];
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--trusted-proxies: "10\.0\.0\.0\/33": the prefix length/);
  });
});
