import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { newPage, pageErrors, screenshot, useExample } from '../helpers/example-app.js';

// examples/iot in Chromium: six simulated sensors fill their charts live; one is "unplugged"
// with its card's button and the server's watchdog marks it offline (then online again); the
// server is SIGKILLed and restarted (its journal gives the new hub the same history and ids)
// and the page resumes with Last-Event-ID. The ids the page received are compared with the
// journal, which holds every event the server published: none missing, none twice.

const example = useExample('iot', {
  IOT_INTERVAL_MS: '200',
  IOT_OFFLINE_AFTER_MS: '800',
  IOT_FLAKY: '0', // outages only when the test asks for one
});

type IotWindow = Window & { iot: { received: string[] } };

const received = (page: Page): Promise<string[]> =>
  page.evaluate(() => (window as unknown as IotWindow).iot.received.slice());

/** Waits until the page has received `n` more events than it has now. */
async function receivesMore(page: Page, n: number): Promise<void> {
  const count = (await received(page)).length;
  await page.waitForFunction(
    (min) => (window as unknown as IotWindow).iot.received.length >= min,
    count + n,
  );
}

/** Every event id the server published, in order (the journal is written before publishing). */
function journaled(): string[] {
  return readFileSync(join(example.dataDir, 'iot-events.jsonl'), 'utf8')
    .split('\n')
    .slice(1) // the header line: {"epoch":…}
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

const card = (id: string): string => `.card[data-device="${id}"]`;

test('live charts, an offline indicator per device, and resume after a crash without losing an event', {
  skip: example.skip,
  // A bound against a hang, not a speed check: a loaded CI machine took 7 s of the former 30.
  timeout: 120_000,
}, async () => {
  const page = await newPage();
  await page.goto(example.app.url);

  // Six cards, each with a value, a chart and an "online" badge.
  await page.waitForFunction(
    () => document.querySelectorAll('.card.online').length === 6,
    undefined,
  );
  const cards = page.locator('.card');
  assert.equal(await cards.count(), 6);
  for (let i = 0; i < 6; i++) {
    assert.match((await cards.nth(i).locator('.value').textContent()) ?? '', /^-?\d+(\.\d+)?$/);
    assert.ok((await cards.nth(i).locator('.chart path.series').count()) >= 1, 'a line is drawn');
  }

  // Live: new readings keep arriving and the "last event" label follows them.
  const before = await page.textContent('#last-event');
  await receivesMore(page, 12);
  assert.notEqual(await page.textContent('#last-event'), before);
  /** The newest id the page has while live: from here on it must miss nothing. */
  const liveFrom = (await received(page)).at(-1)!;

  // Offline: unplug the boiler. It goes silent; the server's watchdog notices and publishes its
  // status; the card turns offline while the others stay online. Then plug it back in.
  await page.click(`${card('boiler')} .power`);
  await page.waitForSelector(`${card('boiler')}.offline`);
  assert.equal(await page.textContent(`${card('boiler')} .badge`), 'offline');
  assert.equal(await page.textContent(`${card('boiler')} .power`), 'Restore power');
  assert.equal(await page.locator('.card.online').count(), 5);
  assert.match((await page.textContent('#summary')) ?? '', /5 online · 1 offline/);
  await screenshot(page, 'iot');
  await page.click(`${card('boiler')} .power`);
  await page.waitForSelector(`${card('boiler')}.online`);

  // Crash: SIGKILL, the page notices, restart on the same port; it resumes with Last-Event-ID.
  await receivesMore(page, 6);
  await example.app.kill();
  const publishedBeforeCrash = journaled();
  await page.waitForSelector('#status.reconnecting');
  assert.equal(await page.isVisible('#banner'), true, 'the page says its data may be stale');
  await example.app.restart();
  await page.waitForSelector('#status.live');
  await receivesMore(page, 30);

  // Every event published after `liveFrom` reached the page once, in order, across the crash.
  const got = await received(page);
  const all = journaled(); // read second: it must hold everything the page got

  const after = got.slice(got.indexOf(liveFrom) + 1);
  const start = all.indexOf(liveFrom) + 1;
  assert.ok(start > 0, 'the journal has the id the page had');
  assert.deepEqual(after, all.slice(start, start + after.length), 'no event lost or repeated');
  assert.ok(
    start + after.length > publishedBeforeCrash.length,
    'the page got events published after the restart',
  );
  assert.equal(await page.locator('.card.online').count(), 6);
  assert.deepEqual(pageErrors(page), []);

  await screenshot(page, 'iot-resumed');
});
