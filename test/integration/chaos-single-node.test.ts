// The chaos scenarios of `npm run chaos`, small, against a hub in this process: exact accounting
// of every subscriber is asserted; timing and memory figures are only reported by `npm run chaos`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startLocalHub } from '../../chaos/lib/hub.js';
import type { Scenario, ScenarioResult } from '../../chaos/scenario.js';
import { drops } from '../../chaos/scenarios/drops.js';
import { publisherFlood } from '../../chaos/scenarios/flood.js';
import { slowConsumers } from '../../chaos/scenarios/slow-consumers.js';

const SEED = Number(process.env.HERALD_CHAOS_SEED ?? 20240607);

function run(scenario: Scenario): Promise<ScenarioResult> {
  return scenario.run({ size: 'test', seed: SEED, startHub: startLocalHub, log: () => {} });
}

/** Fails with every failed check (and the report) rather than the first. */
function assertChecks(result: ScenarioResult, names: RegExp): void {
  const failed = result.checks.filter((c) => names.test(c.name) && !c.ok);
  assert.deepEqual(
    failed.map((c) => `${c.name}: ${c.detail}`),
    [],
    `seed ${SEED}\n${result.report}`,
  );
}

describe('chaos, single node, memory engine (short variants)', () => {
  test('random drops and reconnects: nothing lost outside an announced gap, nothing twice or out of order', async () => {
    const result = await run(drops);
    const f = result.figures;
    assert.equal(f.drops, 40);
    // Under load some drops hit a connection still waiting for its answer; every drop of an
    // answered stream must have been followed by an answered reconnection.
    assert.ok(
      Number(f.connections) >= Number(f.openDrops) + 8,
      `every drop of an open stream was followed by a reconnection (${f.connections} connections, ${f.openDrops} such drops, 8 subscribers)`,
    );
    assert.equal(f.lost, 0, result.report);
    assert.equal(f.duplicated, 0, result.report);
    assert.equal(f.outOfOrder, 0, result.report);
    assert.equal(f.unexpected, 0, result.report);
    assert.equal(f.stragglers, 0, result.report);
    assert.equal(f.received, Number(f.expected) - Number(f.lostInGap), result.report);
    assertChecks(result, /./);
  });

  test('stalled subscribers are closed by the overflow policy; healthy ones lose nothing', async () => {
    const result = await run(slowConsumers);
    const f = result.figures;
    assert.equal(f.overflows, 10, 'every stalled subscriber overflowed and was closed');
    assert.equal(f.open, 10, 'the healthy ones are still connected');
    assert.equal(f.healthyClosed, 0);
    assert.equal(f.lost, 0, result.report);
    assert.equal(f.duplicated, 0, result.report);
    assert.equal(f.outOfOrder, 0, result.report);
    // Latency and memory are machine-dependent: reported by npm run chaos, not asserted here.
    assertChecks(result, /closed by the overflow policy|healthy ones remain|lost nothing/);
  });

  test('a publisher flood gets 429s; the bucket bound, other publishers and delivery hold', async () => {
    const result = await run(publisherFlood);
    const f = result.figures;
    assert.ok(Number(f.refused429) > 0, 'the flood was refused in part');
    assert.ok(Number(f.accepted) <= Number(f.allowed), result.report);
    assert.equal(f.politeRefused, 0);
    assert.ok(Number(f.forged401) > 0);
    assert.equal(f.lost, 0, result.report);
    assert.equal(f.duplicated, 0, result.report);
    assert.equal(f.unexpected, 0, result.report);
    assertChecks(result, /429|bucket|polite|forged|oversized|exactly/);
  });
});
