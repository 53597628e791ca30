// The subscriptions-API scan attack, short: a token whose claim matches nothing lists the
// subscriptions of a hub with many selectors (chaos/attacks/subscriptions-scan.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subscriptionsScan } from '../../chaos/attacks/subscriptions-scan.js';
import { runAttack } from '../helpers/attack.js';

test('a claim that matches nothing lists nothing; a narrow watcher sees exactly its topic', async () => {
  const result = await runAttack(subscriptionsScan);
  const f = result.figures;
  assert.ok(Number(f.requests) > 0, result.report);
  assert.equal(f.nonEmpty, 0, result.report);
  assert.equal(f.watcherResources, 1, result.report);
});
