// Chromium's native EventSource against createEventStream: over HTTP/2 with TLS (self-signed
// certificate, compat API) and over plain HTTP/1.1 with a reconnect that resumes after
// Last-Event-ID.
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createEventStream } from '../../src/index.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { closeServer, listen, trackSockets } from '../helpers/net.js';
import { createSelfSignedCert, opensslSkipReason } from '../helpers/tls.js';

/** The page: opens an EventSource on /events and records what it dispatches. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>herald event-stream test</title>
<script>
  window.received = [];
  const source = new EventSource('/events');
  source.onmessage = (e) => received.push(['message', e.data, e.lastEventId]);
  source.addEventListener('named', (e) => received.push(['named', e.data, e.lastEventId]));
</script>`;

type Received = Array<[string, string, string]>;

async function waitForReceived(page: Page, count: number): Promise<Received> {
  await page.waitForFunction(
    (n) => (globalThis as unknown as { received: unknown[] }).received.length >= n,
    count,
    { timeout: 15_000 },
  );
  return page.evaluate(() => (globalThis as unknown as { received: Received }).received);
}

function servePage(res: ServerResponse | Http2ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(PAGE);
}

const skip = chromiumSkipReason() ?? opensslSkipReason();

describe('Chromium EventSource', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser?.close());

  test('over HTTP/2 + TLS: events, named events and lastEventId arrive', async () => {
    const cert = await createSelfSignedCert();
    const versions: string[] = [];
    const server = http2.createSecureServer(
      { key: cert.key, cert: cert.cert, allowHTTP1: true },
      (req: Http2ServerRequest, res: Http2ServerResponse) => {
        if (req.url !== '/events') {
          servePage(res);
          return;
        }
        versions.push(req.httpVersion);
        const stream = createEventStream(req, res, { heartbeatMs: 0 });
        stream.send({ id: '1', data: 'hello' });
        stream.send({ id: '2', event: 'named', data: 'a named event' });
        stream.send({ event: 'named', data: 'no id: the last one persists' });
        stream.send({ id: '3', data: 'multi\nline' });
      },
    );
    const sockets = trackSockets(server);
    let context: BrowserContext | undefined;
    try {
      const port = await listen(server);
      context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const response = await page.goto(`https://127.0.0.1:${port}/`);
      assert.equal(response?.status(), 200);
      const received = await waitForReceived(page, 4);
      assert.deepEqual(received, [
        ['message', 'hello', '1'],
        ['named', 'a named event', '2'],
        ['named', 'no id: the last one persists', '2'],
        ['message', 'multi\nline', '3'],
      ]);
      assert.deepEqual(versions, ['2.0'], 'the event stream was served over HTTP/2');
    } finally {
      await context?.close();
      sockets.destroyAll();
      await closeServer(server);
      await cert.cleanup();
    }
  });

  test('over HTTP/1.1: reconnects after retry and resumes after Last-Event-ID', async () => {
    const requests: Array<{ version: string; header: string | undefined; lastEventId: string }> =
      [];
    const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url !== '/events') {
        servePage(res);
        return;
      }
      const stream = createEventStream(req, res, { retry: 50, heartbeatMs: 0 });
      const header = req.headers['last-event-id'];
      requests.push({
        version: req.httpVersion,
        header: typeof header === 'string' ? header : undefined,
        lastEventId: stream.lastEventId,
      });
      const first = stream.lastEventId === '' ? 1 : Number(stream.lastEventId) + 1;
      for (let id = first; id < first + 3; id++) {
        stream.send({ id: String(id), event: id % 2 === 0 ? 'named' : undefined, data: `#${id}` });
      }
      if (first === 1) stream.close();
    });
    let context: BrowserContext | undefined;
    try {
      const port = await listen(server);
      context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      const received = await waitForReceived(page, 6);
      assert.deepEqual(
        received,
        [1, 2, 3, 4, 5, 6].map((id) => [id % 2 === 0 ? 'named' : 'message', `#${id}`, String(id)]),
      );
      assert.deepEqual(requests, [
        { version: '1.1', header: undefined, lastEventId: '' },
        { version: '1.1', header: '3', lastEventId: '3' },
      ]);
    } finally {
      await context?.close();
      await closeServer(server);
    }
  });
});
