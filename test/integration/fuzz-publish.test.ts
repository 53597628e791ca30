// The publish-API fuzz target of `npm run fuzz`, bounded, plus the regressions it found. A
// failure prints fast-check's seed and path; replay it with
// `npm run fuzz -- --target publish-api --seed <seed>`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runTarget } from '../../fuzz/target.js';
import { publishApiTarget } from '../../fuzz/targets/publish-api.js';
import type { HeraldServer } from '../../src/server/app.js';
import { publisherToken, publishOk, startHub } from '../helpers/hub-server.js';

describe('fuzz: the publish API', () => {
  test(publishApiTarget.summary, async () => {
    const outcome = await runTarget(publishApiTarget, { numRuns: 300 });
    assert.equal(outcome.failure, undefined, outcome.failure);
    assert.equal(outcome.runs, 300);
    // The runs covered acceptance as well as each kind of refusal.
    for (const status of [200, 400, 401, 403, 415]) {
      assert.ok(
        (outcome.stats[`status ${status}`] ?? 0) > 0,
        `no ${status} in ${JSON.stringify(outcome.stats)}`,
      );
    }
    assert.ok((outcome.stats.events ?? 0) > 0);
  });
});

describe('a JSON array is published whole or not at all', () => {
  let hub: HeraldServer;
  let token: string;
  const published: string[] = [];
  before(async () => {
    hub = await startHub([]);
    hub.hub.on('publish', (event) => published.push(event.id));
    token = await publisherToken();
  });
  after(() => hub.close(1000));

  async function postJson(body: unknown): Promise<{ status: number; text: string }> {
    const res = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  }

  test('an id used twice in the array: 409, nothing published', async () => {
    published.length = 0;
    const answer = await postJson([
      { topic: '/a', data: 'first', id: 'twice' },
      { topic: '/a', data: 'second', id: 'twice' },
    ]);
    assert.equal(answer.status, 409, answer.text);
    assert.match(answer.text, /update #1: .*"twice" is earlier in this array/);
    assert.deepEqual(published, []);
  });

  test('an id still in history, after valid updates: 409, nothing published', async () => {
    await publishOk(hub.url, { topic: '/a', data: 'x', id: 'kept' }, token);
    published.length = 0;
    const answer = await postJson([
      { topic: '/a', data: 'fine' },
      { topic: '/a', data: 'clash', id: 'kept' },
    ]);
    assert.equal(answer.status, 409, answer.text);
    assert.match(answer.text, /update #1: .*"kept" is still in history/);
    assert.deepEqual(published, []);
  });

  test('"earliest" as an id, after valid updates: 400, nothing published', async () => {
    published.length = 0;
    const answer = await postJson([
      { topic: '/a', data: 'fine' },
      { topic: '/a', id: 'earliest' },
    ]);
    assert.equal(answer.status, 400, answer.text);
    assert.match(answer.text, /update #1: "earliest" cannot be an event id/);
    assert.deepEqual(published, []);
  });

  test('a valid array is published in order, with its ids', async () => {
    published.length = 0;
    const answer = await postJson([
      { topic: '/a', data: '1', id: 'fresh-1' },
      { topic: '/a', data: '2' },
    ]);
    assert.equal(answer.status, 200, answer.text);
    const { ids } = JSON.parse(answer.text) as { ids: string[] };
    assert.equal(ids[0], 'fresh-1');
    assert.deepEqual(published, ids);
  });
});
