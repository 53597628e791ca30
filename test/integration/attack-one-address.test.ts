// The one-address attack's short variant (chaos/attacks/one-address.ts): non-reading
// subscriptions from one address, replaying and live, are closed by policy — some for the
// address's byte budget (--queue-bytes-per-ip) — their slots come back, and a reader from the
// same address resumes with Last-Event-ID and gets every event once, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oneAddress } from '../../chaos/attacks/one-address.js';
import { runAttack } from '../helpers/attack.js';

test('attack-one-address (memory engine)', async () => {
  const result = await runAttack(oneAddress);
  assert.ok(Number(result.figures.budgetClosed) > 0);
  assert.equal(result.figures.readerReceived, result.figures.busyEvents);
});
