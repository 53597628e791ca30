// The shared engine crashes and comes back mid-stream, under two `herald serve` nodes with open
// subscribers: redis-server (append-only file, fsync on every write) SIGKILLed and started
// again on the same port; then nats-server (JetStream file store) the same, on the same port
// and store directory.
//
// A publisher spreads a steady stream over both nodes and only counts what it is refused (no
// retry: a retried publish whose first answer was lost could be stored twice, and the books
// must stay exact). While the engine is down, each node's /readyz must say not ready (what a
// load balancer acts on) and publishes must get 503 with a reason; once it is back, /readyz
// recovers and publishing resumes. The books: expected = the ids answered 200; each must reach
// every matching subscriber exactly once and in order; nothing refused during the outage may
// appear on any stream — the only allowance is a publish in flight at the very moment of the
// kill, which the engine may have stored before its answer was lost (the engines document it).
import type { HubNode } from '../../test/helpers/hub-node.js';
import {
  type EngineKind,
  type EngineServer,
  engineBinary,
  ReadinessWatch,
  settleOpenStreams,
  startEngine,
  startNodes,
} from '../lib/cluster.js';
import {
  audit,
  type BookedSubscriber,
  ms,
  pickSelectors,
  readLog,
  reconcile,
} from '../lib/cluster-books.js';
import { seeded } from '../lib/random.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { settlesWithin, sleep } from '../lib/time.js';
import { publisherToken } from '../lib/tokens.js';
import { publishMarker, TrackedPublisher } from '../lib/tracked-publisher.js';
import {
  type Check,
  check,
  type Scenario,
  type ScenarioContext,
  type ScenarioResult,
} from '../scenario.js';

interface RestartParams {
  subscribers: number;
  /** Publish attempts per second, over both nodes. */
  rate: number;
  topics: number;
  /** --history-size: the whole run. */
  history: number;
  /** Publishing before the kill, ms. */
  beforeMs: number;
  /** From the kill to the engine's restart, ms. */
  outageMs: number;
  /** Publishing after both nodes are ready again, ms. */
  afterMs: number;
}

const PARAMS: Record<ScenarioContext['size'], RestartParams> = {
  full: {
    subscribers: 200,
    rate: 200,
    topics: 8,
    history: 50_000,
    beforeMs: 8000,
    outageMs: 5000,
    afterMs: 8000,
  },
  quick: {
    subscribers: 40,
    rate: 100,
    topics: 6,
    history: 20_000,
    beforeMs: 3000,
    outageMs: 2000,
    afterMs: 2000,
  },
  test: {
    subscribers: 16,
    rate: 50,
    topics: 4,
    history: 10_000,
    beforeMs: 1000,
    outageMs: 1200,
    afterMs: 800,
  },
};

interface Phase {
  checks: Check[];
  report: string;
  figures: Record<string, number | string>;
}

/** The engine-restart scenario over the given engines, one after the other. */
export function engineRestartScenario(engines: readonly EngineKind[]): Scenario {
  return {
    name: 'engine-restart',
    summary: `the shared engine (${engines.join(', ')}) SIGKILLed and restarted under 2 nodes with open streams: /readyz flips, 503s during the outage, every 200 delivered exactly once`,
    needs: engines.map(engineBinary),
    async run(ctx): Promise<ScenarioResult> {
      const checks: Check[] = [];
      const reports: string[] = [];
      const figures: Record<string, number | string> = {};
      for (const [i, kind] of engines.entries()) {
        const phase = await restartOn(kind, ctx, ctx.seed + i);
        checks.push(...phase.checks.map((c) => ({ ...c, name: `[${kind}] ${c.name}` })));
        reports.push(`-- engine ${kind}\n${phase.report}`);
        for (const [key, value] of Object.entries(phase.figures)) figures[`${kind}.${key}`] = value;
      }
      return { checks, report: reports.join('\n\n'), figures };
    },
  };
}

/** `npm run chaos -- --scenario engine-restart`: Redis, then NATS. */
export const engineRestart: Scenario = engineRestartScenario(['redis', 'nats']);

async function restartOn(kind: EngineKind, ctx: ScenarioContext, seed: number): Promise<Phase> {
  const p = PARAMS[ctx.size];
  const rand = seeded(seed);
  const subs: BookedSubscriber[] = [];
  let engine: EngineServer | undefined;
  let nodes: HubNode[] = [];
  let watch: ReadinessWatch | undefined;
  try {
    engine = await startEngine(kind);
    nodes = await startNodes(2, engine, ['--history-size', String(p.history)]);
    const urls = nodes.map((node) => node.url);
    ctx.log(`engine-restart/${kind}: engine at ${engine.url}; nodes ${urls.join(' ')}`);

    const topics = Array.from({ length: p.topics }, (_, i) => `/chaos/restart/${i}`);
    const token = await publisherToken();
    const startMarker = await publishMarker(urls[0]!, token, topics);
    for (let i = 0; i < p.subscribers; i++) {
      const home = i % 2;
      const selectors = pickSelectors(rand, topics);
      const sub = new AccountingSubscriber({
        url: urls[home]!,
        topics: selectors,
        // Should its node end the stream, it resumes on the other one.
        origins: () => [urls[home]!, urls[1 - home]!],
      });
      subs.push({ sub, topics: selectors, group: `on ${nodes[home]!.name}` });
    }
    await Promise.all(subs.map(({ sub }) => sub.connect()));

    watch = new ReadinessWatch(nodes);
    watch.start();
    const publisher = new TrackedPublisher({
      token,
      rate: p.rate,
      concurrency: 8,
      target: (n) => urls[n % 2],
      topics: (n) =>
        rand.chance(0.2)
          ? [...new Set([rand.pick(topics), rand.pick(topics)])]
          : [topics[n % topics.length]!],
      pad: () => rand.int(0, 200),
    });
    const started = performance.now();
    publisher.start();
    await sleep(p.beforeMs);

    // The crash.
    const killAt = performance.now();
    await engine.kill();
    const killedAt = performance.now();
    ctx.log(`engine-restart/${kind}: ${kind} killed`);
    const flipped = await Promise.all(nodes.map((node) => watch!.until(node.name, 503, 15_000)));
    const notReady = nodes.map((node) => watch!.first(node.name, 503, killAt));
    const notReadyMs = Math.max(...notReady.map((c) => (c?.at ?? Number.NaN) - killAt));
    ctx.log(`engine-restart/${kind}: not ready on every node after ${ms(notReadyMs)}`);
    await sleep(Math.max(0, p.outageMs - (performance.now() - killAt)));

    // Back, on the same port with what it persisted.
    const startAt = performance.now();
    await engine.start();
    const engineUpMs = performance.now() - startAt;
    const recovered = await Promise.all(nodes.map((node) => watch!.until(node.name, 200, 30_000)));
    const readyAgain = nodes.map((node) => watch!.first(node.name, 200, startAt));
    const readyMs = Math.max(...readyAgain.map((c) => (c?.at ?? Number.NaN) - startAt));
    ctx.log(`engine-restart/${kind}: ready again on every node ${ms(readyMs)} after the restart`);
    await sleep(p.afterMs);
    await publisher.stop();
    await watch.stop();
    const elapsed = (performance.now() - started) / 1000;

    const endMarker = await publishMarker(urls[0]!, token, topics);
    await settlesWithin(
      Promise.all(subs.map(({ sub }) => sub.until(() => sub.lastEventId === endMarker))),
      30_000,
    );
    const stragglers = subs.filter(({ sub }) => sub.lastEventId !== endMarker).length;
    const log = await readLog(urls[1]!, startMarker, endMarker);
    const openStreams = await settleOpenStreams(nodes, p.subscribers);

    const books = reconcile(publisher.attempts, log ?? [], endMarker, topics);
    const { sum, table, unclean } = audit(books.published, subs);
    const attempts = publisher.attempts;
    const refused = attempts.filter((x) => x.status !== 200);
    const refused503 = refused.filter((x) => x.status === 503);
    const otherRefusals = refused.filter((x) => x.status !== 503);
    // In flight at the kill: sent before the engine was gone, answered after it began to die.
    const inFlightAtKill = (x: (typeof attempts)[number]): boolean =>
      x.sentAt <= killedAt && (x.answeredAt ?? Infinity) >= killAt;
    const strayStored = books.storedUnanswered.filter((s) => !inFlightAtKill(s.attempt));
    // Refusals outside the outage (from the kill until both nodes were ready again).
    const outageEnd = Math.max(...readyAgain.map((c) => c?.at ?? Infinity));
    const refusedOutside = refused.filter(
      (x) => (x.answeredAt ?? 0) < killAt || x.sentAt > outageEnd,
    );
    const firstOk = attempts.find((x) => x.sentAt >= startAt && x.status === 200);
    const firstOkMs = firstOk === undefined ? undefined : firstOk.answeredAt! - startAt;
    const reconnects = subs.reduce((n, { sub }) => n + sub.connections, 0) - subs.length;
    const reasons = [...new Set(refused503.map((x) => (x.body ?? '').trim()))].slice(0, 3);
    const notReadyReasons = [...new Set(notReady.map((c) => (c?.body ?? '').trim()))];
    const statuses = [...publisher.statuses()].map(([s, n]) => `${s === 0 ? 'no answer' : s}×${n}`);

    const report = [
      `2 nodes over ${kind}; ${p.subscribers} subscribers; ${attempts.length} publishes in ${elapsed.toFixed(1)} s (answers: ${statuses.join(' ')})`,
      `${kind} SIGKILLed after ${(p.beforeMs / 1000).toFixed(1)} s, down ${((startAt - killAt) / 1000).toFixed(1)} s: /readyz 503 on every node ${ms(notReadyMs)} after the kill (${notReadyReasons.join(' | ')})`,
      `${kind} listening again ${ms(engineUpMs)} after its start; /readyz 200 on every node ${ms(readyMs)} after it; first publish answered 200 ${ms(firstOkMs)} after it`,
      `503 reasons: ${reasons.join(' | ') || 'none'}`,
      `engine log: ${log === undefined ? 'NOT READ (the end marker did not arrive)' : `${log.length} events`}; 200s missing from it ${books.missingFromLog.length}; stored without a 200 (in flight at the kill) ${books.storedUnanswered.length}; unexplained ${books.unexplained.length}`,
      table,
      unclean.length > 0 ? `unclean: ${unclean.slice(0, 5).join(' | ')}` : '',
    ]
      .filter((line) => line !== '')
      .join('\n');

    return {
      checks: [
        check(
          '/readyz went 503 on every node during the outage, with a reason',
          flipped.every(Boolean) &&
            notReady.every((c) => c !== undefined && /not ready: \S/.test(c.body)),
          `after ${ms(notReadyMs)}: ${notReadyReasons.join(' | ')}`,
        ),
        check(
          '/readyz back to 200 on every node after the restart',
          recovered.every(Boolean),
          `${ms(readyMs)} after ${kind} was started again`,
        ),
        check(
          'publishes during the outage got 503, and only then',
          refused503.length > 0 && otherRefusals.length === 0 && refusedOutside.length === 0,
          `${refused503.length} × 503, ${otherRefusals.length} other refusals, ${refusedOutside.length} outside the outage`,
        ),
        check(
          'nothing refused appears on a stream (but a publish in flight at the kill)',
          log !== undefined && strayStored.length === 0 && sum.unexpected === 0,
          `stored without a 200: ${books.storedUnanswered.length} (${strayStored.length} not in flight at the kill); unexpected on streams ${sum.unexpected}`,
        ),
        check(
          'every 200 delivered exactly once, in order, to every matching subscriber',
          unclean.length === 0 && log !== undefined && sum.lostInGap === 0,
          `lost ${sum.lost}, duplicated ${sum.duplicated}, out of order ${sum.outOfOrder}, in gaps ${sum.lostInGap}`,
        ),
        check(
          "the engine's log holds every 200",
          log !== undefined && books.missingFromLog.length === 0 && books.unexplained.length === 0,
          `missing ${books.missingFromLog.length}, unexplained ${books.unexplained.length}`,
        ),
        check(
          'open streams stayed open through the outage',
          reconnects === 0,
          `${reconnects} reconnections`,
        ),
        check('every subscriber caught up', stragglers === 0, `${stragglers} stragglers`),
        check(
          'no stream leaked on the nodes',
          openStreams === p.subscribers,
          `herald_connections over the nodes ${openStreams}, subscribers ${p.subscribers}`,
        ),
      ],
      report,
      figures: {
        subscribers: p.subscribers,
        attempts: attempts.length,
        published: books.accepted,
        refused503: refused503.length,
        otherRefusals: otherRefusals.length,
        storedUnanswered: books.storedUnanswered.length,
        expected: sum.expected,
        received: sum.received,
        lost: sum.lost,
        duplicated: sum.duplicated,
        outOfOrder: sum.outOfOrder,
        unexpected: sum.unexpected,
        gaps: sum.gaps,
        lostInGap: sum.lostInGap,
        reconnects,
        readinessFlipped: flipped.every(Boolean) && recovered.every(Boolean) ? 'yes' : 'no',
        notReadyMs: Math.round(notReadyMs),
        outageMs: Math.round(startAt - killAt),
        readyMs: Math.round(readyMs),
        firstOkMs: Math.round(firstOkMs ?? Number.NaN),
        stragglers,
      },
    };
  } finally {
    await watch?.stop();
    for (const { sub } of subs) sub.stop();
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
    await engine?.stop();
  }
}
