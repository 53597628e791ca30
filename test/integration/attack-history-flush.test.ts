// Issue 14, item 8: subscribers with many selectors connecting and leaving in a loop
// (--subscriptions) flushed the shared history. The attack's short variant, over every engine
// whose server is installed: readers of another topic resume without herald.gap, nothing lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { historyFlush } from '../../chaos/attacks/history-flush.js';
import { runAttack } from '../helpers/attack.js';

test('attack-history-flush: subscription events evict only their own history', async () => {
  const result = await runAttack(historyFlush);
  assert.ok(Number(result.figures['memory.subscriptionEvents']) > 300, result.report);
  for (const engine of ['memory', 'redis', 'nats']) {
    if (result.figures[`${engine}.cycles`] === undefined) continue;
    assert.equal(result.figures[`${engine}.gaps`], 0, result.report);
    assert.equal(result.figures[`${engine}.lost`], 0, result.report);
    assert.equal(result.figures[`${engine}.duplicated`], 0, result.report);
  }
});
