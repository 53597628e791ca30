// The multi-node chaos scenarios of `npm run chaos`, small: `herald serve` nodes in their own
// processes over a real redis-server and a real nats-server. A node SIGKILLed mid-stream (its
// subscribers resume elsewhere with Last-Event-ID, then move back to it once restarted), and the
// engine SIGKILLed and restarted under open streams. Exact accounting of every subscriber is
// asserted; recovery times are only reported by `npm run chaos`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineKind } from '../../chaos/lib/cluster.js';
import { reconcile } from '../../chaos/lib/cluster-books.js';
import { startLocalHub } from '../../chaos/lib/hub.js';
import type { PublishAttempt } from '../../chaos/lib/tracked-publisher.js';
import type { ScenarioResult } from '../../chaos/scenario.js';
import { engineRestartScenario } from '../../chaos/scenarios/engine-restart.js';
import { failoverScenario } from '../../chaos/scenarios/failover.js';
import { natsSkip } from '../helpers/nats-server.js';
import { redisSkip } from '../helpers/redis-server.js';

const SEED = Number(process.env.HERALD_CHAOS_SEED ?? 20240607);
const ENGINES: Array<{ kind: EngineKind; skip: string | undefined }> = [
  { kind: 'redis', skip: redisSkip },
  { kind: 'nats', skip: natsSkip },
];

/** Every check of the scenario, failed ones listed with the report. */
function assertChecks(result: ScenarioResult): void {
  const failed = result.checks.filter((c) => !c.ok);
  assert.deepEqual(
    failed.map((c) => `${c.name}: ${c.detail}`),
    [],
    `seed ${SEED}\n${result.report}`,
  );
}

/** The figures of one engine's run, without the `<engine>.` prefix. */
function figuresOf(result: ScenarioResult, kind: EngineKind): Record<string, number | string> {
  return Object.fromEntries(
    Object.entries(result.figures)
      .filter(([key]) => key.startsWith(`${kind}.`))
      .map(([key, value]) => [key.slice(kind.length + 1), value]),
  );
}

const context = { size: 'test' as const, seed: SEED, startHub: startLocalHub, log: () => {} };

describe('chaos, multi-node (short variants)', () => {
  for (const { kind, skip } of ENGINES) {
    test(`${kind}: SIGKILL of one of 3 nodes — its subscribers resume elsewhere and come back, nothing lost, twice or out of order`, {
      skip,
    }, async () => {
      const result = await failoverScenario([kind]).run(context);
      const f = figuresOf(result, kind);
      assert.ok(Number(f.displaced) > 0, 'the killed node had subscribers');
      assert.equal(f.backHome, f.displaced, result.report);
      // Each displaced subscriber: one failover, one move back.
      assert.ok(Number(f.reconnects) >= 2 * Number(f.displaced), result.report);
      assert.ok(Number(f.published) > 0);
      assert.equal(f.lost, 0, result.report);
      assert.equal(f.duplicated, 0, result.report);
      assert.equal(f.outOfOrder, 0, result.report);
      assert.equal(f.unexpected, 0, result.report);
      assert.equal(f.stragglers, 0, result.report);
      assert.equal(f.received, Number(f.expected) - Number(f.lostInGap), result.report);
      assertChecks(result);
    });

    test(`${kind}: engine SIGKILLed and restarted under 2 nodes — /readyz flips, 503s, every 200 exactly once`, {
      skip,
    }, async () => {
      const result = await engineRestartScenario([kind]).run(context);
      const f = figuresOf(result, kind);
      assert.equal(f.readinessFlipped, 'yes', result.report);
      assert.ok(Number(f.refused503) > 0, 'publishes during the outage were refused');
      assert.equal(f.otherRefusals, 0, result.report);
      assert.ok(Number(f.published) > 0);
      assert.equal(f.lost, 0, result.report);
      assert.equal(f.duplicated, 0, result.report);
      assert.equal(f.outOfOrder, 0, result.report);
      assert.equal(f.unexpected, 0, result.report);
      assert.equal(f.lostInGap, 0, result.report);
      assert.equal(f.received, f.expected, result.report);
      assert.equal(f.reconnects, 0, 'the streams stayed open through the outage');
      assertChecks(result);
    });
  }

  test('the books catch a 200 missing from the log, a refused publish that was stored, and a stranger', () => {
    const attempt = (n: number, status: number, body: string): PublishAttempt => ({
      n,
      target: 'http://node',
      topics: ['/t'],
      sentAt: n,
      answeredAt: n + 1,
      status,
      body,
    });
    const attempts = [attempt(0, 200, '1-1'), attempt(1, 503, 'down'), attempt(2, 200, '1-3')];
    const books = reconcile(
      attempts,
      [
        { id: '1-1', n: 0 },
        { id: '1-2', n: 1 },
        { id: '1-4', n: undefined },
        { id: '1-9', n: undefined },
      ],
      '1-9',
      ['/t'],
    );
    assert.deepEqual(books.missingFromLog, ['1-3']);
    assert.deepEqual(
      books.storedUnanswered.map((s) => [s.attempt.n, s.id]),
      [[1, '1-2']],
    );
    assert.deepEqual(books.unexplained, ['1-4']);
    assert.deepEqual(
      books.published.map((p) => p.id),
      ['1-1', '1-2', '1-3', '1-9'],
    );
  });
});
