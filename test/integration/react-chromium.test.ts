// useSubscription (herald/react) in Chromium, on a page built with Vite at test time (React's
// development build, in StrictMode), against Herald's hub: the server counts connections and
// sees each one's Last-Event-ID, topics and headers.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { createHub, type Hub, type Subscription } from '../../src/index.js';
import { Collector, deferred } from '../helpers/async.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { closeServer, listen } from '../helpers/net.js';
import type { ReactPage } from '../helpers/react-page/main.jsx';

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'react-page');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
};

/** One server-side connection of the page. */
interface Connection {
  sub: Subscription;
  topics: string[];
  lastEventId: string | undefined;
  render: string | undefined;
  socket: import('node:net').Socket;
  closed: Promise<void>;
}

const skip = chromiumSkipReason();

describe('useSubscription in Chromium (React StrictMode, Vite build)', { skip }, () => {
  let browser: Browser;
  let hub: Hub;
  let server: http.Server;
  let origin: string;
  let outDir: string;
  const connections = new Collector<Connection>();

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'herald-react-'));
    await build({
      configFile: false,
      root: PAGE_DIR,
      logLevel: 'silent',
      mode: 'development',
      // React's development build: StrictMode's double mount happens only there.
      define: { 'process.env.NODE_ENV': JSON.stringify('development') },
      build: { outDir, emptyOutDir: true, minify: false },
    });
    hub = createHub({ heartbeatMs: 0 });
    server = http.createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/events') {
        const header = (name: string): string | undefined => {
          const value = req.headers[name];
          return typeof value === 'string' ? value : undefined;
        };
        const closed = deferred();
        const topics = url.searchParams.getAll('topic');
        const sub = hub.subscribe(req, res, { topics, onClose: () => closed.resolve() });
        connections.push({
          sub,
          topics,
          lastEventId: header('last-event-id'),
          render: header('x-render'),
          socket: req.socket,
          closed: closed.promise,
        });
        return;
      }
      const file = normalize(url.pathname === '/' ? '/index.html' : url.pathname);
      try {
        const body = await readFile(join(outDir, file));
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    origin = `http://127.0.0.1:${await listen(server)}`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await hub?.close();
    await closeServer(server);
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  /** The page's window.page. */
  const read = <K extends keyof ReactPage>(page: Page, key: K): Promise<ReactPage[K]> =>
    page.evaluate((name) => window.page[name], key) as Promise<ReactPage[K]>;
  /** Calls one of the page's controls. */
  const call = (page: Page, name: 'bump' | 'unmount'): Promise<void> =>
    page.evaluate((control) => window.page[control](), name);
  /** Asserts that the component renders `expected` (waiting for as many items). */
  const rendered = async (page: Page, expected: string[]): Promise<void> => {
    await page
      .waitForFunction((n) => document.querySelectorAll('#feed li').length >= n, expected.length, {
        timeout: 10_000,
      })
      .catch(() => {});
    const items = await page.$$eval('#feed li', (list) => list.map((li) => li.textContent ?? ''));
    assert.deepEqual(items, expected);
  };
  const publish = async (topic: string, n: number): Promise<string> =>
    (await hub.publish({ topics: topic, type: 'tick', data: { n } })).id;

  test('one connection, every event once; re-renders keep it; drops, <Activity> and topic changes resume; unmount closes', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${origin}/`);

    // Mount: StrictMode ran the effects twice, the hook opened one connection.
    const [first] = await connections.count(1, 'the page to subscribe');
    await first!.sub.ready;
    await page.waitForSelector('#feed[data-status="open"]', { state: 'attached' });
    assert.equal(await read(page, 'mounts'), 2, "StrictMode's double mount ran");
    assert.equal((await read(page, 'fetches')).length, 1, 'one fetch');
    assert.equal(connections.items.length, 1, 'one server connection');
    assert.equal(hub.stats().subscribers, 1);
    assert.deepEqual(first!.topics, ['a']);
    assert.equal(first!.lastEventId, undefined);

    // Events render in order, each once.
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push(await publish('a', n));
    await rendered(page, ['1', '2', '3']);

    // Re-renders with unrelated state and new inline options keep the connection.
    await call(page, 'bump');
    await call(page, 'bump');
    await page.waitForSelector('#feed[data-renders="2"]', { state: 'attached' });
    ids.push(await publish('a', 4));
    await rendered(page, ['1', '2', '3', '4']);
    assert.equal(connections.items.length, 1, 'no reconnection on re-render');
    assert.equal(first!.sub.closed, false);
    assert.equal((await read(page, 'fetches')).length, 1);

    // A dropped connection resumes after the last event, with the latest headers; what was
    // published meanwhile comes once.
    first!.socket.destroy();
    ids.push(await publish('a', 5));
    ids.push(await publish('a', 6));
    const [, second] = await connections.count(2, 'the reconnection');
    await second!.sub.ready;
    assert.equal(second!.lastEventId, ids[3], 'Last-Event-ID: the last event before the drop');
    assert.equal(second!.render, '2', "the latest render's headers");
    ids.push(await publish('a', 7));
    await rendered(page, ['1', '2', '3', '4', '5', '6', '7']);

    // Hidden in an <Activity>, its effects cleaned up: the stream closes. Shown again, the
    // same stream resumes after the last event, and what was missed comes once.
    await page.evaluate(() => window.page.setHidden(true));
    await second!.closed;
    ids.push(await publish('a', 8));
    await page.evaluate(() => window.page.setHidden(false));
    const [, , third] = await connections.count(3, 'the connection after showing');
    await third!.sub.ready;
    assert.equal(third!.lastEventId, ids[6], 'Last-Event-ID: the last event before hiding');
    ids.push(await publish('a', 9));
    await rendered(page, ['1', '2', '3', '4', '5', '6', '7', '8', '9']);

    // Another topic: a new stream, afresh (no Last-Event-ID, empty state).
    await page.evaluate(() => window.page.setTopic('b'));
    const [, , , fourth] = await connections.count(4, 'the topic change');
    await third!.closed;
    await fourth!.sub.ready;
    assert.deepEqual(fourth!.topics, ['b']);
    assert.equal(fourth!.lastEventId, undefined, 'a new stream starts afresh');
    await publish('a', 0); // not subscribed any more
    ids.push(await publish('b', 10));
    await rendered(page, ['10']);

    // `resume` is no part of the stream: setting it does not reconnect.
    await page.evaluate(() => window.page.setResume(true));
    await page.waitForSelector('#feed[data-resume="true"]', { state: 'attached' });
    ids.push(await publish('b', 11));
    await rendered(page, ['10', '11']);
    assert.equal(connections.items.length, 4);

    // With `resume`, the next topic resumes after the last event: what it published since
    // comes as a replay, and the state is kept.
    ids.push(await publish('c', 12));
    await page.evaluate(() => window.page.setTopic('c'));
    const [, , , , fifth] = await connections.count(5, 'the resumed topic change');
    await fourth!.closed;
    assert.deepEqual(fifth!.topics, ['c']);
    assert.equal(fifth!.lastEventId, ids[10], 'resumed after the last event of b');
    await rendered(page, ['10', '11', '12']);
    await page.waitForSelector('#feed[data-status="open"]', { state: 'attached' });

    // onEvent saw each event once, in order, with its id.
    assert.deepEqual(
      await read(page, 'delivered'),
      ids.map((id, i) => `${i + 1}@${id}`),
    );

    // Unmount closes the server's connection.
    await call(page, 'unmount');
    await fifth!.closed;
    assert.equal(hub.stats().subscribers, 0);
    assert.equal(connections.items.length, 5);
    assert.equal((await read(page, 'fetches')).length, 5, 'one fetch per connection');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
