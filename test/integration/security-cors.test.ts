// Security review: CORS. The cors fuzz target of `npm run fuzz`, bounded: random Origin headers
// (allowlisted, near misses, arbitrary) × hubs with an allowlist, `*` and nothing × every route.
// Only allowlisted origins are echoed, only they get credentials, `*` never does, preflights from
// anyone else are refused. Replay a failure with `npm run fuzz -- --target cors --seed <seed>`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runTarget } from '../../fuzz/target.js';
import { corsTarget } from '../../fuzz/targets/cors.js';

describe('CORS allows only what is configured', () => {
  test(corsTarget.summary, async () => {
    const outcome = await runTarget(corsTarget, { numRuns: 300 });
    assert.equal(outcome.failure, undefined, outcome.failure);
    assert.equal(outcome.runs, 300);
    assert.ok((outcome.stats.echoed ?? 0) > 0, 'allowlisted origins were echoed');
    assert.ok((outcome.stats.wildcard ?? 0) > 0, '* was answered');
    assert.ok((outcome.stats.refusedPreflights ?? 0) > 0, 'foreign preflights were refused');
  });
});
