// Runs an attack scenario's short variant against a hub in this process and asserts its
// behaviour checks — the bounds on memory, loop blocking and throughput are machine-dependent
// and judged only by `npm run chaos` (see chaos/lib/attack.ts).
import assert from 'node:assert/strict';
import { isBoundCheck } from '../../chaos/lib/attack.js';
import { startLocalHub } from '../../chaos/lib/hub.js';
import type { Scenario, ScenarioResult } from '../../chaos/scenario.js';

const SEED = Number(process.env.HERALD_CHAOS_SEED ?? 20261207);

/** Runs `attack` at test size; fails with every failed behaviour check and the report. */
export async function runAttack(attack: Scenario): Promise<ScenarioResult> {
  const result = await attack.run({
    size: 'test',
    seed: SEED,
    startHub: startLocalHub,
    log: () => {},
  });
  const failed = result.checks.filter((c) => !isBoundCheck(c) && !c.ok);
  assert.deepEqual(
    failed.map((c) => `${c.name}: ${c.detail}`),
    [],
    `seed ${SEED}\n${result.report}`,
  );
  assert.ok(
    result.checks.some((c) => !isBoundCheck(c)),
    'an attack asserts at least one behaviour check',
  );
  return result;
}
