// The h2-reset attack's short variant (chaos/attacks/h2-reset.ts): an address that resets ten
// times its per-IP allowance of h2c streams right after their headers keeps no slot, and may
// subscribe again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h2Reset } from '../../chaos/attacks/h2-reset.js';
import { runAttack } from '../helpers/attack.js';

test('attack-h2-reset: every reset stream gives its slot back; the address may subscribe again', async () => {
  const result = await runAttack(h2Reset);
  assert.equal(result.figures.leakedSlots, 0);
  assert.equal(result.figures.freshSubscribeStatus, 200);
  assert.ok(Number(result.figures.resets) > 20, 'more resets than the per-IP allowance');
});
