import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type DemoServer, startDemoServer } from '../../src/server/demo.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';

// The page `npm start` serves, in Chromium: its native EventSource connects, the clock ticks,
// quotes fill the table, and after the server closes the stream the page resumes with the
// events it missed (ids keep rising by one).

const skip = chromiumSkipReason();
let demo: DemoServer;

before(async () => {
  demo = await startDemoServer({ host: '127.0.0.1', port: 0, tickMs: 50, quoteMs: 20 });
});
after(() => demo.close());

test('the demo page shows live clock ticks and quotes in Chromium', { skip }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(demo.url);
    await page.waitForFunction(() => Number(document.getElementById('count')?.textContent) >= 20);
    assert.equal(await page.textContent('#status'), 'open');
    assert.match((await page.textContent('#clock')) ?? '', /\d{1,2}:\d{2}:\d{2}/);
    const rows = await page.locator('#quotes tr').count();
    assert.ok(rows >= 1 && rows <= 5, `quote rows: ${rows}`);
    const lastId = Number(await page.textContent('#last-id'));
    assert.ok(lastId >= 20, `last id ${lastId}`);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/demo.png' });
  } finally {
    await browser.close();
  }
});

test('the demo resumes a reconnecting page from Last-Event-ID', { skip }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // Record every id the page's EventSource sees, in order.
    await page.addInitScript(() => {
      const NativeEventSource = window.EventSource;
      const ids: number[] = [];
      Object.assign(window, { seenIds: ids });
      window.EventSource = class extends NativeEventSource {
        constructor(url: string | URL, init?: EventSourceInit) {
          super(url, init);
          for (const type of ['tick', 'quote']) {
            this.addEventListener(type, (e) => ids.push(Number((e as MessageEvent).lastEventId)));
          }
        }
      };
    });
    await page.goto(demo.url);
    const count = () => page.evaluate(() => (window as unknown as { seenIds: number[] }).seenIds);
    await page.waitForFunction(
      () => (window as unknown as { seenIds: number[] }).seenIds.length >= 5,
    );
    // Cut the page's stream from the server side: the browser reconnects with Last-Event-ID.
    await demo.dropStreams();
    const before = (await count()).length;
    await page.waitForFunction(
      (n) => (window as unknown as { seenIds: number[] }).seenIds.length >= n + 20,
      before,
    );
    const ids = await count();
    for (let i = 1; i < ids.length; i++)
      assert.equal(ids[i], ids[i - 1]! + 1, `ids ${ids.join(',')}`);
  } finally {
    await browser.close();
  }
});
