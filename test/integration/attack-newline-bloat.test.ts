// The newline-bloat attack's short variant (chaos/attacks/newline-bloat.ts): data made of line
// breaks is counted at its encoded size; an event no subscriber queue could hold is refused with
// 413 and the reason, and back-to-back events just under the bound cut no reading subscriber.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newlineBloatAttack } from '../../chaos/attacks/newline-bloat.js';
import { runAttack } from '../helpers/attack.js';

test('attack-newline-bloat', async () => {
  const result = await runAttack(newlineBloatAttack);
  assert.equal(result.figures.readersCut, 0);
  assert.equal(result.figures.overflows, 0);
  assert.ok(Number(result.figures.wireRatio) > 6.5, `wire ratio ${result.figures.wireRatio}`);
});
