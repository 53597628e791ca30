// The private-ids attack's short variant (chaos/attacks/private-ids.ts): an anonymous subscriber
// tries the Last-Event-ID header, herald.gap and guessed resumes; no private id reaches it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { privateIds } from '../../chaos/attacks/private-ids.js';
import { runAttack } from '../helpers/attack.js';

test('attack-private-ids: no private id leaks to an anonymous subscriber', async () => {
  const { figures } = await runAttack(privateIds);
  assert.ok((figures.headerProbes as number) > 0, 'the header was probed');
  assert.equal(figures.headerLeaks, 0);
  assert.ok((figures.gapProbes as number) > 0, 'gaps were probed');
  assert.equal(figures.gapLeaks, 0);
  assert.ok((figures.guessedReal as number) > 0, 'private ids were guessed');
  assert.equal(figures.confirmed, 0);
  assert.equal(figures.fakeFound, 0);
  assert.equal(figures.dataLeaks, 0);
  assert.equal(figures.authorizedExact, 1);
});
