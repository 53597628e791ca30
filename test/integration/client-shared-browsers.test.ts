// The shared mode of subscribe() (sharedConnection()) in Chromium and Firefox ESR: tabs (pages of
// one browser context) that subscribe to the same URL with the same headers read one server
// connection through the SharedWorker; each tab keeps its own event types and gets every event
// once; a tab closing leaves the others alone, the last one closes the connection (also when no
// tab says goodbye: Web Locks tell the worker); the worker resumes with Last-Event-ID for all
// tabs; a tab back from hidden gets what it missed; different headers never share; a refusal
// ends every tab's subscription; without SharedWorker each tab connects on its own.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createHub, type Hub, type Subscription } from '../../src/index.js';
import { Collector, withTimeout } from '../helpers/async.js';
import {
  browserKinds,
  type TestBrowser,
  type TestContext,
  type TestPage,
} from '../helpers/browsers.js';
import { buildClientFiles } from '../helpers/client-files.js';
import { closeServer, listen } from '../helpers/net.js';

// ?events=a,b: only those types; ?user=…: the x-user header; ?nosw: no SharedWorker;
// ?nopagehide: the tab never says goodbye (as when it crashes); ?hideable: pauseWhenHidden, with
// setVisible(boolean) to switch.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  const params = new URLSearchParams(location.search);
  if (params.has('nosw')) delete window.SharedWorker;
  if (params.has('nopagehide')) {
    const add = window.addEventListener;
    window.addEventListener = function (type, ...rest) {
      if (type !== 'pagehide') return add.call(this, type, ...rest);
    };
  }
  const { subscribe, sharedConnection } = await import('/client.browser.js');
  window.received = [];
  window.opened = 0;
  window.errors = [];
  // A visibility source the test switches (for pauseWhenHidden).
  const listeners = new Set();
  window.visibility = {
    visibilityState: 'visible',
    addEventListener: (type, listener) => listeners.add(listener),
    removeEventListener: (type, listener) => listeners.delete(listener),
  };
  window.setVisible = (visible) => {
    window.visibility.visibilityState = visible ? 'visible' : 'hidden';
    for (const listener of listeners) listener();
  };
  window.sub = subscribe('/events', {
    pauseWhenHidden: params.has('hideable'),
    visibility: window.visibility,
    shared: sharedConnection(),
    json: true,
    // No dedupe: an event the worker delivered twice would show.
    dedupe: false,
    events: params.get('events')?.split(','),
    headers: { 'x-user': params.get('user') ?? 'ann' },
    minDelayMs: 10,
    maxDelayMs: 20,
    onOpen: () => window.opened++,
    onError: (error) => window.errors.push(error.code),
    onEvent: (event) => window.received.push([event.type, event.data.n, event.lastEventId]),
  });
  window.ended = window.sub.closed.then((reason) => reason && {
    code: reason.code,
    status: reason.response?.status,
    why: reason.response?.headers.get('x-reason'),
  });
</script>`;

/** One server connection of the stream. */
interface Connection {
  sub: Subscription;
  user: string | undefined;
  lastEventId: string | undefined;
  closed: Promise<void>;
}

for (const kind of browserKinds()) {
  describe(`subscribe() shared mode (${kind.name})`, { skip: kind.skip }, () => {
    let browser: TestBrowser;
    let hub: Hub;
    let server: http.Server;
    let origin: string;
    let connections = new Collector<Connection>();
    let refusals = 0;

    before(async () => {
      const serveClient = await buildClientFiles();
      hub = createHub({ heartbeatMs: 0 });
      server = http.createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (serveClient(path, res)) return;
        if (path === '/events' && req.headers['x-user'] === 'eve') {
          refusals++;
          res.writeHead(401, { 'x-reason': 'eve may not read' }).end('eve may not read');
        } else if (path === '/events') {
          const user = req.headers['x-user'];
          const lastEventId = req.headers['last-event-id'];
          const closed = new Promise<void>((resolve) => res.on('close', resolve));
          const sub = hub.subscribe(req, res, { topics: ['t'] });
          connections.push({
            sub,
            user: typeof user === 'string' ? user : undefined,
            lastEventId: typeof lastEventId === 'string' ? lastEventId : undefined,
            closed,
          });
        } else {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
        }
      });
      origin = `http://127.0.0.1:${await listen(server)}`;
      browser = await kind.launch();
    });

    after(async () => {
      await browser?.close();
      await hub?.close();
      await closeServer(server);
    });

    /** Opens a tab of `context` per query and waits until each one's stream is open. */
    async function openTabs(context: TestContext, queries: string[]): Promise<TestPage[]> {
      const pages: TestPage[] = [];
      for (const query of queries) {
        const page = await context.newPage();
        await page.goto(`${origin}/${query}`);
        await page.waitFor(() => (globalThis as unknown as { opened: number }).opened > 0);
        pages.push(page);
      }
      return pages;
    }

    const received = (page: TestPage): Promise<[string, number, string][]> =>
      page.evaluate(
        () => (globalThis as unknown as { received: [string, number, string][] }).received,
      );

    const waitFor = (page: TestPage, count: number): Promise<void> =>
      page.waitFor(
        (n: number) => (globalThis as unknown as { received: unknown[] }).received.length >= n,
        count,
      );

    async function publish(type: string, n: number): Promise<string> {
      return (await hub.publish({ topics: 't', type, data: { n } })).id;
    }

    test('three tabs, one connection: each gets its own event types once; closing tabs', async () => {
      connections = new Collector();
      const context = await browser.newContext();
      const [all, onlyA, onlyB] = await openTabs(context, ['', '?events=a', '?events=b']);
      assert.equal(connections.items.length, 1, 'one server connection for three tabs');
      assert.equal(hub.stats().subscribers, 1);

      const ids = [
        await publish('a', 1),
        await publish('b', 2),
        await publish('a', 3),
        await publish('b', 4),
      ];
      await waitFor(all!, 4);
      await waitFor(onlyA!, 2);
      await waitFor(onlyB!, 2);
      // A last event each tab waits for: anything delivered twice would have come before it.
      const end = await publish('a', 5);
      const b6 = await publish('b', 6);
      await waitFor(all!, 6);
      await waitFor(onlyA!, 3);
      await waitFor(onlyB!, 3);
      assert.deepEqual(await received(all!), [
        ['a', 1, ids[0]],
        ['b', 2, ids[1]],
        ['a', 3, ids[2]],
        ['b', 4, ids[3]],
        ['a', 5, end],
        ['b', 6, b6],
      ]);
      assert.deepEqual(await received(onlyA!), [
        ['a', 1, ids[0]],
        ['a', 3, ids[2]],
        ['a', 5, end],
      ]);
      assert.deepEqual(await received(onlyB!), [
        ['b', 2, ids[1]],
        ['b', 4, ids[3]],
        ['b', 6, b6],
      ]);

      // One tab closes: the others keep reading the same connection.
      await all!.close();
      const seven = await publish('a', 7);
      const eight = await publish('b', 8);
      await waitFor(onlyA!, 4);
      await waitFor(onlyB!, 4);
      assert.deepEqual((await received(onlyA!)).at(-1), ['a', 7, seven]);
      assert.deepEqual((await received(onlyB!)).at(-1), ['b', 8, eight]);
      assert.equal(connections.items.length, 1, 'no new connection');
      assert.equal(hub.stats().subscribers, 1);

      // The last tab closes: so does the server connection.
      await onlyA!.close();
      await onlyB!.close();
      await withTimeout(connections.items[0]!.closed, 'the shared connection to close');
      assert.equal(hub.stats().subscribers, 0);
      assert.equal(connections.items.length, 1);
      await context.close();
    });

    // The worker outlives a closed tab while another tab of the origin is open: a tab it still
    // counted would keep the connection open after the last live subscription ends.
    for (const [name, query] of [
      ['a tab that says goodbye (pagehide)', ''],
      ['a tab that closes without goodbye (the Web Lock tells the worker)', '?nopagehide'],
    ] as const) {
      test(`${name}: the connection closes with the last live subscription`, async () => {
        connections = new Collector();
        const context = await browser.newContext();
        const [gone, stays] = await openTabs(context, [query, '']);
        assert.equal(connections.items.length, 1);
        await gone!.close();
        const id = await publish('a', 1);
        await waitFor(stays!, 1);
        assert.deepEqual(await received(stays!), [['a', 1, id]]);
        // The page stays open (and so does the worker); its subscription ends.
        await stays!.evaluate(() =>
          (globalThis as unknown as { sub: { close(): void } }).sub.close(),
        );
        await withTimeout(connections.items[0]!.closed, 'the shared connection to close');
        assert.equal(hub.stats().subscribers, 0);
        await context.close();
      });
    }

    test('the worker resumes with Last-Event-ID: one reconnection, every event once in each tab', async () => {
      connections = new Collector();
      const context = await browser.newContext();
      const pages = await openTabs(context, ['', '']);
      const ids = [await publish('a', 1), await publish('a', 2)];
      for (const page of pages) await waitFor(page, 2);
      // The server drops the stream; an event published meanwhile comes with the replay.
      connections.items[0]!.sub.close();
      ids.push(await publish('a', 3));
      const [, second] = await connections.count(2, 'the reconnection');
      assert.equal(second!.lastEventId, ids[1], 'resumed after the last event');
      await second!.sub.ready;
      ids.push(await publish('a', 4));
      for (const page of pages) {
        await waitFor(page, 4);
        assert.deepEqual(
          await received(page),
          ids.map((id, i) => ['a', i + 1, id]),
        );
      }
      assert.equal(connections.items.length, 2, 'one reconnection for both tabs');
      await context.close();
      await withTimeout(second!.closed, 'the connection to close with the tabs');
    });

    test('pauseWhenHidden: a tab back from hidden gets what it missed from the worker; all hidden pauses the connection', async () => {
      connections = new Collector();
      const context = await browser.newContext();
      const [a, b] = await openTabs(context, ['?hideable', '?hideable']);
      const setVisible = (page: TestPage, visible: boolean): Promise<void> =>
        page.evaluate(
          (v: boolean) => (globalThis as unknown as { setVisible(v: boolean): void }).setVisible(v),
          visible,
        );
      const ids = [await publish('a', 1)];
      for (const page of [a!, b!]) await waitFor(page, 1);
      await setVisible(a!, false);
      ids.push(await publish('a', 2), await publish('a', 3));
      await waitFor(b!, 3);
      await setVisible(a!, true);
      ids.push(await publish('a', 4));
      const expected = (n: number) => ids.slice(0, n).map((id, i) => ['a', i + 1, id]);
      for (const page of [a!, b!]) {
        await waitFor(page, 4);
        assert.deepEqual(await received(page), expected(4));
      }
      assert.equal(connections.items.length, 1, 'the hidden tab came back to the same connection');

      // Both hidden: nobody reads, the connection is closed until a tab is shown again.
      await setVisible(a!, false);
      await setVisible(b!, false);
      await withTimeout(connections.items[0]!.closed, 'the paused connection to close');
      await setVisible(a!, true);
      const [, second] = await connections.count(2, 'the resumed connection');
      assert.equal(second!.lastEventId, ids[3]);
      await second!.sub.ready;
      ids.push(await publish('a', 5));
      await waitFor(a!, 5);
      await setVisible(b!, true);
      for (const page of [a!, b!]) {
        await waitFor(page, 5);
        assert.deepEqual(await received(page), expected(5));
      }
      assert.equal(connections.items.length, 2);
      await context.close();
    });

    test('different headers never share a connection', async () => {
      connections = new Collector();
      const context = await browser.newContext();
      const pages = await openTabs(context, ['?user=ann', '?user=bob', '?user=ann']);
      assert.deepEqual(connections.items.map((c) => c.user).sort(), ['ann', 'bob']);
      const id = await publish('a', 1);
      for (const page of pages) {
        await waitFor(page, 1);
        assert.deepEqual(await received(page), [['a', 1, id]]);
      }
      await context.close();
      await Promise.all(
        connections.items.map((c) => withTimeout(c.closed, 'connections to close')),
      );
    });

    test('a refusal ends the subscription of every tab with the status and headers the server sent', async () => {
      connections = new Collector();
      refusals = 0;
      const context = await browser.newContext();
      const pages = await Promise.all([context.newPage(), context.newPage()]);
      await Promise.all(pages.map((page) => page.goto(`${origin}/?user=eve`)));
      for (const page of pages) {
        // The page's module script runs on after load (it awaits the bundle's import).
        await page.waitFor(() => 'ended' in globalThis);
        const ended = await page.evaluate(
          () => (globalThis as unknown as { ended: unknown }).ended,
        );
        assert.deepEqual(ended, { code: 'BAD_STATUS', status: 401, why: 'eve may not read' });
      }
      // Not retried (401 is not in retryOn): one request per tab at most.
      assert.ok(refusals >= 1 && refusals <= 2, `${refusals} requests`);
      assert.equal(connections.items.length, 0);
      await context.close();
    });

    test('without SharedWorker each tab connects on its own and gets every event', async () => {
      connections = new Collector();
      const context = await browser.newContext();
      const pages = await openTabs(context, ['?nosw', '?nosw']);
      assert.equal(connections.items.length, 2);
      const id = await publish('a', 1);
      for (const page of pages) {
        await waitFor(page, 1);
        assert.deepEqual(await received(page), [['a', 1, id]]);
      }
      await pages[0]!.close();
      await withTimeout(connections.items[0]!.closed, "the first tab's connection to close");
      assert.equal(hub.stats().subscribers, 1);
      await context.close();
      await withTimeout(connections.items[1]!.closed, "the second tab's connection to close");
    });
  });
}
