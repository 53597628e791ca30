// Issue 14, item 8: subscribers with many selectors connecting and leaving in a loop
// (--subscriptions) flushed the shared history, and their subscription events had no rate bound.
// The attack's short variant, over every engine whose server is installed: readers of another
// topic resume without herald.gap, nothing lost; the attackers' address meets
// --subscription-events-rate (429 + Retry-After naming it), a watcher gets every accepted
// subscription's opening and closing events once, a refused subscribe gives its charge back,
// and every connection slot comes back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { historyFlush } from '../../chaos/attacks/history-flush.js';
import { runAttack } from '../helpers/attack.js';

test('attack-history-flush: subscription events evict only their own history, at a bounded rate per address', async () => {
  const result = await runAttack(historyFlush);
  assert.ok(Number(result.figures['memory.subscriptionEvents']) > 300, result.report);
  for (const engine of ['memory', 'redis', 'nats']) {
    const figure = (name: string): unknown => result.figures[`${engine}.${name}`];
    if (figure('cycles') === undefined) continue;
    assert.equal(figure('gaps'), 0, result.report);
    assert.equal(figure('lost'), 0, result.report);
    assert.equal(figure('duplicated'), 0, result.report);
    assert.equal(figure('badRefusals'), 0, result.report);
    assert.equal(figure('watcherSubscribers'), figure('cycles'), result.report);
    assert.equal(figure('watcherComplete'), figure('cycles'), result.report);
    assert.equal(figure('budgetInvalid'), 400, result.report);
    assert.equal(figure('budgetFits'), 200, result.report);
    assert.equal(figure('budgetOver'), 1, result.report);
    assert.equal(figure('slotsAfter'), 0, result.report);
  }
});
