// subscribe() from the browser bundle in a Chromium page, against Herald's hub: a custom header,
// typed JSON, async iteration, and a reconnection that replays everything (dedupe). The page
// opts in to pauseWhenHidden and is visible, so it reads document.visibilityState and stays on.
// A redirect of a request with a header to protect fails (REDIRECT) without being followed. A
// refusal's reason reaches `error.reason` and the bundle's brief message.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { buildClientBundle } from '../../scripts/build-client-bundle.mjs';
import { createHub, type Hub, type Subscription } from '../../src/index.js';
import { Collector } from '../helpers/async.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { closeServer, listen } from '../helpers/net.js';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  import { subscribe } from '/client.browser.js';
  window.received = [];
  window.done = (async () => {
    const sub = subscribe('/events', {
      json: true,
      minDelayMs: 10,
      maxDelayMs: 20,
      headers: { 'x-client': 'page' },
      pauseWhenHidden: true,
    });
    window.state = () => ({ readyState: sub.readyState, lastEventId: sub.lastEventId });
    for await (const event of sub) {
      window.received.push([event.type, event.data.n, event.lastEventId]);
      if (window.received.length === 4) break;
    }
    return sub.readyState;
  })();
</script>`;

const skip = chromiumSkipReason();

describe('subscribe() in Chromium (browser bundle)', { skip }, () => {
  let browser: Browser;
  let hub: Hub;
  let server: http.Server;
  let origin: string;
  const moved: string[] = [];
  const subscriptions = new Collector<{
    sub: Subscription;
    header: string | undefined;
    lei: string | undefined;
  }>();

  before(async () => {
    const bundle = await buildClientBundle();
    hub = createHub({ heartbeatMs: 0 });
    server = http.createServer((req, res) => {
      if (req.url === '/client.browser.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle.code);
      } else if (req.url === '/moved' || req.url === '/elsewhere') {
        moved.push(`${req.url} ${req.headers['x-client'] ?? ''}`);
        res.writeHead(302, { location: '/elsewhere' }).end();
      } else if (req.url === '/refused') {
        res.writeHead(401, { 'content-type': 'text/plain' }).end('the token expired; log in again');
      } else if (req.url === '/events') {
        const second = subscriptions.items.length > 0;
        const header = req.headers['x-client'];
        const lei = req.headers['last-event-id'];
        // The second connection replays all history: dedupe must hide the repeats.
        const sub = hub.subscribe(req, res, {
          topics: ['t'],
          lastEventId: second ? 'earliest' : undefined,
        });
        subscriptions.push({
          sub,
          header: typeof header === 'string' ? header : undefined,
          lei: typeof lei === 'string' ? lei : undefined,
        });
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      }
    });
    origin = `http://127.0.0.1:${await listen(server)}`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await hub?.close();
    await closeServer(server);
  });

  test('typed JSON events, a header, dedupe across a reconnection, the iterator ends on break', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const first = await subscriptions.count(1, 'the page to subscribe');
    await first[0]!.sub.ready;
    const ids: string[] = [];
    for (const n of [1, 2, 3])
      ids.push((await hub.publish({ topics: 't', type: 'tick', data: { n } })).id);
    await page.waitForFunction(
      () => (globalThis as unknown as { received: unknown[] }).received.length === 3,
    );
    first[0]!.sub.close();
    const both = await subscriptions.count(2, 'the reconnection');
    await both[1]!.sub.ready;
    await hub.publish({ topics: 't', type: 'tick', data: { n: 4 } }).then(({ id }) => ids.push(id));
    const readyState = await page.evaluate(
      () => (globalThis as unknown as { done: Promise<number> }).done,
    );
    const received = await page.evaluate(
      () => (globalThis as unknown as { received: unknown[] }).received,
    );
    assert.deepEqual(
      received,
      [1, 2, 3, 4].map((n, i) => ['tick', n, ids[i]]),
    );
    assert.equal(readyState, 2, 'break closed the subscription');
    assert.deepEqual(
      subscriptions.items.map(({ header, lei }) => [header, lei]),
      [
        ['page', undefined],
        ['page', ids[2]],
      ],
    );
    await page.close();
  });

  test('a redirect of a request with a header fails with REDIRECT, not followed', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const outcome = await page.evaluate(async () => {
      const { subscribe } = await import(`${location.origin}/client.browser.js`);
      const sub = subscribe('/moved', { headers: { 'x-client': 'redirected' } });
      const reason = await sub.closed;
      return { code: reason?.code, message: reason?.message, readyState: sub.readyState };
    });
    assert.equal(outcome.code, 'REDIRECT');
    assert.match(outcome.message ?? '', /\/moved redirected.*use the final URL/);
    assert.equal(outcome.readyState, 2);
    assert.deepEqual(moved, ['/moved redirected'], 'the redirect was not followed');
    await page.close();
  });

  test("a refusal's reason reaches error.reason and the brief message", async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const outcome = await page.evaluate(async () => {
      const { subscribe } = await import(`${location.origin}/client.browser.js`);
      const sub = subscribe('/refused');
      const reason = await sub.closed;
      return { code: reason?.code, message: reason?.message, reason: reason?.reason };
    });
    assert.equal(outcome.code, 'BAD_STATUS');
    assert.equal(outcome.reason, 'the token expired; log in again');
    assert.equal(
      outcome.message,
      `${origin}/refused answered 401: the token expired; log in again (see herald docs/client.md#errors)`,
    );
    await page.close();
  });
});
