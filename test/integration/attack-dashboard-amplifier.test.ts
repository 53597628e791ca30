// The dashboard amplifier attack, short: many selectors and several /dashboard/stats viewers on
// a --dev hub and on a --dashboard hub with authentication (chaos/attacks/dashboard-amplifier.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dashboardAmplifier } from '../../chaos/attacks/dashboard-amplifier.js';
import { runAttack } from '../helpers/attack.js';

test('dashboard viewers share one snapshot per interval, count in the limits, and need the claim outside dev mode', async () => {
  const result = await runAttack(dashboardAmplifier);
  const f = result.figures;
  for (const mode of ['dev', 'auth']) {
    // Fewer snapshots than events sent: one computation per interval, shared by every viewer.
    assert.ok(Number(f[`${mode}Snapshots`]) < Number(f[`${mode}Events`]), result.report);
    assert.ok(Number(f[`${mode}ConnectionsDuring`]) >= Number(f.viewers), result.report);
  }
});
