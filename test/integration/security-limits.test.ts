// Security review: resource limits. Connection limits are per client address and global (and no
// proxy header can dodge them); clients that send their request slowly — slowloris headers, a
// trickled body, a connection that sends nothing — are cut off with a 408, over HTTP/1.1 and
// HTTP/2, while event streams, whose request arrived in time, live on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { HeraldServer } from '../../src/server/app.js';
import { withTimeout } from '../helpers/async.js';
import {
  HUB,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
  subscribeUrl,
} from '../helpers/hub-server.js';

/** What a raw connection got before the hub closed it. */
interface RawOutcome {
  /** Everything the hub sent. */
  text: string;
  /** The status line, e.g. `HTTP/1.1 408 Request Timeout` (empty when nothing came). */
  status: string;
}

/**
 * Opens a raw TCP connection, writes `head`, then writes `drip` every 100 ms (keeping the
 * request incomplete forever), and resolves once the hub closes the connection.
 */
async function slowClient(
  url: string,
  head: string,
  drip: string | undefined,
): Promise<RawOutcome> {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  socket.on('error', () => {});
  if (head !== '') socket.write(head);
  const timer =
    drip === undefined
      ? undefined
      : setInterval(() => {
          if (!socket.destroyed) socket.write(drip);
        }, 100);
  try {
    await withTimeout(once(socket, 'close'), 'the hub to close a slow connection', 8000);
  } finally {
    clearInterval(timer);
    socket.destroy();
  }
  return { text, status: text.split('\r\n')[0] ?? '' };
}

/** GETs an event stream from a given local address (127.0.0.x): another client IP. */
function subscribeFrom(
  url: string,
  localAddress: string,
  headers: Record<string, string> = {},
): Promise<IncomingMessage> {
  return withTimeout(
    new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpGet(url, { agent: false, localAddress, headers }, resolve);
      req.on('error', reject);
    }),
    `a response for a subscriber at ${localAddress}`,
  );
}

describe('slow clients time out (--headers-timeout, --request-timeout)', () => {
  let hub: HeraldServer;
  let token: string;
  before(async () => {
    hub = await startHub([
      '--anonymous',
      '--headers-timeout',
      '300ms',
      '--request-timeout',
      '600ms',
    ]);
    token = await publisherToken();
  });
  after(() => hub.close(1000));

  test('headers sent one line at a time, forever: 408 and closed', async () => {
    const outcome = await slowClient(
      hub.url,
      `GET ${HUB}?topic=/a HTTP/1.1\r\nHost: x\r\n`,
      'X-Slow: 1\r\n',
    );
    assert.match(outcome.status, /^HTTP\/1\.1 408/);
  });

  test('a connection that never sends a byte: 408 and closed', async () => {
    const outcome = await slowClient(hub.url, '', undefined);
    assert.match(outcome.status, /^HTTP\/1\.1 408/);
  });

  test('a publish body trickled a byte at a time: 408 and closed, nothing published', async () => {
    const published: string[] = [];
    const onPublish = (event: { id: string }): void => {
      published.push(event.id);
    };
    hub.hub.on('publish', onPublish);
    try {
      const outcome = await slowClient(
        hub.url,
        [
          `POST ${HUB} HTTP/1.1`,
          'Host: x',
          `Authorization: Bearer ${token}`,
          'Content-Type: application/x-www-form-urlencoded',
          'Content-Length: 100000',
          '',
          'topic=/a&data=',
        ].join('\r\n'),
        'x',
      );
      assert.match(outcome.status, /^HTTP\/1\.1 408/);
      assert.deepEqual(published, []);
    } finally {
      hub.hub.off('publish', onPublish);
    }
  });

  test('an event stream outlives both timeouts: only its request had to arrive in time', async () => {
    const stream = await subscribe(hub.url, ['/lives']);
    // Several sweeps of node:http's timeout check go by.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const id = await publishOk(hub.url, { topic: '/lives', data: 'still here' }, token);
    const events = await stream.reader.events.until(
      (list) => list.some((e) => e.id === id),
      'the event after the timeouts',
    );
    assert.equal(events.at(-1)?.data, 'still here');
    stream.req.destroy();
  });

  test('HTTP/2 (h2c): a trickled publish body gets a 408 and its stream is reset', async () => {
    const h2 = await startHub([
      '--h2c',
      '--request-timeout',
      '500ms',
      '--headers-timeout',
      '300ms',
    ]);
    const session = http2Connect(h2.url);
    session.on('error', () => {});
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': HUB,
        authorization: `Bearer ${token}`,
        'content-type': 'application/x-www-form-urlencoded',
      });
      req.on('error', () => {});
      req.write('topic=/a&data=');
      const drip = setInterval(() => {
        if (!req.destroyed && !req.closed) req.write('x');
      }, 100);
      try {
        const [headers] = (await withTimeout(once(req, 'response'), 'the 408')) as [
          Record<string, string | number>,
        ];
        assert.equal(headers[':status'], 408);
        await withTimeout(once(req, 'close'), 'the stream to be closed by the hub');
      } finally {
        clearInterval(drip);
      }
      // The connection itself still works.
      const ok = session.request({ ':method': 'GET', ':path': '/healthz' });
      const [headers] = (await withTimeout(once(ok, 'response'), '/healthz over the session')) as [
        Record<string, string | number>,
      ];
      assert.equal(headers[':status'], 200);
      ok.resume();
      ok.close();
    } finally {
      session.destroy();
      await h2.close(500);
    }
  });
});

describe('connection limits: per client address and global', () => {
  test('per-IP and global limits are counted by socket address; X-Forwarded-For changes nothing', async () => {
    const hub = await startHub([
      '--anonymous',
      '--max-connections-per-ip',
      '2',
      '--max-connections',
      '3',
    ]);
    const url = subscribeUrl(hub.url, ['/limits']);
    const open: IncomingMessage[] = [];
    try {
      // Two from 127.0.0.1: the per-IP limit is reached.
      for (let i = 0; i < 2; i++) {
        const res = await subscribeFrom(url, '127.0.0.1');
        assert.equal(res.statusCode, 200);
        open.push(res);
      }
      const third = await subscribeFrom(url, '127.0.0.1', { 'x-forwarded-for': '203.0.113.9' });
      assert.equal(third.statusCode, 429, 'a proxy header does not make another client');
      third.resume();
      // Another address still gets in, up to the global limit of 3…
      const other = await subscribeFrom(url, '127.0.0.2');
      assert.equal(other.statusCode, 200);
      open.push(other);
      // …after which nobody does, whatever the address.
      const fourth = await subscribeFrom(url, '127.0.0.3');
      assert.equal(fourth.statusCode, 429);
      let body = '';
      fourth.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      await once(fourth, 'end');
      assert.match(body, /connection limit \(3, --max-connections\)/);
      // Slots come back when connections close.
      open.shift()?.destroy();
      await withTimeout(
        (async () => {
          while (hub.hub.stats().subscribers > 2) await new Promise((r) => setTimeout(r, 5));
        })(),
        'the hub to release the slot',
      );
      const again = await subscribeFrom(url, '127.0.0.3');
      assert.equal(again.statusCode, 200);
      open.push(again);
    } finally {
      for (const res of open) res.destroy();
      await hub.close(500);
    }
  });
});
