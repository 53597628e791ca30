import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
} from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { HeraldServer } from '../../src/server/app.js';
import { withTimeout } from '../helpers/async.js';
import {
  formOf,
  HUB,
  idsOf,
  publisherToken,
  startHub,
  subscribeUrl,
} from '../helpers/hub-server.js';
import { StreamReader } from '../helpers/sse.js';
import { createSelfSignedCert, opensslSkipReason, type SelfSignedCert } from '../helpers/tls.js';

// `herald serve --tls-cert --tls-key` speaks HTTP/2 with HTTP/1.1 fallback on one port (ALPN),
// and `--h2c` cleartext HTTP/2: real node:http2 and node:https clients subscribe and publish.

const skip = opensslSkipReason();

/** Opens a GET on an HTTP/2 session; resolves with the response headers and a body reader. */
async function h2Get(
  session: ClientHttp2Session,
  path: string,
): Promise<{ stream: ClientHttp2Stream; headers: IncomingHttpHeaders; reader: StreamReader }> {
  const stream = session.request({ ':method': 'GET', ':path': path });
  const reader = new StreamReader(stream);
  const [headers] = (await withTimeout(once(stream, 'response'), `response to ${path}`)) as [
    IncomingHttpHeaders,
  ];
  return { stream, headers, reader };
}

/** POSTs a form publish on an HTTP/2 session; resolves with the status and body. */
async function h2Publish(
  session: ClientHttp2Session,
  token: string,
  fields: Parameters<typeof formOf>[0],
): Promise<{ status: number; body: string }> {
  const stream = session.request({
    ':method': 'POST',
    ':path': HUB,
    authorization: `Bearer ${token}`,
    'content-type': 'application/x-www-form-urlencoded',
  });
  stream.end(formOf(fields).toString());
  const [headers] = (await withTimeout(once(stream, 'response'), 'publish response')) as [
    IncomingHttpHeaders,
  ];
  let body = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) body += chunk;
  return { status: Number(headers[constants.HTTP2_HEADER_STATUS]), body };
}

describe('HTTP/2 over TLS with HTTP/1.1 fallback', { skip }, () => {
  let cert: SelfSignedCert;
  let server: HeraldServer;
  let token: string;
  before(async () => {
    cert = await createSelfSignedCert();
    server = await startHub([
      '--anonymous',
      '--tls-cert',
      join(cert.dir, 'cert.pem'),
      '--tls-key',
      join(cert.dir, 'key.pem'),
    ]);
    token = await publisherToken();
  });
  after(async () => {
    await server?.close(1000);
    await cert?.cleanup();
  });

  test('the URL is https', () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test('an HTTP/2 client subscribes and receives a published event, published over HTTP/2 too', async () => {
    const session = connect(server.url, { ca: cert.cert });
    try {
      await withTimeout(once(session, 'connect'), 'the HTTP/2 session');
      assert.equal((session.socket as TLSSocket).alpnProtocol, 'h2');
      const sub = await h2Get(session, subscribeUrl('', ['/h2/{id}']));
      assert.equal(sub.headers[':status'], 200);
      assert.match(String(sub.headers['content-type']), /^text\/event-stream/);
      // HTTP/2 forbids connection-specific headers.
      assert.equal(sub.headers.connection, undefined);

      const published = await h2Publish(session, token, {
        topic: '/h2/1',
        data: 'over h2',
        type: 'note',
      });
      assert.equal(published.status, 200, published.body);
      const [event] = await sub.reader.events.count(1, 'the event over HTTP/2');
      assert.equal(event!.id, published.body);
      assert.equal(event!.data, 'over h2');
      assert.equal(event!.event, 'note');
      sub.stream.close();
    } finally {
      session.close();
    }
  });

  test('HTTP/1.1 clients (no h2 in ALPN) are served on the same port', async () => {
    const session = connect(server.url, { ca: cert.cert });
    try {
      await withTimeout(once(session, 'connect'), 'the HTTP/2 session');
      const sub = await h2Get(session, subscribeUrl('', ['/mixed']));
      assert.equal(sub.headers[':status'], 200);

      // Publish over HTTP/1.1 with node:https (it offers only http/1.1 in ALPN).
      const { status, body, httpVersion } = await withTimeout(
        new Promise<{ status: number; body: string; httpVersion: string }>((resolve, reject) => {
          const req = httpsRequest(
            `${server.url}${HUB}`,
            {
              method: 'POST',
              ca: cert.cert,
              agent: false,
              headers: {
                authorization: `Bearer ${token}`,
                'content-type': 'application/x-www-form-urlencoded',
              },
            },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                text += chunk;
              });
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, body: text, httpVersion: res.httpVersion }),
              );
            },
          );
          req.on('error', reject);
          req.end(formOf({ topic: '/mixed', data: 'from 1.1' }).toString());
        }),
        'the HTTP/1.1 publish',
      );
      assert.equal(httpVersion, '1.1');
      assert.equal(status, 200, body);
      const events = await sub.reader.events.until((e) => idsOf(e).includes(body), 'the event');
      assert.equal(events.at(-1)!.data, 'from 1.1');

      // And an HTTP/1.1 subscriber gets events too.
      const h1 = await withTimeout(
        new Promise<{ reader: StreamReader; httpVersion: string; destroy(): void }>(
          (resolve, reject) => {
            const req = httpsRequest(
              subscribeUrl(server.url, ['/mixed']),
              { ca: cert.cert, agent: false },
              (res) =>
                resolve({
                  reader: new StreamReader(res),
                  httpVersion: res.httpVersion,
                  destroy: () => req.destroy(),
                }),
            );
            req.on('error', reject);
            req.end();
          },
        ),
        'the HTTP/1.1 subscription',
      );
      assert.equal(h1.httpVersion, '1.1');
      const published = await h2Publish(session, token, { topic: '/mixed', data: 'to both' });
      assert.equal(published.status, 200);
      for (const reader of [sub.reader, h1.reader]) {
        await reader.events.until((e) => idsOf(e).includes(published.body), 'the second event');
      }
      h1.destroy();
      sub.stream.close();
    } finally {
      session.close();
    }
  });

  test('close() ends HTTP/2 streams with a retry hint', async () => {
    const own = await startHub([
      '--anonymous',
      '--tls-cert',
      join(cert.dir, 'cert.pem'),
      '--tls-key',
      join(cert.dir, 'key.pem'),
    ]);
    const session = connect(own.url, { ca: cert.cert });
    try {
      await withTimeout(once(session, 'connect'), 'the HTTP/2 session');
      const sub = await h2Get(session, subscribeUrl('', ['/bye']));
      const goaway = once(session, 'goaway');
      // A grace far beyond the safety timeout: close() must not need it. The client keeps its
      // session open; the hub itself ends it.
      const closed = own.close(60_000);
      await sub.reader.retries.count(1, 'the retry hint');
      await sub.reader.end('the end of the HTTP/2 stream');
      await withTimeout(goaway, 'a GOAWAY from the hub');
      await withTimeout(closed, 'close() to resolve without waiting for the grace period');
      const sessionClosed = session.destroyed ? Promise.resolve([]) : once(session, 'close');
      await withTimeout(sessionClosed, 'the session to close');
    } finally {
      session.destroy();
      await own.close(1000);
    }
  });
});

describe('h2c (--h2c)', () => {
  let server: HeraldServer;
  before(async () => {
    server = await startHub(['--anonymous', '--h2c']);
  });
  after(() => server.close(1000));

  test('a cleartext HTTP/2 client subscribes, publishes and receives', async () => {
    assert.match(server.url, /^http:\/\//);
    const session = connect(server.url);
    try {
      await withTimeout(once(session, 'connect'), 'the h2c session');
      const sub = await h2Get(session, subscribeUrl('', ['/h2c']));
      assert.equal(sub.headers[':status'], 200);
      const published = await h2Publish(session, await publisherToken(), {
        topic: '/h2c',
        data: 'cleartext',
      });
      assert.equal(published.status, 200, published.body);
      const [event] = await sub.reader.events.count(1, 'the h2c event');
      assert.equal(event!.data, 'cleartext');
      assert.equal(event!.id, published.body);

      // Errors are answered over h2c like over HTTP/1.1.
      const bad = await h2Get(session, HUB);
      assert.equal(bad.headers[':status'], 400);
      await bad.reader.end();
      assert.match(bad.reader.text, /missing "topic"/);
      sub.stream.close();
    } finally {
      session.close();
    }
  });
});
