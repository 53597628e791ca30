// The rate-spellings attack's short variant (chaos/attacks/rate-spellings.ts): one ES256
// publisher token in 85 spellings gets no more than one --publish-rate bucket's allowance, and
// the excess is refused with 429, Retry-After and the reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rateSpellings } from '../../chaos/attacks/rate-spellings.js';
import { runAttack } from '../helpers/attack.js';

test('attack-rate-spellings: every spelling spends one bucket', async () => {
  const result = await runAttack(rateSpellings);
  const f = result.figures;
  assert.equal(f.variants, 85, '17 spellings × 5 ways to send them');
  assert.ok(Number(f.accepted) <= Number(f.allowance), `${f.accepted} > ${f.allowance}`);
  assert.ok(Number(f.refused) > 0);
});
