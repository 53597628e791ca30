import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { waitFor } from '../helpers/async.js';
import { newPage, pageErrors, screenshot, useExample } from '../helpers/example-app.js';

// examples/logs in Chromium: the demo log is tailed into the page live; the filter box and the
// level buttons hide what does not match; Pause stops the lines (the file keeps growing) and
// Resume catches up; the server is SIGKILLed and restarted, and the page resumes from the byte
// offset it had (ids are offsets). At the end, the lines on the page must be exactly the bytes
// of the file between the first and the last offset shown: nothing missing, nothing twice.

const example = useExample('logs', { LOG_RATE: '30' });

interface Row {
  from: number;
  to: number;
  text: string;
  hidden: boolean;
  level: string;
}

/** The lines on the page: offsets from their data attributes, text without the offset gutter. */
const rows = (page: Page): Promise<Row[]> =>
  page.$$eval('#log .line', (els) =>
    (els as HTMLElement[]).map((el) => ({
      from: Number(el.dataset.from),
      to: Number(el.dataset.to),
      text: [...el.children]
        .slice(1)
        .map((c) => c.textContent)
        .join(''),
      hidden: el.hidden,
      level: el.classList[1] ?? '',
    })),
  );

/** The byte offset the page has read up to. */
const lastOffset = async (page: Page): Promise<number> => (await rows(page)).at(-1)?.to ?? 0;

/** Waits until the page shows a line ending at or after `offset`. */
const reaches = (page: Page, offset: number): Promise<unknown> =>
  page.waitForFunction(
    (min) =>
      Number(document.querySelector<HTMLElement>('#log .line:last-child')?.dataset.to) >= min,
    offset,
  );

test('the page tails the log live, filters, pauses, and resumes after a crash without losing a line', {
  skip: example.skip,
  // A bound against a hang, not a speed check: a loaded CI machine took 7 s of the former 30.
  timeout: 120_000,
}, async () => {
  /** The demo log the server follows (and writes, with its generator). */
  const logPath = join(example.dataDir, 'app.log');
  const page = await newPage();
  await page.goto(example.app.url);

  // Live: lines arrive after the first visit's replay, too.
  await page.waitForFunction(() => document.querySelectorAll('#log .line').length >= 10);
  await reaches(page, (await lastOffset(page)) + 1);
  assert.equal(await page.textContent('#status'), 'live');

  // Filter: words match case-insensitively; what does not match is hidden, matches are marked.
  await page.waitForFunction(() => {
    const texts = [...document.querySelectorAll('#log .line')].map((el) => el.textContent ?? '');
    return texts.some((t) => t.includes(' INFO ')) && texts.some((t) => !t.includes(' INFO '));
  });
  await page.fill('#filter', 'info');
  let shown = (await rows(page)).filter((r) => !r.hidden);
  assert.ok(shown.length > 0, 'some lines match "info"');
  assert.ok(
    shown.every((r) => /info/i.test(r.text)),
    'every line shown contains "info"',
  );
  assert.ok(
    (await rows(page)).some((r) => r.hidden),
    'lines without "info" are hidden',
  );
  assert.ok((await page.$$('#log .line:not([hidden]) mark')).length > 0, 'matches are highlighted');
  await page.fill('#filter', '');
  assert.ok(
    (await rows(page)).every((r) => !r.hidden),
    'clearing the filter shows every line',
  );

  // A level button hides that level.
  await page.click('.level.info');
  shown = (await rows(page)).filter((r) => !r.hidden);
  assert.ok(shown.length > 0 && shown.every((r) => r.level !== 'info'), 'INFO lines hidden');
  await page.click('.level.info');

  // Pause: the file grows, the page does not; Resume catches up from the paused offset.
  await page.click('#pause');
  assert.equal(await page.textContent('#status'), 'paused');
  const pausedAt = await lastOffset(page);
  await waitFor(() => statSync(logPath).size > pausedAt + 2000, 'the log to grow while paused');
  // Lines already on their way when Pause was clicked may still land; after that, nothing.
  const settled = await lastOffset(page);
  const grownTo = statSync(logPath).size;
  await waitFor(() => statSync(logPath).size > grownTo + 1000, 'the log to grow further');
  assert.equal(await lastOffset(page), settled, 'no line arrives while paused');
  assert.ok(settled < statSync(logPath).size);
  await page.click('#pause');
  await reaches(page, statSync(logPath).size);

  // Crash: SIGKILL the server (the generator dies with it), restart it on the same port. The
  // page reconnects with Last-Event-ID = the byte offset it had read up to.
  await example.app.kill();
  const sizeAtCrash = statSync(logPath).size;
  await page.waitForSelector('#status.reconnecting');
  await example.app.restart();
  await reaches(page, sizeAtCrash + 1); // lines written after the restart
  assert.equal(await page.textContent('#status'), 'live');

  // Every line exactly once: each starts where the previous one ended, and the text is the
  // file's, byte for byte.
  const all = await rows(page);
  for (let i = 1; i < all.length; i++) {
    assert.equal(all[i]!.from, all[i - 1]!.to, `line ${i} starts where line ${i - 1} ends`);
  }
  const file = readFileSync(logPath);
  const expected = file
    .subarray(all[0]!.from, all.at(-1)!.to)
    .toString('utf8')
    .replace(/\n$/, '')
    .split('\n');
  assert.deepEqual(
    all.map((r) => r.text),
    expected,
  );
  assert.ok(all.at(-1)!.to > sizeAtCrash, 'lines from after the restart are shown');
  assert.equal(await page.locator('.marker.gap').count(), 0, 'no gap reported');
  assert.equal(await page.locator('.marker.resume').count(), 1, 'the page says it resumed');
  assert.deepEqual(pageErrors(page), []);

  await screenshot(page, 'logs');
});
