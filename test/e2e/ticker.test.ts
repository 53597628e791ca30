import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  newPage,
  pageErrors,
  publishedEvents,
  receivedIds,
  screenshot,
  useExample,
  waitForReceived,
  waitForStatus,
} from '../helpers/example-app.js';

// examples/ticker in Chromium: quotes fill the table live; the server is SIGKILLed and
// restarted (its journal gives the new hub the same history and ids) and the page resumes
// with Last-Event-ID; then the page is reloaded and resumes from the id it saved. Every id the
// page received is compared with the ids the server published: none missing, none twice.

const example = useExample('ticker', { TICK_MS: '100' });

type TickerWindow = Window & { __resumedFrom: string };

/** The ids the server has published, in order (every topic: the page subscribes to all). */
const published = async (): Promise<string[]> =>
  (await publishedEvents(example.app)).map((e) => e.id);

/** Asserts that `ids` are exactly the published events from `from` on, in order. */
function assertContiguous(all: string[], ids: string[], from: number, what: string): void {
  assert.ok(from >= 0, `${what}: start id not published`);
  assert.deepEqual(ids, all.slice(from, from + ids.length), `${what}: a gap or a duplicate`);
}

test('ticker: live quotes, then no quote lost across a server crash and a page reload', {
  skip: example.skip,
}, async () => {
  const page = await newPage();
  await page.goto(example.app.url);

  // Live: the table has a row per symbol and quotes keep arriving.
  await waitForReceived(page, 20);
  assert.equal(await page.locator('#quotes tr').count(), 8);
  await waitForStatus(page, 'live');
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#quotes .price')].every((td) =>
      /^\d+\.\d\d$/.test(td.textContent ?? ''),
    ),
  );
  assert.ok(
    (await page.locator('#quotes svg.spark polyline').count()) >= 1,
    'a sparkline is drawn',
  );

  // Crash: SIGKILL, no goodbye. The page notices and keeps retrying.
  const beforeKill = await receivedIds(page);
  await example.app.kill();
  await waitForStatus(page, 'reconnecting');
  await example.app.restart();
  await waitForStatus(page, 'live');
  const afterKill = (await receivedIds(page)).length;
  await waitForReceived(page, afterKill + 15);

  const ids = await receivedIds(page);
  let all = await published();
  assert.equal(new Set(ids).size, ids.length, 'no id twice');
  const checkpoint = ids.indexOf(beforeKill.at(-1)!);
  assertContiguous(all, ids.slice(checkpoint), all.indexOf(ids[checkpoint]!), 'across the restart');
  assert.ok(ids.length > beforeKill.length + 15);

  // Reload: the page saved its last id in sessionStorage and resumes right after it.
  const beforeReload = await receivedIds(page);
  await page.reload();
  await waitForReceived(page, 10);
  const resumedFrom = await page.evaluate(() => (window as unknown as TickerWindow).__resumedFrom);
  const afterReload = await receivedIds(page);
  all = await published();
  const resumedAt = all.indexOf(resumedFrom);
  assert.ok(
    resumedAt >= all.indexOf(beforeReload.at(-1)!),
    'the saved id is at or after the last id seen before the reload',
  );
  assertContiguous(all, afterReload, resumedAt + 1, 'across the reload');

  await waitForStatus(page, 'live');
  assert.deepEqual(pageErrors(page), []);
  const path = await screenshot(page, 'ticker');
  console.log(`screenshot: ${path}`);
  await page.close();
});
