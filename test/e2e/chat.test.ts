import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  newPage,
  pageErrors,
  publishedEvents,
  receivedIds,
  screenshot,
  useExample,
  waitForStatus,
} from '../helpers/example-app.js';

// examples/chat in Chromium, two people (alice and bob) in parallel pages: history on join,
// live room messages, a private direct message that only its two people receive (a third
// pair's DM never reaches either page), then the server is SIGKILLed and restarted and both
// pages resume with Last-Event-ID. Each page's received ids must be exactly the ids the server
// published that its user may see: none missing, none extra, none twice, in order.

const example = useExample('chat');

interface Published {
  id: string;
  topics: string[];
  private: boolean;
}

async function signIn(page: Page, name: string): Promise<void> {
  await page.goto(example.app.url);
  await page.fill('#name', name);
  await page.click('#login-form button');
  await waitForStatus(page, 'live');
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await seen(page, text);
}

const seen = (page: Page, text: string): Promise<unknown> =>
  page.waitForFunction(
    (t) => [...document.querySelectorAll('#messages li .text')].some((e) => e.textContent === t),
    text,
  );

/** Signs `name` in over the API (no page) and returns a function that posts as them. */
async function apiUser(name: string): Promise<(body: object) => Promise<string>> {
  const login = await fetch(`${example.app.url}/api/login`, {
    method: 'POST',
    body: JSON.stringify({ name }),
  });
  const { token } = (await login.json()) as { token: string };
  return async (body) => {
    const response = await fetch(`${example.app.url}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200, await response.clone().text());
    return ((await response.json()) as { id: string }).id;
  };
}

/** The published ids `user` may receive: public ones, and private ones to their inbox. */
async function visibleTo(user: string): Promise<string[]> {
  const all = await publishedEvents<Published>(example.app);
  return all
    .filter((e) => !e.private || e.topics.includes(`/chat/users/${user}/inbox`))
    .map((e) => e.id);
}

test('chat: history on join, rooms, private DMs, and nothing lost across a server crash', {
  skip: example.skip,
}, async () => {
  const [alice, bob] = await Promise.all([newPage(), newPage()]);
  const carol = await apiUser('carol');
  const dave = await apiUser('dave');
  await carol({ room: 'general', text: 'Welcome to Herald chat! Open a second window to try it.' });

  await signIn(alice, 'alice');
  await say(alice, 'Hi everyone, alice here.');
  // bob joins later: the room's history comes with the subscription (replayLast).
  await signIn(bob, 'bob');
  await seen(bob, 'Hi everyone, alice here.');
  await seen(bob, 'Welcome to Herald chat! Open a second window to try it.');

  // Live, both ways.
  await say(bob, 'Hey alice! Messages arrive over SSE, sent with a POST.');
  await seen(alice, 'Hey alice! Messages arrive over SSE, sent with a POST.');

  // A private message: alice opens bob in "Direct messages" and writes.
  await alice.click('#people li[data-key="dm:bob"]');
  await say(alice, 'psst, this one is private');
  await bob.waitForSelector('#people li[data-key="dm:alice"] .count');
  await alice.click('#rooms li[data-key="room:general"]');
  // Someone else's DM: neither page may receive it.
  const secret = await dave({ to: 'carol', text: 'for carol only' });

  // Crash the server, publish right after the restart (before the pages are back), and check
  // that both pages catch up.
  const before = await receivedIds(bob);
  await example.app.kill();
  await Promise.all([waitForStatus(alice, 'reconnecting'), waitForStatus(bob, 'reconnecting')]);
  await example.app.restart();
  await carol({ room: 'general', text: 'Did the server just restart? Nothing was lost.' });
  await Promise.all([waitForStatus(alice, 'live'), waitForStatus(bob, 'live')]);
  await seen(alice, 'Did the server just restart? Nothing was lost.');
  await say(bob, 'Back online, and the page never reloaded.');
  await seen(alice, 'Back online, and the page never reloaded.');
  await bob.click('#people li[data-key="dm:alice"]');
  await seen(bob, 'psst, this one is private');

  for (const [name, page] of [
    ['alice', alice],
    ['bob', bob],
  ] as const) {
    const ids = await receivedIds(page);
    assert.ok(!ids.includes(secret), `${name} received someone else's DM`);
    assert.deepEqual(ids, await visibleTo(name), `${name}: ids differ from what was published`);
    assert.deepEqual(pageErrors(page), []);
  }
  assert.ok((await receivedIds(bob)).length > before.length);

  const path = await screenshot(alice, 'chat');
  console.log(`screenshot: ${path}`);
  await Promise.all([alice.close(), bob.close()]);
});
