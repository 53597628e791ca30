import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { HubStats } from '../../src/hub/types.js';
import { createParser, type ParsedEvent } from '../../src/protocol/index.js';
import { type HeraldServer, startServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { loadDashboardPage } from '../../src/server/dashboard/page.js';
import { SelectorCounts } from '../../src/server/dashboard/selector-counts.js';
import {
  DASHBOARD_SELECTOR_CHARS,
  DASHBOARD_TOP_SELECTORS,
  type DashboardSnapshot,
  snapshot,
} from '../../src/server/dashboard/stats.js';
import { withTimeout } from '../helpers/async.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';

// The dashboard `herald serve --dev` shows at `/`: its stats snapshot, its page (token embedded
// safely), its `stats` stream, and the page itself in Chromium — counters filling in, a publish
// through the form arriving in the live tail as text, and the events total rising.

const skip = chromiumSkipReason();
let server: HeraldServer;

before(async () => {
  const { config } = loadConfig({ argv: ['--dev', '--port', '0'], env: {} });
  server = await startServer(config);
});
after(() => server.close());

const STATS: HubStats = {
  subscribers: 0,
  topics: 0,
  templates: 0,
  wildcardSubscribers: 0,
  eventsPerSecond: 0.5,
  eventsTotal: 7,
  eventsDelivered: 21,
  bytesWritten: 2100,
  bytesQueued: 12,
  history: { events: 7, bytes: 700 },
};

function counted(...subscriptions: string[][]): SelectorCounts {
  const counts = new SelectorCounts();
  for (const topics of subscriptions) counts.add(topics);
  return counts;
}

test('snapshot lists selectors by subscriber count and adds the server numbers', () => {
  const counts = counted(
    ['/books/{id}', '/books/1'],
    ['/books/1', '/books/1'], // a repeated selector counts once
    ['/books/1'],
    ['*'],
    ['/gone'],
  );
  counts.remove(['/gone']); // closed: no longer counted
  const result = snapshot(
    { stats: () => STATS },
    counts,
    { connections: 9, uptimeSeconds: 42 },
    { viewers: 2, tick: 5 },
  );
  assert.deepEqual(result, {
    ...STATS,
    connections: 9,
    uptimeSeconds: 42,
    selectors: [
      { selector: '/books/1', subscribers: 3 },
      // Equal counts: in the order they reached the count.
      { selector: '/books/{id}', subscribers: 1 },
      { selector: '*', subscribers: 1 },
    ],
    selectorCount: 3,
    viewers: 2,
    tick: 5,
  });
});

test(`snapshot lists the top ${DASHBOARD_TOP_SELECTORS} selectors and counts them all`, () => {
  const counts = counted(...Array.from({ length: 120 }, (_, i) => [`/t/${i % 80}`, '/all']));
  const result = snapshot({ stats: () => STATS }, counts, { connections: 0, uptimeSeconds: 0 });
  assert.equal(result.selectorCount, 81);
  assert.equal(result.selectors.length, DASHBOARD_TOP_SELECTORS);
  assert.deepEqual(result.selectors[0], { selector: '/all', subscribers: 120 });
  // /t/0 … /t/39 have two subscribers each; the rest one.
  assert.ok(result.selectors.slice(1, 41).every((s) => s.subscribers === 2));
  assert.ok(result.selectors.slice(41).every((s) => s.subscribers === 1));
});

test('snapshot cuts a long selector and says so', () => {
  const long = `/${'x'.repeat(5000)}`;
  const result = snapshot({ stats: () => STATS }, counted([long], [long], ['/short']), {
    connections: 0,
    uptimeSeconds: 0,
  });
  assert.deepEqual(result.selectors, [
    { selector: long.slice(0, DASHBOARD_SELECTOR_CHARS), subscribers: 2, truncated: true },
    { selector: '/short', subscribers: 1 },
  ]);
});

test('the page embeds the publisher token as inert JSON, and asks for one without it', async () => {
  const page = await loadDashboardPage();
  const token = 'a</script><script>alert(1)</script><!--\u2028&';
  const html = page.render({ publisherToken: token, hubPath: '/.well-known/mercure' });
  assert.equal(html.split('<script>').length, 2, 'exactly one script that runs');
  assert.equal(html.split('<script').length, 3, 'and the configuration block');
  assert.equal(html.split('</script>').length, 3, 'exactly two script end tags');
  assert.ok(!html.includes('<!--'));
  assert.ok(!html.includes('rel="stylesheet"'), 'the style is inline');
  const json = /<script type="application\/json" id="dashboard-config">([^<]*)<\/script>/.exec(
    html,
  )?.[1];
  assert.ok(json !== undefined, 'the configuration block');
  assert.deepEqual(JSON.parse(json), {
    hubPath: '/.well-known/mercure',
    statsPath: '/dashboard/stats',
    dev: false,
    publisherToken: token,
    tokenPath: '',
    tokenTtlMs: 0,
  });
  assert.ok(!html.includes('id="publish-token"'), 'no token field in dev mode');

  const plain = page.render({ hubPath: '/.well-known/mercure' });
  assert.ok(plain.includes('id="publish-token"'), 'a token field without a token');
  assert.match(plain, /"publisherToken":""/);
});

test('the page runs only its own script and style: the CSP names their SHA-256', async () => {
  const response = await fetch(`${server.url}/`);
  const html = await response.text();
  const csp = response.headers.get('content-security-policy') ?? '';
  const sha256 = (text: string): string =>
    `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1];
  assert.ok(script !== undefined && style !== undefined);
  assert.equal(
    csp,
    `default-src 'none'; script-src ${sha256(script)}; style-src ${sha256(style)}; ` +
      "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; " +
      "frame-ancestors 'none'",
  );
  assert.doesNotMatch(csp, /unsafe/);
  assert.equal(response.headers.get('x-frame-options'), 'DENY');
  assert.equal(response.headers.get('cache-control'), 'no-store');
});

test('GET /dashboard/stats streams a stats snapshot at once', async () => {
  const controller = new AbortController();
  try {
    const response = await fetch(`${server.url}/dashboard/stats`, { signal: controller.signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const first = await withTimeout(
      new Promise<ParsedEvent>((resolve, reject) => {
        const parser = createParser({ onEvent: resolve });
        const reader = response.body!.getReader();
        const pump = (): Promise<void> =>
          reader.read().then(({ value, done }) => {
            if (done) return reject(new Error('the stats stream ended'));
            parser.feed(value);
            return pump();
          });
        pump().catch(reject);
      }),
      'the first stats event',
    );
    assert.equal(first.type, 'stats');
    const stats = JSON.parse(first.data) as DashboardSnapshot;
    for (const key of ['subscribers', 'topics', 'eventsTotal', 'connections', 'uptimeSeconds']) {
      assert.equal(typeof stats[key as keyof DashboardSnapshot], 'number', key);
    }
    assert.ok(Array.isArray(stats.selectors));
    assert.equal(typeof stats.history.events, 'number');
  } finally {
    controller.abort();
  }
});

test('the dashboard in Chromium: live counters, publish form, live tail', { skip }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // A script or style the CSP blocked is reported on the console, not as a page error.
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) errors.push(message.text());
    });
    await page.goto(`${server.url}/`);
    // The inline style applies (its hash is in the CSP).
    assert.equal(
      await page.evaluate(() => getComputedStyle(document.querySelector('header.top')!).position),
      'sticky',
    );

    // The counters fill in from the hub's own stats stream.
    await page.waitForFunction(
      () =>
        document.getElementById('stats-status')?.dataset.state === 'open' &&
        document.getElementById('uptime')?.textContent !== '–',
    );
    const count = async (id: string): Promise<number> =>
      Number((await page.textContent(`#${id}`))?.replace(/,/g, ''));
    assert.ok(Number.isInteger(await count('connections')));
    assert.ok(Number.isInteger(await count('subscribers')));
    const totalBefore = await count('events-total');
    assert.ok(Number.isInteger(totalBefore), `events total ${totalBefore}`);

    // Follow a template selector; once the tail's stream is open, the hub has the subscription.
    await page.fill('#tail-selector', '/dash/{x}');
    await page.click('#tail-follow');
    await page.waitForFunction(
      () => document.getElementById('tail-status')?.dataset.state === 'open',
    );
    // …and the topic list shows it with its subscriber count, on a later snapshot.
    await page.waitForFunction(
      () =>
        document.querySelector('#topic-list tr[data-selector="/dash/{x}"] td:last-child')
          ?.textContent === '1',
    );

    // Publish through the form; the data is markup that must show as text.
    const data = 'hello <b>x</b>';
    await page.fill('#publish-topics', '/dash/test');
    await page.fill('#publish-type', 'greeting');
    await page.fill('#publish-data', data);
    await page.click('#publish-submit');
    await page.waitForSelector('#publish-id');
    assert.equal(await page.getAttribute('#publish-result', 'data-state'), 'ok');
    const id = (await page.textContent('#publish-id')) ?? '';
    assert.ok(id !== '', 'the hub answered an event id');

    await page.waitForSelector('#tail-list li');
    const event = page.locator('#tail-list li').first();
    assert.equal(await event.locator('.event-data').textContent(), data);
    assert.equal(await event.locator('.event-type').textContent(), 'greeting');
    assert.equal(await event.locator('.event-id').textContent(), `id ${id}`);
    assert.equal(await page.locator('#tail-list b').count(), 0, 'data was not parsed as HTML');

    await page.waitForFunction(
      (before) =>
        Number(document.getElementById('events-total')?.textContent?.replace(/,/g, '')) > before,
      totalBefore,
    );

    // An error from the hub is shown with its status and reason.
    await page.fill('#publish-topics', '/.well-known/mercure/forbidden');
    await page.click('#publish-submit');
    await page.waitForFunction(
      () => document.getElementById('publish-result')?.dataset.state === 'error',
    );
    assert.match((await page.textContent('#publish-result')) ?? '', /^4\d\d /);
    // Put the successful publish back on screen for the screenshot.
    await page.fill('#publish-topics', '/dash/test');
    await page.click('#publish-submit');
    await page.waitForSelector('#publish-id');
    await page.waitForFunction(() => document.querySelectorAll('#tail-list li').length >= 2);
    await page.waitForFunction(
      (before) =>
        Number(document.getElementById('events-total')?.textContent?.replace(/,/g, '')) >=
        before + 2,
      totalBefore,
    );

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
