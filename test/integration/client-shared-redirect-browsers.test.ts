// The shared mode keeps a direct subscription's redirect rule, in Chromium and Firefox ESR: nothing
// a tab gives for one origin (Authorization, an API key) is sent to another. Two real origins — the
// page's (127.0.0.1) and another (localhost, another port, which allows every header by CORS, so
// that anything sent would arrive) — record every request. The worker guards redirects as
// subscribe() does when the request carries the caller's headers: a browser hides where a redirect
// leads, so such a redirect ends every tab's subscription with REDIRECT, on the first request or on
// a reconnection. A stream without such headers follows the redirect, and its reconnections start
// again from the URL given, never from the other origin.
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Collector, withTimeout } from '../helpers/async.js';
import {
  browserKinds,
  type TestBrowser,
  type TestContext,
  type TestPage,
} from '../helpers/browsers.js';
import { buildClientFiles } from '../helpers/client-files.js';
import { closeServer, listen } from '../helpers/net.js';

const SECRET = 'Bearer s3cret';

// ?path=…: the stream's path on the page's origin; ?bare: no headers.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  const params = new URLSearchParams(location.search);
  const { subscribe, sharedConnection } = await import('/client.browser.js');
  window.received = [];
  window.sub = subscribe(params.get('path'), {
    shared: sharedConnection(),
    headers: params.has('bare') ? undefined : { authorization: '${SECRET}', 'x-api-key': 'k3y' },
    minDelayMs: 10,
    maxDelayMs: 20,
    onEvent: (event) => window.received.push([event.data, event.origin]),
  });
  window.ended = window.sub.closed.then((reason) => reason && {
    code: reason.code,
    message: reason.message,
    type: reason.response?.type,
  });
</script>`;

/** A request a server received. */
interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

interface Ended {
  code: string;
  message: string;
  type: string | undefined;
}

for (const kind of browserKinds()) {
  describe(`shared mode, redirect to another origin: the caller’s headers stay home (${kind.name})`, {
    skip: kind.skip,
  }, () => {
    let browser: TestBrowser;
    let home: http.Server;
    let other: http.Server;
    let homeBase: string;
    let otherBase: string;
    const homeSeen = new Collector<Seen>();
    const otherSeen = new Collector<Seen>();
    const homeRoutes = new Map<string, (res: ServerResponse, n: number) => void>();
    let streamed = 0;

    const record = (seen: Collector<Seen>, req: IncomingMessage): string => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      seen.push({ method: req.method ?? '', path, headers: req.headers });
      return path;
    };

    before(async () => {
      const serveClient = await buildClientFiles();
      other = http.createServer((req, res) => {
        const path = record(otherSeen, req);
        // CORS lets every header through, so whatever a tab's worker sent would reach the server.
        const cors = {
          'access-control-allow-origin': homeBase,
          'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '',
        };
        if (req.method === 'OPTIONS') res.writeHead(204, cors).end();
        else if (path.startsWith('/stream')) {
          const n = ++streamed;
          res.writeHead(200, { ...cors, 'content-type': 'text/event-stream' });
          res.end(`retry: 5\nid: ${n}\ndata: other ${n}\n\n`);
        } else res.writeHead(404, cors).end();
      });
      otherBase = `http://localhost:${await listen(other)}`;
      home = http.createServer((req, res) => {
        const path = record(homeSeen, req);
        if (serveClient(path, res)) return;
        const route = homeRoutes.get(path);
        if (route) {
          route(res, homeSeen.items.filter((seen) => seen.path === path).length);
        } else {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
        }
      });
      homeBase = `http://127.0.0.1:${await listen(home)}`;
      browser = await kind.launch();
    });

    after(async () => {
      await browser?.close();
      await closeServer(home);
      await closeServer(other);
    });

    /** Opens a tab per query in one context (one worker) and resolves with the pages. */
    async function openTabs(context: TestContext, queries: string[]): Promise<TestPage[]> {
      const pages: TestPage[] = [];
      for (const query of queries) {
        const page = await context.newPage();
        await page.goto(`${homeBase}/?${query}`);
        pages.push(page);
      }
      return pages;
    }

    const ended = async (page: TestPage): Promise<Ended | undefined> => {
      await page.waitFor(() => 'ended' in globalThis);
      return withTimeout(
        page.evaluate(() => (globalThis as unknown as { ended: Promise<Ended> }).ended),
        'the subscription to end',
      );
    };

    /** Asserts the other origin got no request for `path` with the caller's headers. */
    const assertNothingLeaked = (path: string): void => {
      for (const seen of otherSeen.items.filter((item) => item.path === `/stream${path}`)) {
        assert.equal(seen.headers.authorization, undefined, `Authorization reached ${seen.path}`);
        assert.equal(seen.headers['x-api-key'], undefined, `x-api-key reached ${seen.path}`);
        assert.doesNotMatch(
          String(seen.headers['access-control-request-headers'] ?? ''),
          /authorization|x-api-key/,
          `a preflight for the caller's headers reached ${seen.path}`,
        );
      }
    };

    /** The requests the home origin got for `path`, with their Authorization header. */
    const homeAsked = (path: string): (string | undefined)[] =>
      homeSeen.items.filter((seen) => seen.path === path).map((seen) => seen.headers.authorization);

    for (const status of [301, 302, 303, 307, 308]) {
      test(`${status} on the first request: every tab's subscription ends with REDIRECT`, async () => {
        const path = `/first-${status}`;
        homeRoutes.set(path, (res) =>
          res.writeHead(status, { location: `${otherBase}/stream${path}` }).end(),
        );
        const context = await browser.newContext();
        const pages = await openTabs(context, [`path=${path}`, `path=${path}`]);
        for (const page of pages) {
          const reason = await ended(page);
          assert.equal(reason?.code, 'REDIRECT');
          assert.match(
            reason?.message ?? '',
            // The browser bundle's brief message (herald/client in Node says more).
            /redirected: use the final URL \(see herald docs\/client\.md#errors\)/,
          );
          assert.equal(reason?.type, 'opaqueredirect');
          assert.deepEqual(
            await page.evaluate(() => (globalThis as unknown as { received: unknown[] }).received),
            [],
          );
        }
        // Asked at home, with the headers; not retried.
        const asked = homeAsked(path);
        assert.ok(asked.length >= 1 && asked.length <= 2, `${asked.length} requests`);
        for (const authorization of asked) assert.equal(authorization, SECRET);
        assertNothingLeaked(path);
        await context.close();
      });
    }

    test('a redirect on reconnection: REDIRECT, and the other origin never sees the headers', async () => {
      const path = '/later';
      // The first request is answered here (an event, then the end of the stream); the
      // reconnection is redirected.
      homeRoutes.set(path, (res, n) => {
        if (n === 1) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end('retry: 5\nid: home-1\ndata: home 1\n\n');
        } else res.writeHead(307, { location: `${otherBase}/stream${path}` }).end();
      });
      const context = await browser.newContext();
      const [page] = await openTabs(context, [`path=${path}`]);
      const reason = await ended(page!);
      assert.equal(reason?.code, 'REDIRECT');
      assert.deepEqual(
        await page!.evaluate(() => (globalThis as unknown as { received: unknown[] }).received),
        [['home 1', homeBase]],
      );
      assert.deepEqual(homeAsked(path), [SECRET, SECRET]);
      assertNothingLeaked(path);
      await context.close();
    });

    test('without headers the redirect is followed, and every reconnection starts again from the URL given', async () => {
      const path = '/plain';
      homeRoutes.set(path, (res) =>
        res.writeHead(307, { location: `${otherBase}/stream${path}` }).end(),
      );
      const context = await browser.newContext();
      const pages = await openTabs(context, [`bare&path=${path}`, `bare&path=${path}`]);
      for (const page of pages) {
        // Three events: the first connection and two reconnections.
        await page.waitFor(
          () => (globalThis as unknown as { received: unknown[] }).received.length >= 3,
        );
        const received = await page.evaluate(
          () => (globalThis as unknown as { received: [string, string][] }).received,
        );
        for (const [data, origin] of received) {
          assert.match(data, /^other \d+$/);
          assert.equal(origin, otherBase);
        }
      }
      await context.close();
      const reached = otherSeen.items.filter(
        (seen) => seen.path === `/stream${path}` && seen.method === 'GET',
      );
      assert.ok(reached.length >= 3);
      // Each connection to the other origin was redirected to it from home: never straight there.
      assert.ok(
        homeAsked(path).length >= reached.length,
        `${homeAsked(path).length} asked at home, ${reached.length} reached`,
      );
      assertNothingLeaked(path);
    });
  });
}
