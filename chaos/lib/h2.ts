// HTTP/2 for the attack harness: clients bound to a chosen loopback address (one attacker address,
// counted apart from the bystanders'), and an HTTP/1.1 → h2c relay so that the harness's own
// HTTP/1.1 bystanders (the healthy publisher, subscriber and /healthz prober of `underAttack`)
// can reach a hub that speaks cleartext HTTP/2 only (`--h2c`).
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { type ClientHttp2Session, connect, constants } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** Opens an HTTP/2 session to `url` from `localAddress` (e.g. `127.0.0.2`); resolves connected. */
export async function connectH2(
  url: string,
  localAddress?: string,
  options: { ca?: string } = {},
): Promise<ClientHttp2Session> {
  const session = connect(url, {
    ...(localAddress !== undefined && { localAddress }),
    ...(options.ca !== undefined && { ca: options.ca }),
  });
  session.on('error', () => {});
  await once(session, 'connect');
  return session;
}

/** `GET path` on an HTTP/2 session: the status and the whole body. */
export async function h2Text(
  session: ClientHttp2Session,
  path: string,
  headers: OutgoingHttpHeaders = {},
): Promise<{ status: number; body: string }> {
  const stream = session.request({ ':method': 'GET', ...headers, ':path': path });
  stream.on('error', () => {});
  const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  let body = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) body += chunk;
  return { status: Number(response[constants.HTTP2_HEADER_STATUS]), body };
}

/**
 * Subscribes with `GET path` and reports the answer: the status, and the reason when it is not
 * 200. An event stream that opened is cancelled at once.
 */
export async function h2Subscribe(
  session: ClientHttp2Session,
  path: string,
): Promise<{ status: number; body: string }> {
  const stream = session.request({ ':method': 'GET', ':path': path });
  stream.on('error', () => {});
  const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  const status = Number(response[constants.HTTP2_HEADER_STATUS]);
  let body = '';
  if (status === 200) {
    stream.resume();
    stream.close(constants.NGHTTP2_CANCEL);
  } else {
    stream.setEncoding('utf8');
    for await (const chunk of stream) body += chunk;
  }
  return { status, body };
}

/**
 * Opens a GET and resets it with NO_ERROR right after its request headers, as the issue's
 * attacker did; resolves once the client's side of the stream closed.
 */
export async function h2GetAndReset(session: ClientHttp2Session, path: string): Promise<void> {
  const stream = session.request({ ':method': 'GET', ':path': path });
  stream.on('error', () => {});
  // Read what comes, or the client's own stream waits for its readable side forever.
  stream.resume();
  const closed = once(stream, 'close');
  stream.close(constants.NGHTTP2_NO_ERROR);
  await closed;
}

/** A value of `/metrics` read over HTTP/2 (`undefined` when the sample is absent). */
export async function h2Metric(
  session: ClientHttp2Session,
  name: string,
): Promise<number | undefined> {
  const { body } = await h2Text(session, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Hop-by-hop headers HTTP/2 forbids. */
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** A running relay: `url` speaks HTTP/1.1 and forwards each request over one h2c session. */
export interface H2cRelay {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts an HTTP/1.1 server on 127.0.0.1 that forwards every request to `target` (an h2c hub)
 * over one HTTP/2 session, streaming both ways. Its cost is the same before and during an
 * attack, so the bystanders' ratios stay meaningful.
 */
export async function startH2cRelay(target: string): Promise<H2cRelay> {
  const session = await connectH2(target, '127.0.0.1');
  const server = createServer((req, res) => {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP.has(name) && value !== undefined) headers[name] = value;
    }
    const bodyless = req.method === 'GET' || req.method === 'HEAD';
    let stream: ReturnType<ClientHttp2Session['request']>;
    try {
      stream = session.request(
        { ...headers, ':method': req.method ?? 'GET', ':path': req.url ?? '/' },
        { endStream: bodyless },
      );
    } catch {
      res.writeHead(502).end('the relay lost its HTTP/2 session');
      return;
    }
    stream.on('error', () => res.destroy());
    if (!bodyless) req.pipe(stream);
    stream.on('response', (response) => {
      const out: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(response)) {
        if (!name.startsWith(':')) out[name] = value;
      }
      res.writeHead(Number(response[constants.HTTP2_HEADER_STATUS]), out);
      res.flushHeaders();
      stream.pipe(res);
    });
    // Cancel only a stream whose client left before the end (an event stream): nghttp2 ends a
    // session whose peer resets more than ~33 streams a second (after a burst of 1000), which
    // cancelling every finished request would soon do.
    res.on('close', () => {
      if (!res.writableFinished && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      server.close();
      session.destroy();
      await once(server, 'close');
    },
  };
}
