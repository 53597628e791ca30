// The surrogate-id attack's short variant (chaos/attacks/surrogate-id.ts): ids, types and topics
// with a lone surrogate are refused with a 400; subscribers resuming after the ids they saw
// (astral ones included) get no gap and no duplicate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { surrogateId } from '../../chaos/attacks/surrogate-id.js';
import { runAttack } from '../helpers/attack.js';

test('attack-surrogate-id: refused with 400, resumes exact', async () => {
  const { figures } = await runAttack(surrogateId);
  assert.ok((figures.malformedSent as number) > 0, 'malformed updates were sent');
  assert.equal(figures.malformedAccepted, 0);
  assert.equal(figures.refused400, figures.malformedSent);
  assert.ok((figures.astralIds as number) > 0, 'astral ids were published');
  assert.equal(figures.gaps, 0);
  assert.equal(figures.duplicates, 0);
  assert.equal(figures.lost, 0);
});
