// A refused shared stream explains itself as a direct subscription does, in Chromium and Firefox
// ESR: each tab's error carries the server's reason (`error.reason`, and at the end of `message`).
// The worker reads the refused response and hands its first bytes (at most the 4 KiB a reason is
// read from) to the tabs with the status and headers. Against `herald serve` (a token signed with
// another key, an expired token: a text/plain reason, the page on another origin allowed by --cors-
// origins) and the page's own server (a JSON body, a WWW-Authenticate error_description).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { HeraldServer } from '../../src/server/app.js';
import { withTimeout } from '../helpers/async.js';
import { browserKinds, type TestBrowser, type TestContext } from '../helpers/browsers.js';
import { buildClientFiles } from '../helpers/client-files.js';
import { HUB, makeToken, startHub } from '../helpers/hub-server.js';
import { closeServer, listen } from '../helpers/net.js';

// ?hub=…&token=…: subscribeHub to that hub; ?path=…: subscribe to that path of the page's origin.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  const params = new URLSearchParams(location.search);
  const { subscribe, subscribeHub, sharedConnection } = await import('/client.browser.js');
  const shared = sharedConnection();
  window.sub = params.has('hub')
    ? subscribeHub(params.get('hub'), { shared, topics: ['/a'], token: params.get('token') })
    : subscribe(params.get('path'), { shared, headers: { authorization: 'Bearer t0ken' } });
  window.ended = window.sub.closed.then((reason) => reason && {
    code: reason.code,
    status: reason.response?.status,
    reason: reason.reason,
    message: reason.message,
  });
</script>`;

interface Ended {
  code: string;
  status: number | undefined;
  reason: string | undefined;
  message: string;
}

for (const kind of browserKinds()) {
  describe(`shared mode: a refusal carries the server’s reason to every tab (${kind.name})`, {
    skip: kind.skip,
  }, () => {
    let browser: TestBrowser;
    let page: http.Server;
    let pageBase: string;
    let hub: HeraldServer;
    let hubUrl: string;

    before(async () => {
      const serveClient = await buildClientFiles();
      page = http.createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (serveClient(path, res)) return;
        if (path === '/json-403') {
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'this plan has no live updates' } }));
        } else if (path === '/challenge-401') {
          res.writeHead(401, {
            'www-authenticate':
              'Bearer realm="app", error="invalid_token", error_description="the session ended; sign in again"',
          });
          res.end();
        } else {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
        }
      });
      pageBase = `http://127.0.0.1:${await listen(page)}`;
      hub = await startHub(['--cors-origins', pageBase]);
      hubUrl = `${hub.url}${HUB}`;
      browser = await kind.launch();
    });

    after(async () => {
      await browser?.close();
      await hub?.close();
      await closeServer(page);
    });

    /** Opens two tabs of one context at `query` and resolves with how each one's subscription ended. */
    async function twoTabs(context: TestContext, query: string): Promise<(Ended | undefined)[]> {
      const ended: (Ended | undefined)[] = [];
      for (let i = 0; i < 2; i++) {
        const tab = await context.newPage();
        await tab.goto(`${pageBase}/?${query}`);
        // The page's module script runs on after load (it awaits the bundle's import).
        await tab.waitFor(() => 'ended' in globalThis);
        ended.push(
          await withTimeout(
            tab.evaluate(() => (globalThis as unknown as { ended: Promise<Ended> }).ended),
            'the refusal',
          ),
        );
      }
      return ended;
    }

    const hubQuery = (token: string): string =>
      new URLSearchParams({ hub: hubUrl, token }).toString();

    test('herald serve, a token signed with another key: its reason in each tab’s error', async () => {
      const token = await makeToken({ subscribe: ['*'] }, { secret: 'x'.repeat(48) });
      // What the server says, read without the client.
      const raw = await fetch(`${hubUrl}?topic=/a`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const said = (await raw.text()).trim();
      assert.equal(raw.status, 401);
      assert.ok(said.length > 10, said);
      const context = await browser.newContext();
      for (const ended of await twoTabs(context, hubQuery(token))) {
        assert.deepEqual(ended, {
          code: 'BAD_STATUS',
          status: 401,
          reason: said,
          // The browser bundle's brief message: the server's reason, then where to read more.
          message: `${hubUrl}?topic=%2Fa answered 401: ${said} (see herald docs/client.md#errors)`,
        });
      }
      await context.close();
    });

    test('herald serve, an expired token: "get a fresh token"', async () => {
      const token = await makeToken(
        { subscribe: ['*'] },
        { exp: Math.floor(Date.now() / 1000) - 600 },
      );
      const context = await browser.newContext();
      for (const ended of await twoTabs(context, hubQuery(token))) {
        assert.equal(ended?.code, 'BAD_STATUS');
        assert.equal(ended?.status, 401);
        assert.match(ended?.reason ?? '', /expired.*get a fresh token/);
        assert.match(ended?.message ?? '', /answered 401: .*expired/);
      }
      await context.close();
    });

    test('a 403 with a JSON body: error.message is the reason', async () => {
      const context = await browser.newContext();
      for (const ended of await twoTabs(context, 'path=/json-403')) {
        assert.equal(ended?.status, 403);
        assert.equal(ended?.reason, 'this plan has no live updates');
      }
      await context.close();
    });

    test('a 401 without a body: the WWW-Authenticate error_description is the reason', async () => {
      const context = await browser.newContext();
      for (const ended of await twoTabs(context, 'path=/challenge-401')) {
        assert.equal(ended?.status, 401);
        assert.equal(ended?.reason, 'the session ended; sign in again');
      }
      await context.close();
    });
  });
}
