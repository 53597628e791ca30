// A client that resets its HTTP/2 stream with NO_ERROR right after the request headers must not
// leave the stream open on the server: node:http2 never destroyed such a stream (its pending
// response write could not complete, see src/stream/http2-reset.ts), so 'close' never came, and
// the hub kept the subscription and its per-IP and global slots forever. Real node:http2 clients
// reset 200 streams, over h2c and over TLS, against the hub and against createEventStream.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, {
  type ClientHttp2Session,
  constants,
  type IncomingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEventStream } from '../../src/index.js';
import type { HeraldServer } from '../../src/server/app.js';
import { waitFor, withTimeout } from '../helpers/async.js';
import { HUB, startHub, subscribeUrl } from '../helpers/hub-server.js';
import { listen, trackSockets } from '../helpers/net.js';
import { StreamReader } from '../helpers/sse.js';
import { createSelfSignedCert, opensslSkipReason, type SelfSignedCert } from '../helpers/tls.js';

const STREAMS = 200;

/** How the client resets each stream. */
type When = 'after the request headers' | 'after the response headers';

/** Opens `STREAMS` GETs of `path` and resets each with NO_ERROR; resolves once all closed. */
async function resetStreams(session: ClientHttp2Session, path: string, when: When): Promise<void> {
  await Promise.all(
    Array.from({ length: STREAMS }, async () => {
      const stream = session.request({ ':method': 'GET', ':path': path });
      stream.on('error', () => {});
      // The client side reads what it gets, so that its own stream closes (see http2-reset.ts).
      stream.resume();
      const closed = once(stream, 'close');
      if (when === 'after the request headers') stream.close(constants.NGHTTP2_NO_ERROR);
      else stream.once('response', () => stream.close(constants.NGHTTP2_NO_ERROR));
      await closed;
    }),
  );
}

/** `GET path` on the session: status and body (the body read to its end). */
async function h2Text(
  session: ClientHttp2Session,
  path: string,
): Promise<{ status: number; body: string }> {
  const stream = session.request({ ':method': 'GET', ':path': path });
  const [headers] = (await withTimeout(once(stream, 'response'), `response to ${path}`)) as [
    IncomingHttpHeaders,
  ];
  let body = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) body += chunk;
  return { status: Number(headers[':status']), body };
}

/** The hub's `herald_connections` gauge (slots taken), read over the session. */
async function slotsTaken(session: ClientHttp2Session): Promise<number> {
  const { body } = await h2Text(session, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith('herald_connections '));
  assert.ok(line, 'herald_connections is exported');
  return Number(line.split(' ')[1]);
}

/** Waits until the hub holds no slot and no subscription (a leak fails by the safety net). */
async function drained(server: HeraldServer, session: ClientHttp2Session): Promise<void> {
  const deadline = Date.now() + 20_000;
  let taken = await slotsTaken(session);
  while (taken !== 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    taken = await slotsTaken(session);
  }
  assert.equal(taken, 0, 'every slot is back');
  assert.equal(server.hub.stats().subscribers, 0, 'no subscription is left');
}

/** Subscribes once more and receives an event: the per-IP allowance is whole again. */
async function subscribesAgain(server: HeraldServer, session: ClientHttp2Session): Promise<void> {
  const stream = session.request({ ':method': 'GET', ':path': subscribeUrl('', ['/after']) });
  const reader = new StreamReader(stream);
  const [headers] = (await withTimeout(once(stream, 'response'), 'the fresh subscription')) as [
    IncomingHttpHeaders,
  ];
  assert.equal(headers[':status'], 200, 'the address may subscribe again (no 429)');
  await waitFor(() => server.hub.stats().subscribers === 1, 'the fresh subscription');
  const published = await server.hub.publish({ topics: ['/after'], data: 'still served' });
  const [event] = await reader.events.count(1, 'the event after the resets');
  assert.equal(event!.id, published.id);
  stream.close();
}

function hubSuite(name: string, flags: () => string[], client: () => SecureClientSessionOptions) {
  describe(name, () => {
    let server: HeraldServer;
    before(async () => {
      // Exactly STREAMS slots for the address: one leaked slot makes the last check a 429.
      server = await startHub([
        '--anonymous',
        '--max-connections-per-ip',
        String(STREAMS),
        ...flags(),
      ]);
    });
    after(() => server?.close(1000));

    for (const when of ['after the request headers', 'after the response headers'] as const) {
      test(`${STREAMS} streams reset with NO_ERROR ${when}: no subscription, no slot is left`, async () => {
        const session = http2.connect(server.url, client());
        try {
          await withTimeout(once(session, 'connect'), 'the HTTP/2 session');
          await resetStreams(session, subscribeUrl('', ['/reset']), when);
          await drained(server, session);
          await subscribesAgain(server, session);
        } finally {
          session.destroy();
        }
      });
    }
  });
}

hubSuite(
  'the hub over h2c (--h2c)',
  () => ['--h2c'],
  () => ({}),
);

const skipTls = opensslSkipReason();
let cert: SelfSignedCert | undefined;
describe('the hub over TLS', { skip: skipTls }, () => {
  before(async () => {
    cert = await createSelfSignedCert();
  });
  after(() => cert?.cleanup());
  hubSuite(
    'HTTP/2 (ALPN h2)',
    () => ['--tls-cert', join(cert!.dir, 'cert.pem'), '--tls-key', join(cert!.dir, 'key.pem')],
    () => ({ ca: cert!.cert }),
  );
});

describe('createEventStream on a node:http2 server', () => {
  for (const form of ['compat', 'raw'] as const) {
    test(`${form}: ${STREAMS} streams reset with NO_ERROR after the request headers all close`, async () => {
      let opened = 0;
      let closed = 0;
      const server =
        form === 'compat'
          ? http2.createServer((req, res) => {
              // The hub's handlers answer a moment later (after authentication): so does this.
              queueMicrotask(() => {
                opened++;
                createEventStream(req, res, { heartbeatMs: 0, onClose: () => closed++ });
              });
            })
          : http2.createServer();
      if (form === 'raw') {
        server.on('stream', (stream, headers) => {
          queueMicrotask(() => {
            opened++;
            createEventStream(stream, headers, { heartbeatMs: 0, onClose: () => closed++ });
          });
        });
      }
      const sockets = trackSockets(server);
      const port = await listen(server);
      const session = http2.connect(`http://127.0.0.1:${port}`);
      try {
        await once(session, 'connect');
        await resetStreams(session, HUB, 'after the request headers');
        await waitFor(() => opened === STREAMS && closed === STREAMS, 'every onClose', 20_000);
        assert.equal(closed, opened);
      } finally {
        session.destroy();
        sockets.destroyAll();
        server.close();
      }
    });
  }
});
