// The dev-mode attack, short: --dev from the machine's other addresses and from a rebinding
// page, and a flood of page views (chaos/attacks/dev-mode.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { devMode } from '../../chaos/attacks/dev-mode.js';
import { runAttack } from '../helpers/attack.js';

test('dev mode: localhost only, a short-lived publish-only page token, other host names refused', async () => {
  const result = await runAttack(devMode);
  const f = result.figures;
  assert.equal(f.reachedOtherAddresses, 0, result.report);
  assert.ok(Number(f.tokenTtlSeconds) > 0 && Number(f.tokenTtlSeconds) <= 600, result.report);
  assert.ok(Number(f.pageViews) > 0, result.report);
  assert.ok(Number(f.rebindingRefused) > 0, result.report);
});
