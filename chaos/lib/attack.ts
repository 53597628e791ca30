// What every attack scenario measures beside its own checks: the hub's memory before, during and
// after the attack, how fast `/healthz` answers meanwhile, the longest event-loop block, and the
// publish throughput of a healthy publisher → subscriber pair next to the attackers (compared
// with the same pair before the attack started).
//
// An attack scenario (chaos/attacks/*.ts) calls `underAttack()` with three steps — launch the
// attackers, hold, withdraw them — and gets these figures, ready for its report and for
// docs/security.md. Its own checks (a refusal with a reason, a stream closed by policy, a slot
// returned) are what `npm test` asserts; the figures are reported, and judged against the
// documented bounds only by `npm run chaos`.
import { request } from 'node:http';
import type { Size } from '../scenario.js';
import { type Check, check } from '../scenario.js';
import type { HubHandle } from './hub.js';
import { publishOnce } from './publisher.js';
import type { ProcessSample } from './sample.js';
import { AccountingSubscriber } from './subscriber.js';
import { mib, percentile, table } from './table.js';
import { sleep } from './time.js';

/** The documented bounds an attack is judged against (docs/security.md, "Cost"). */
export const ATTACK_BOUNDS = {
  /** Most RSS growth one client address may cause, over the baseline, at the peak. */
  rssGrowthBytes: 64 * 1024 * 1024,
  /** Longest the event loop may be blocked during an attack. */
  loopBlockMs: 50,
  /** Least share of the baseline throughput the healthy pair keeps during an attack. */
  throughputShare: 0.5,
} as const;

/** How long each phase lasts, by run size. */
const PHASE_MS: Record<Size, { baseline: number; hold: number; settle: number }> = {
  full: { baseline: 5000, hold: 10_000, settle: 3000 },
  quick: { baseline: 2000, hold: 4000, settle: 1500 },
  test: { baseline: 300, hold: 500, settle: 200 },
};

/** What the healthy bystanders saw in one phase. */
export interface BystanderPhase {
  /** Updates the healthy publisher got accepted per second. */
  publishedPerSec: number;
  /** Events the healthy subscriber received per second. */
  deliveredPerSec: number;
  /** `/healthz` answer times, ms. */
  healthzP50Ms: number;
  healthzP99Ms: number;
  healthzMaxMs: number;
  /** `/healthz` requests that failed or took over 5 s. */
  healthzFailures: number;
}

/** The figures of one attack. */
export interface AttackFigures {
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
  heapAfter: number;
  /** Longest event-loop delay seen during the attack, ms (the hub's own monitor). */
  loopDelayMaxMs: number;
  baseline: BystanderPhase;
  during: BystanderPhase;
}

/** The steps of an attack; `T` is whatever the attackers need to be withdrawn. */
export interface AttackPlan<T> {
  /** Starts the attackers; resolves once the attack is in place. */
  launch(): Promise<T>;
  /** Stops the attackers (closes their connections, …). */
  withdraw(state: T): Promise<void>;
}

/** Options of {@link underAttack}. */
export interface UnderAttackOptions {
  /** The run size (phase lengths). */
  size: Size;
  /** A publisher token valid on `hub` for `topic`. */
  publisherToken: string;
  /** The healthy pair's topic (default `/bystander`). */
  topic?: string;
  /** A subscriber token for the healthy subscriber (default: anonymous). */
  subscriberToken?: string;
  /** Requests the healthy publisher keeps in flight (default 4). */
  concurrency?: number;
}

/** `GET /healthz` once; resolves with its duration in ms, or `undefined` on failure. */
function probeHealth(url: string): Promise<number | undefined> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(`${url}/healthz`, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Runs the healthy pair and the health prober for `ms`; returns what they saw. */
async function bystand(
  hub: HubHandle,
  options: UnderAttackOptions,
  subscriber: AccountingSubscriber,
  ms: number,
): Promise<BystanderPhase> {
  const topic = options.topic ?? '/bystander';
  const deadline = performance.now() + ms;
  const eventsBefore = subscriber.events;
  let published = 0;
  const publishers = Array.from({ length: options.concurrency ?? 4 }, async () => {
    while (performance.now() < deadline) {
      try {
        const answer = await publishOnce(hub.url, options.publisherToken, {
          topics: [topic],
          data: 'bystander',
        });
        if (answer.status === 200) published++;
        else await sleep(20);
      } catch {
        await sleep(20);
      }
    }
  });
  const latencies: number[] = [];
  let failures = 0;
  const prober = (async () => {
    while (performance.now() < deadline) {
      const took = await probeHealth(hub.url);
      if (took === undefined) failures++;
      else latencies.push(took);
      await sleep(50);
    }
  })();
  const t0 = performance.now();
  await Promise.all([...publishers, prober]);
  // Let the last accepted updates arrive before counting.
  await sleep(50);
  const seconds = (performance.now() - t0) / 1000;
  return {
    publishedPerSec: published / seconds,
    deliveredPerSec: (subscriber.events - eventsBefore) / seconds,
    healthzP50Ms: percentile(latencies, 50),
    healthzP99Ms: percentile(latencies, 99),
    healthzMaxMs: latencies.length === 0 ? Number.NaN : Math.max(...latencies),
    healthzFailures: failures,
  };
}

/**
 * Measures the hub through one attack: a baseline phase with only the healthy pair, then the
 * attack (launched, held while the pair and the prober keep going and memory is polled for its
 * peak), then the attackers withdrawn and memory measured again after a settle time.
 *
 * @returns the attack's own state (as `launch` returned it) and the figures
 */
export async function underAttack<T>(
  hub: HubHandle,
  options: UnderAttackOptions,
  plan: AttackPlan<T>,
): Promise<{ state: T; figures: AttackFigures }> {
  const phases = PHASE_MS[options.size];
  const subscriber = new AccountingSubscriber({
    url: hub.url,
    topics: [options.topic ?? '/bystander'],
    token: options.subscriberToken,
    record: false,
  });
  await subscriber.connect();
  try {
    // A warm-up the figures do not count (JIT, keep-alive connections), then the baseline.
    await bystand(hub, options, subscriber, phases.baseline / 2);
    const before = await hub.sample(true);
    const baseline = await bystand(hub, options, subscriber, phases.baseline);
    await hub.sample(); // resets the loop-delay monitor: what follows is the attack's
    const state = await plan.launch();
    let peak = before.rss;
    let loopDelayMaxMs = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const s: ProcessSample = await hub.sample();
        peak = Math.max(peak, s.rss);
        loopDelayMaxMs = Math.max(loopDelayMaxMs, s.loopDelayMax);
        await sleep(100);
      }
    })();
    const during = await bystand(hub, options, subscriber, phases.hold);
    polling = false;
    await poll;
    await plan.withdraw(state);
    await sleep(phases.settle);
    const after = await hub.sample(true);
    return {
      state,
      figures: {
        rssBefore: before.rss,
        rssPeak: Math.max(peak, after.rss),
        rssAfter: after.rss,
        heapAfter: after.heapUsed,
        loopDelayMaxMs,
        baseline,
        during,
      },
    };
  } finally {
    subscriber.stop();
  }
}

/** The figures as a report table (one row per phase) and a memory line. */
export function attackReport(figures: AttackFigures): string {
  const row = (name: string, p: BystanderPhase): unknown[] => [
    name,
    Math.round(p.publishedPerSec),
    Math.round(p.deliveredPerSec),
    Number(p.healthzP50Ms.toFixed(1)),
    Number(p.healthzP99Ms.toFixed(1)),
    p.healthzFailures,
  ];
  return [
    table(
      ['phase', 'published/s', 'delivered/s', 'healthz p50 ms', 'healthz p99 ms', 'healthz failed'],
      [row('baseline', figures.baseline), row('attack', figures.during)],
    ),
    `RSS before ${mib(figures.rssBefore)} MiB, peak ${mib(figures.rssPeak)} MiB, after ${mib(figures.rssAfter)} MiB; longest loop block ${figures.loopDelayMaxMs.toFixed(1)} ms`,
  ].join('\n');
}

/** The figures flattened for `ScenarioResult.figures` (and docs). */
export function attackFigureRecord(figures: AttackFigures): Record<string, number> {
  return {
    rssBeforeMiB: Number(mib(figures.rssBefore)),
    rssPeakMiB: Number(mib(figures.rssPeak)),
    rssAfterMiB: Number(mib(figures.rssAfter)),
    loopDelayMaxMs: Number(figures.loopDelayMaxMs.toFixed(1)),
    healthzP99Ms: Number(figures.during.healthzP99Ms.toFixed(1)),
    baselinePublishedPerSec: Math.round(figures.baseline.publishedPerSec),
    attackPublishedPerSec: Math.round(figures.during.publishedPerSec),
    attackDeliveredPerSec: Math.round(figures.during.deliveredPerSec),
  };
}

/**
 * The goal's checks (docs/security.md): RSS growth, loop block and the healthy pair's share of
 * its baseline throughput. `npm run chaos` judges them; the short variants in `npm test` do
 * not assert them (machine-dependent), only the attack's behaviour checks.
 */
export function boundChecks(figures: AttackFigures): Check[] {
  const growth = figures.rssPeak - figures.rssBefore;
  const share =
    figures.baseline.deliveredPerSec === 0
      ? 1
      : figures.during.deliveredPerSec / figures.baseline.deliveredPerSec;
  return [
    check(
      `bound: RSS growth ≤ ${mib(ATTACK_BOUNDS.rssGrowthBytes)} MiB`,
      growth <= ATTACK_BOUNDS.rssGrowthBytes,
      `${mib(growth)} MiB (${mib(figures.rssBefore)} → peak ${mib(figures.rssPeak)})`,
    ),
    check(
      `bound: event loop blocked ≤ ${ATTACK_BOUNDS.loopBlockMs} ms`,
      figures.loopDelayMaxMs <= ATTACK_BOUNDS.loopBlockMs,
      `${figures.loopDelayMaxMs.toFixed(1)} ms`,
    ),
    check(
      `bound: healthy throughput ≥ ${ATTACK_BOUNDS.throughputShare * 100}% of baseline`,
      share >= ATTACK_BOUNDS.throughputShare,
      `${Math.round(figures.during.deliveredPerSec)}/s vs ${Math.round(figures.baseline.deliveredPerSec)}/s (${(share * 100).toFixed(0)}%)`,
    ),
    check(
      'bound: /healthz answers throughout',
      figures.during.healthzFailures === 0,
      `${figures.during.healthzFailures} failed, p99 ${figures.during.healthzP99Ms.toFixed(1)} ms`,
    ),
  ];
}

/** Whether a check is one of the {@link boundChecks} (the short variants skip those). */
export function isBoundCheck(c: Check): boolean {
  return c.name.startsWith('bound: ');
}
