// The shared mode of subscribe() (sharedConnection()) in Firefox ESR, driven over WebDriver
// BiDi: three tabs of one origin read one server connection through the SharedWorker and each
// gets every event once; the server's stream closes when the tabs are closed, and with the last
// live subscription after a tab that closed without goodbye (the Web Lock the worker waits on);
// the worker resumes a dropped stream with Last-Event-ID for every tab.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { createHub, type Hub, type Subscription } from '../../src/index.js';
import { Collector, withTimeout } from '../helpers/async.js';
import { buildClientFiles } from '../helpers/client-files.js';
import { firefoxSkipReason, launchFirefox } from '../helpers/firefox.js';
import { closeServer, listen } from '../helpers/net.js';

// ?nopagehide: the tab never says goodbye (as when it crashes).
const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  if (new URLSearchParams(location.search).has('nopagehide')) {
    const add = window.addEventListener;
    window.addEventListener = function (type, ...rest) {
      if (type !== 'pagehide') return add.call(this, type, ...rest);
    };
  }
  const { subscribe, sharedConnection } = await import('/client.browser.js');
  window.received = [];
  window.opened = 0;
  window.sub = subscribe('/events', {
    shared: sharedConnection(),
    json: true,
    // No dedupe: an event the worker delivered twice would show.
    dedupe: false,
    headers: { 'x-user': 'ann' },
    minDelayMs: 10,
    maxDelayMs: 20,
    onOpen: () => window.opened++,
    onEvent: (event) => window.received.push([event.data.n, event.lastEventId]),
  });
</script>`;

/** One server connection of the stream. */
interface Connection {
  sub: Subscription;
  lastEventId: string | undefined;
  closed: Promise<void>;
}

interface PageState {
  received: [number, string][];
  opened: number;
}

const skip = firefoxSkipReason();

describe('subscribe() shared mode in Firefox ESR', { skip }, () => {
  let browser: Browser;
  let hub: Hub;
  let server: http.Server;
  let origin: string;
  let connections = new Collector<Connection>();

  before(async () => {
    const serveClient = await buildClientFiles();
    hub = createHub({ heartbeatMs: 0 });
    server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (serveClient(path, res)) return;
      if (path === '/events') {
        assert.equal(req.headers['x-user'], 'ann');
        const lastEventId = req.headers['last-event-id'];
        const closed = new Promise<void>((resolve) => res.on('close', resolve));
        connections.push({
          sub: hub.subscribe(req, res, { topics: ['t'] }),
          lastEventId: typeof lastEventId === 'string' ? lastEventId : undefined,
          closed,
        });
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      }
    });
    origin = `http://127.0.0.1:${await listen(server)}`;
    browser = await launchFirefox();
  });

  after(async () => {
    await browser?.close();
    await hub?.close();
    await closeServer(server);
  });

  /** Opens a tab of `context` per query and waits until each one's stream is open. */
  async function openTabs(context: BrowserContext, queries: string[]): Promise<Page[]> {
    const pages: Page[] = [];
    for (const query of queries) {
      const page = await context.newPage();
      await page.goto(`${origin}/${query}`);
      await page.waitForFunction(() => (globalThis as unknown as PageState).opened > 0);
      pages.push(page);
    }
    return pages;
  }

  const received = (page: Page): Promise<[number, string][]> =>
    page.evaluate(() => (globalThis as unknown as PageState).received);

  const waitFor = (page: Page, count: number): Promise<unknown> =>
    page.waitForFunction(
      (n: number) => (globalThis as unknown as PageState).received.length >= n,
      {},
      count,
    );

  const publish = async (n: number): Promise<string> =>
    (await hub.publish({ topics: 't', data: { n } })).id;

  test('three tabs, one connection, every event once in each; closing the tabs closes the stream', async () => {
    connections = new Collector();
    const context = await browser.createBrowserContext();
    const pages = await openTabs(context, ['', '', '']);
    assert.equal(connections.items.length, 1, 'one server connection for three tabs');
    assert.equal(hub.stats().subscribers, 1);
    const ids = [await publish(1), await publish(2), await publish(3)];
    for (const page of pages) await waitFor(page, 3);
    // A last event each tab waits for: anything delivered twice would have come before it.
    ids.push(await publish(4));
    for (const page of pages) {
      await waitFor(page, 4);
      assert.deepEqual(
        await received(page),
        ids.map((id, i) => [i + 1, id]),
      );
    }
    // Two tabs close: the last one keeps reading the same connection.
    await pages[0]!.close();
    await pages[1]!.close();
    ids.push(await publish(5));
    await waitFor(pages[2]!, 5);
    assert.deepEqual((await received(pages[2]!)).at(-1), [5, ids[4]]);
    assert.equal(connections.items.length, 1, 'no new connection');
    await pages[2]!.close();
    await withTimeout(connections.items[0]!.closed, 'the shared connection to close');
    assert.equal(hub.stats().subscribers, 0);
    assert.equal(connections.items.length, 1);
    await context.close();
  });

  // The worker outlives a closed tab while another tab of the origin is open (closing every
  // tab ends the worker itself, and its connection with it): a tab it still counted would keep
  // the stream open after the last live subscription ends.
  test('a tab that closes without goodbye: its Web Lock tells the worker', async () => {
    connections = new Collector();
    const context = await browser.createBrowserContext();
    const [gone, stays] = await openTabs(context, ['?nopagehide', '']);
    assert.equal(connections.items.length, 1);
    await gone!.close();
    const id = await publish(1);
    await waitFor(stays!, 1);
    assert.deepEqual(await received(stays!), [[1, id]]);
    // The page stays open (and so does the worker); its subscription ends.
    await stays!.evaluate(() => (globalThis as unknown as { sub: { close(): void } }).sub.close());
    await withTimeout(connections.items[0]!.closed, 'the shared connection to close');
    assert.equal(hub.stats().subscribers, 0);
    await context.close();
  });

  test('the worker resumes with Last-Event-ID: one reconnection, every event once in each tab', async () => {
    connections = new Collector();
    const context = await browser.createBrowserContext();
    const pages = await openTabs(context, ['', '']);
    const ids = [await publish(1), await publish(2)];
    for (const page of pages) await waitFor(page, 2);
    // The server drops the stream; an event published meanwhile comes with the replay.
    connections.items[0]!.sub.close();
    ids.push(await publish(3));
    const [, second] = await connections.count(2, 'the reconnection');
    assert.equal(second!.lastEventId, ids[1], 'resumed after the last event');
    await second!.sub.ready;
    ids.push(await publish(4));
    for (const page of pages) {
      await waitFor(page, 4);
      assert.deepEqual(
        await received(page),
        ids.map((id, i) => [i + 1, id]),
      );
    }
    assert.equal(connections.items.length, 2, 'one reconnection for both tabs');
    await context.close();
    await withTimeout(second!.closed, 'the connection to close with the tabs');
  });
});
