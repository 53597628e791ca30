// Security review: private updates never reach unauthorised subscribers. The private-updates
// fuzz target of `npm run fuzz`, bounded: random selectors × random `mercure.subscribe` claims
// (and anonymous subscribers, and tokens without the claim) × random public and private updates
// to several topics, compared — live and on replay — with a model of Mercure's rule whose
// template matches are written out by hand. Replay a failure with
// `npm run fuzz -- --target private-updates --seed <seed>`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runTarget } from '../../fuzz/target.js';
import { MATCHES, privateUpdatesTarget, UNIVERSE } from '../../fuzz/targets/private-updates.js';
import { matchesAny } from '../../src/hub/index.js';

describe('private updates reach exactly the authorised subscribers', () => {
  test('the hand-written match table agrees with RFC 6570 as Herald implements it', () => {
    // If this fails, either the table or the matcher is wrong: decide which before trusting
    // the property below.
    for (const [selector, topics] of Object.entries(MATCHES)) {
      assert.deepEqual(
        UNIVERSE.filter((topic) => matchesAny([selector], [topic])),
        [...topics],
        selector,
      );
    }
  });

  test(privateUpdatesTarget.summary, async () => {
    const outcome = await runTarget(privateUpdatesTarget, { numRuns: 80 });
    assert.equal(outcome.failure, undefined, outcome.failure);
    assert.equal(outcome.runs, 80);
    assert.ok((outcome.stats.privateChecks ?? 0) > 0, 'private updates were selected and judged');
    assert.ok((outcome.stats.deliveries ?? 0) > 0);
  });
});
