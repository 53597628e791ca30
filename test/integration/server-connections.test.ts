// Connections below the HTTP layer (src/server/connections.ts, fd-limit.ts): idle HTTP/2
// sessions and HTTP/1.1 keep-alives are closed after --idle-timeout, one address holds at most
// --max-sockets-per-ip connections, at --max-sockets a newcomer takes the place of the
// connection idle longest, and a hub started under a small open-file limit derives its limits
// from it and still answers /healthz when its subscribers are refused with 429.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, get as httpGet, request as httpRequest, type IncomingMessage } from 'node:http';
import http2, { type ClientHttp2Session, constants } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { HeraldServer } from '../../src/server/app.js';
import { waitFor, withTimeout } from '../helpers/async.js';
import { findBinary } from '../helpers/binary.js';
import { publisherToken, publishOk, startHub, subscribeUrl } from '../helpers/hub-server.js';
import { StreamReader } from '../helpers/sse.js';
import { createSelfSignedCert, opensslSkipReason, type SelfSignedCert } from '../helpers/tls.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Resolves once the client session closes, whoever closed it. */
function sessionClosed(session: ClientHttp2Session, what: string): Promise<unknown> {
  return withTimeout(once(session, 'close'), what);
}

/** `GET path` from `localAddress` over a fresh connection: status and body. */
function getFrom(
  url: string,
  path: string,
  localAddress = '127.0.0.1',
): Promise<{ status: number; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = httpGet(`${url}${path}`, { agent: false, localAddress }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    }),
    `GET ${path} from ${localAddress}`,
  );
}

/** A raw TCP connection from `localAddress` that sends nothing; `closed` settles on close. */
async function idleSocket(
  url: string,
  localAddress: string,
): Promise<{ socket: Socket; closed: Promise<unknown> }> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  socket.on('error', () => {});
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  return { socket, closed };
}

/**
 * Whether `promise` settles within about half a second: for connections that must stay open
 * (one the hub closes later than that makes the check weaker, never flaky).
 */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => {
    settled = true;
  });
  for (let i = 0; i < 50 && !settled; i++) await new Promise((r) => setTimeout(r, 10));
  return settled;
}

/** Waits until the hub's server counts `n` open connections. */
function waitForConnections(hub: HeraldServer, n: number): Promise<void> {
  return withTimeout(
    (async () => {
      for (;;) {
        const open = await new Promise<number>((resolve, reject) =>
          hub.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
        );
        if (open === n) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
    `the hub to count ${n} connections`,
  );
}

/** A value of the hub's /metrics (0 when absent). */
async function metric(url: string, name: string): Promise<number> {
  const { body } = await getFrom(url, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

describe('--idle-timeout', () => {
  describe('h2c', () => {
    let hub: HeraldServer;
    before(async () => {
      hub = await startHub(['--anonymous', '--h2c', '--idle-timeout', '200ms', '--heartbeat', '0']);
    });
    after(() => hub.close(500));

    test('a session that never opens a stream gets a GOAWAY and is closed', async () => {
      const session = http2.connect(hub.url);
      session.on('error', () => {});
      const goaway = once(session, 'goaway');
      await sessionClosed(session, 'the hub to close the idle session');
      const [code] = (await goaway) as [number];
      assert.equal(code, constants.NGHTTP2_NO_ERROR);
    });

    test('a session with an open stream stays; once the stream is gone it is closed', async () => {
      const session = http2.connect(hub.url);
      session.on('error', () => {});
      let closedByHub = false;
      session.once('goaway', () => {
        closedByHub = true;
      });
      const stream = session.request({ ':path': subscribeUrl('', ['/idle']) });
      const reader = new StreamReader(stream);
      await withTimeout(once(stream, 'response'), 'the subscription');
      // Several idle timeouts pass with no byte on the session (no heartbeat, no event)…
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(closedByHub, false, 'a session with a stream is not idle');
      // …and it still delivers.
      const id = await publishOkOverH2(hub, '/idle');
      const [event] = await reader.events.count(1, 'the event after the idle wait');
      assert.equal(event!.id, id);
      stream.close(constants.NGHTTP2_CANCEL);
      await sessionClosed(session, 'the hub to close the session once its stream is gone');
      assert.equal(closedByHub, true);
    });
  });

  test('HTTP/1.1: a keep-alive connection is closed after the idle timeout', async () => {
    const hub = await startHub(['--anonymous', '--idle-timeout', '200ms']);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const socket = await withTimeout(
        new Promise<Socket>((resolve, reject) => {
          const req = httpRequest(`${hub.url}/healthz`, { agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(req.socket as Socket));
          });
          req.on('error', reject);
          req.end();
        }),
        '/healthz',
      );
      await withTimeout(once(socket, 'close'), 'the hub to close the idle keep-alive');
    } finally {
      agent.destroy();
      await hub.close(500);
    }
  });

  describe('TLS', { skip: opensslSkipReason() }, () => {
    let cert: SelfSignedCert;
    let hub: HeraldServer;
    before(async () => {
      cert = await createSelfSignedCert();
      hub = await startHub([
        '--anonymous',
        '--idle-timeout',
        '200ms',
        '--tls-cert',
        join(cert.dir, 'cert.pem'),
        '--tls-key',
        join(cert.dir, 'key.pem'),
      ]);
    });
    after(async () => {
      await hub?.close(500);
      await cert?.cleanup();
    });

    test('an HTTP/2 session without streams is closed', async () => {
      const session = http2.connect(hub.url, { ca: cert.cert });
      session.on('error', () => {});
      await sessionClosed(session, 'the hub to close the idle TLS session');
    });

    test('an HTTP/1.1 keep-alive connection (the fallback) is closed', async () => {
      // node's HTTP/1.1 fallback of an HTTP/2 server never timed these out.
      const agent = new (await import('node:https')).Agent({ keepAlive: true, ca: cert.cert });
      try {
        const socket = await withTimeout(
          new Promise<Socket>((resolve, reject) => {
            const req = httpsRequest(`${hub.url}/healthz`, { agent }, (res) => {
              res.resume();
              res.on('end', () => resolve(req.socket as Socket));
            });
            req.on('error', reject);
            req.end();
          }),
          '/healthz over HTTP/1.1 and TLS',
        );
        await withTimeout(once(socket, 'close'), 'the hub to close the idle keep-alive');
      } finally {
        agent.destroy();
      }
    });
  });
});

/** Publishes over HTTP/2 to an h2c hub; resolves with the id. */
async function publishOkOverH2(hub: HeraldServer, topic: string): Promise<string> {
  const session = http2.connect(hub.url);
  session.on('error', () => {});
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/.well-known/mercure',
      authorization: `Bearer ${await publisherToken()}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    stream.end(new URLSearchParams({ topic, data: 'after the wait' }).toString());
    let body = '';
    stream.setEncoding('utf8');
    for await (const chunk of stream) body += chunk;
    return body;
  } finally {
    session.close();
  }
}

describe('--max-sockets-per-ip', () => {
  test('one address holds at most N connections; others, and trusted proxies, still get in', async () => {
    const hub = await startHub([
      '--anonymous',
      '--max-sockets-per-ip',
      '3',
      '--trusted-proxies',
      '127.0.0.3',
    ]);
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const { socket, closed } = await idleSocket(hub.url, '127.0.0.2');
        held.push(socket);
        assert.equal(await settlesSoon(closed), false, `connection ${i + 1} of 3 stays`);
      }
      const fourth = await idleSocket(hub.url, '127.0.0.2');
      await withTimeout(fourth.closed, 'the hub to close the 4th connection');
      // Another address is served; so is a trusted proxy, past the bound.
      assert.equal((await getFrom(hub.url, '/healthz', '127.0.0.1')).status, 200);
      for (let i = 0; i < 4; i++) {
        const { socket, closed } = await idleSocket(hub.url, '127.0.0.3');
        held.push(socket);
        assert.equal(await settlesSoon(closed), false, 'a trusted proxy is exempt');
      }
      assert.equal(
        await metric(hub.url, 'herald_sockets_refused_total{limit="max-sockets-per-ip"}'),
        1,
      );
      // A connection of the address closes: it may open one again.
      const [first] = held.splice(0, 1);
      first!.destroy();
      await waitForConnections(hub, held.length);
      const again = await idleSocket(hub.url, '127.0.0.2');
      held.push(again.socket);
      assert.equal(await settlesSoon(again.closed), false, 'a slot came back');
    } finally {
      for (const socket of held) socket.destroy();
      await hub.close(500);
    }
  });
});

describe('--max-sockets', () => {
  test('at the bound a newcomer replaces the connection idle longest; /healthz answers', async () => {
    const hub = await startHub(['--anonymous', '--max-sockets', '4', '--heartbeat', '0']);
    const held: Array<{ socket: Socket; closed: Promise<unknown> }> = [];
    try {
      for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
        held.push(await idleSocket(hub.url, address));
      }
      assert.equal((await getFrom(hub.url, '/healthz', '127.0.0.6')).status, 200);
      await withTimeout(held[0]!.closed, 'the hub to close the longest idle connection');
      assert.equal(await settlesSoon(held[1]!.closed), false, 'only that one');
      assert.ok((await metric(hub.url, 'herald_sockets_refused_total{limit="evicted-idle"}')) >= 1);
    } finally {
      for (const { socket } of held) socket.destroy();
      await hub.close(500);
    }
  });

  test('when every connection is busy, the newcomer is closed', async () => {
    const hub = await startHub([
      '--anonymous',
      '--max-sockets',
      '3',
      '--max-connections',
      '10',
      '--heartbeat',
      '0',
    ]);
    const streams: IncomingMessage[] = [];
    try {
      for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
        const res = await withTimeout(
          new Promise<IncomingMessage>((resolve, reject) => {
            const req = httpGet(
              subscribeUrl(hub.url, ['/busy']),
              { agent: false, localAddress: address },
              resolve,
            );
            req.on('error', reject);
          }),
          'a subscription',
        );
        assert.equal(res.statusCode, 200);
        streams.push(res);
      }
      const newcomer = await idleSocket(hub.url, '127.0.0.5');
      await withTimeout(newcomer.closed, 'the hub to close the newcomer (no idle one to replace)');
      const token = await publisherToken();
      // The subscribers were left alone: they still receive. (Publishing needs a socket: close
      // one subscriber first, which frees its place.)
      streams.pop()!.destroy();
      await waitFor(() => hub.hub.stats().subscribers === 2, 'the closed subscriber to go');
      const reader = new StreamReader(streams[0]!);
      const id = await publishOk(hub.url, { topic: '/busy', data: 'still here' }, token);
      const [event] = await reader.events.count(1, 'the event');
      assert.equal(event!.id, id);
    } finally {
      for (const res of streams) res.destroy();
      await hub.close(500);
    }
  });
});

// prlimit (util-linux) lowers a child's open-file limit; skipped where it is missing.
const PRLIMIT = findBinary('prlimit');

describe('limits from the open-file limit (a hub under prlimit --nofile=256)', {
  skip: PRLIMIT === undefined ? 'needs prlimit (util-linux)' : undefined,
}, () => {
  let child: ChildProcess;
  let url = '';
  let log = '';
  before(async () => {
    child = spawn(
      PRLIMIT!,
      [
        '--nofile=256:256',
        process.execPath,
        '--import',
        'tsx',
        'src/cli.ts',
        'serve',
        '--addr',
        '127.0.0.1:0',
        '--anonymous',
        '--heartbeat',
        '0',
        '--log-level',
        'info',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The banner is on stderr (stdout: JSON log lines).
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        log += chunk;
      });
    }
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          const match = /Herald hub listening on (\S+)/.exec(log);
          // The banner (stderr) and the JSON line (stdout) come through two pipes, in either
          // order: the test reads both.
          if (match !== null && log.includes('herald hub listening')) {
            url = match[1]!;
            resolve();
          } else setTimeout(check, 20);
        };
        check();
      }),
      'the hub to listen',
      20_000,
    );
  });
  after(async () => {
    child.kill('SIGTERM');
    await once(child, 'exit');
  });

  test('the limits follow the open-file limit, and /healthz answers at the subscriber limit', async () => {
    const started = log.split('\n').find((l) => l.includes('herald hub listening'));
    assert.ok(started, log);
    const fields = JSON.parse(started) as Record<string, unknown>;
    assert.equal(fields.openFileLimit, 256);
    assert.equal(fields.maxSockets, 192);
    assert.equal(fields.maxConnections, 172);
    assert.equal(fields.maxSocketsPerIp, 96);
    // Subscribers from two addresses until the hub says 429 (96 each at most).
    const open: IncomingMessage[] = [];
    let refused: { status: number; body: string } | undefined;
    try {
      for (let i = 0; refused === undefined && i < 200; i++) {
        const address = i % 2 === 0 ? '127.0.0.2' : '127.0.0.3';
        const res = await withTimeout(
          new Promise<IncomingMessage>((resolve, reject) => {
            const req = httpGet(
              subscribeUrl(url, ['/fd']),
              { agent: false, localAddress: address },
              resolve,
            );
            req.on('error', reject);
          }),
          `subscriber ${i}`,
        );
        if (res.statusCode === 200) {
          open.push(res);
          continue;
        }
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        await once(res, 'end');
        refused = { status: res.statusCode ?? 0, body };
      }
      assert.equal(open.length, 172);
      assert.equal(refused?.status, 429);
      assert.match(refused!.body, /connection limit \(172, --max-connections\)/);
      // Descriptors are left: /healthz and /metrics answer over new connections.
      assert.equal((await getFrom(url, '/healthz')).status, 200);
      assert.equal(await metric(url, 'herald_connections'), 172);
      assert.equal(child.exitCode, null, 'the hub is still running');
    } finally {
      for (const res of open) res.destroy();
    }
  });
});
