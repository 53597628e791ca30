// The subscribe-API fuzz target of `npm run fuzz`, bounded: raw requests with random selectors,
// Last-Event-IDs, tokens and header-injection attempts. Replay a failure with
// `npm run fuzz -- --target subscribe-api --seed <seed>`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runTarget } from '../../fuzz/target.js';
import { subscribeApiTarget } from '../../fuzz/targets/subscribe-api.js';

describe('fuzz: the subscribe API', () => {
  test(subscribeApiTarget.summary, async () => {
    const outcome = await runTarget(subscribeApiTarget, { numRuns: 120 });
    assert.equal(outcome.failure, undefined, outcome.failure);
    assert.equal(outcome.runs, 120);
    for (const status of [200, 400]) {
      assert.ok((outcome.stats[`status ${status}`] ?? 0) > 0, JSON.stringify(outcome.stats));
    }
    assert.ok((outcome.stats.streams ?? 0) > 0, 'some streams were read');
  });
});
