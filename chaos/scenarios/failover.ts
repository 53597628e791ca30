// SIGKILL of a hub node in a 3-node cluster of `herald serve` processes over one shared engine
// (a redis-server with an append-only file, then a nats-server with JetStream).
//
// Subscribers with mixed selectors are spread over the nodes A, B and C; each knows the three
// addresses, its own node first (as a client with a list of hubs does). A publisher spreads a
// steady stream over the live nodes. Mid-stream B is SIGKILLed: its subscribers' streams break,
// and each reconnects to the next node with its Last-Event-ID, which replays what it missed
// from the engine. B is then started again on its port and its subscribers are moved back to it
// (a rebalance: one more drop and resume each). At the end each subscriber's ledger is checked
// against what was published: nothing lost (outside an announced `herald.gap`), nothing twice,
// nothing out of order. What was published is itself checked against the engine's log: every
// 200 is there, and the only extra entries may be publishes in flight to B when it died.
//
// Runs on its own processes (test/helpers/hub-node.ts), not `ctx.startHub`: the nodes must be
// killable, and share an engine.
import type { HubNode } from '../../test/helpers/hub-node.js';
import {
  type EngineKind,
  type EngineServer,
  engineBinary,
  restartNode,
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

interface FailoverParams {
  subscribers: number;
  /** Publishes per second, over the live nodes. */
  rate: number;
  topics: number;
  /** --history-size: large enough for the whole run (the failover must need no gap). */
  history: number;
  /** Publishing before the kill, ms. */
  beforeMs: number;
  /** From the kill to B's restart, ms. */
  downMs: number;
  /** After the rebalance, ms. */
  afterMs: number;
}

const PARAMS: Record<ScenarioContext['size'], FailoverParams> = {
  full: {
    subscribers: 300,
    rate: 200,
    topics: 8,
    history: 50_000,
    beforeMs: 10_000,
    downMs: 8000,
    afterMs: 8000,
  },
  quick: {
    subscribers: 60,
    rate: 100,
    topics: 6,
    history: 20_000,
    beforeMs: 3000,
    downMs: 2000,
    afterMs: 2000,
  },
  test: {
    subscribers: 24,
    rate: 50,
    topics: 4,
    history: 10_000,
    beforeMs: 1200,
    downMs: 600,
    afterMs: 800,
  },
};

/** What one engine's run found. */
interface Phase {
  checks: Check[];
  report: string;
  figures: Record<string, number | string>;
}

/** The failover scenario over the given engines, one after the other. */
export function failoverScenario(engines: readonly EngineKind[]): Scenario {
  return {
    name: 'failover',
    summary: `SIGKILL of one of 3 hub nodes over a shared engine (${engines.join(', ')}): its subscribers resume on another node with Last-Event-ID; restart and rebalance`,
    needs: engines.map(engineBinary),
    async run(ctx): Promise<ScenarioResult> {
      const checks: Check[] = [];
      const reports: string[] = [];
      const figures: Record<string, number | string> = {};
      for (const [i, kind] of engines.entries()) {
        const phase = await failoverOn(kind, ctx, ctx.seed + i);
        checks.push(...phase.checks.map((c) => ({ ...c, name: `[${kind}] ${c.name}` })));
        reports.push(`-- engine ${kind}\n${phase.report}`);
        for (const [key, value] of Object.entries(phase.figures)) figures[`${kind}.${key}`] = value;
      }
      return { checks, report: reports.join('\n\n'), figures };
    },
  };
}

/** `npm run chaos -- --scenario failover`: over Redis, then over NATS. */
export const failover: Scenario = failoverScenario(['redis', 'nats']);

async function failoverOn(kind: EngineKind, ctx: ScenarioContext, seed: number): Promise<Phase> {
  const p = PARAMS[ctx.size];
  const rand = seeded(seed);
  const flags = ['--history-size', String(p.history)];
  const subs: BookedSubscriber[] = [];
  let engine: EngineServer | undefined;
  const nodes: HubNode[] = [];
  const dead: HubNode[] = [];
  try {
    engine = await startEngine(kind);
    nodes.push(...(await startNodes(3, engine, flags)));
    const [a, b] = nodes as [HubNode, HubNode, HubNode];
    const urls = nodes.map((node) => node.url);
    ctx.log(`failover/${kind}: engine at ${engine.url}; nodes ${urls.join(' ')}`);

    const topics = Array.from({ length: p.topics }, (_, i) => `/chaos/failover/${i}`);
    const token = await publisherToken();
    // Every stream starts after this id (the response's Last-Event-ID), and the engine's log is
    // read back from it.
    const startMarker = await publishMarker(a.url, token, topics);

    // Subscriber i lives on node i mod 3 and knows the others in ring order after it.
    const homeOf: number[] = [];
    for (let i = 0; i < p.subscribers; i++) {
      const home = i % 3;
      homeOf.push(home);
      const selectors = pickSelectors(rand, topics);
      const sub = new AccountingSubscriber({
        url: urls[home]!,
        topics: selectors,
        origins: () => [0, 1, 2].map((k) => urls[(homeOf[i]! + k) % 3]!),
      });
      subs.push({ sub, topics: selectors, group: `home ${nodes[home]!.name}` });
    }
    await Promise.all(subs.map(({ sub }) => sub.connect()));
    const openAtStart = subs.filter(({ sub }) => sub.open).length;
    ctx.log(`failover/${kind}: ${openAtStart}/${p.subscribers} subscribers open`);

    // The publisher goes round the nodes it believes alive (a load balancer's view).
    const alive = new Set<number>([0, 1, 2]);
    const publisher = new TrackedPublisher({
      token,
      rate: p.rate,
      concurrency: 8,
      target: (n) => {
        const live = [...alive];
        return live.length === 0 ? undefined : urls[live[n % live.length]!];
      },
      topics: (n) =>
        rand.chance(0.2)
          ? [...new Set([rand.pick(topics), rand.pick(topics)])]
          : [topics[n % topics.length]!],
      pad: () => rand.int(0, 200),
    });
    const started = performance.now();
    publisher.start();
    await sleep(p.beforeMs);

    // The crash. The publisher stops choosing B as it is killed; requests already in flight to
    // B lose their answers.
    const displaced = subs.filter(({ sub }) => sub.origin === b.url);
    alive.delete(1);
    const killAt = performance.now();
    await b.kill('SIGKILL');
    const killedAt = performance.now();
    dead.push(b);
    ctx.log(`failover/${kind}: B killed; ${displaced.length} subscribers displaced`);
    // Polled, not awaited on events: a subscriber of quiet topics reopens without an event.
    const reopenDeadline = Date.now() + 20_000;
    while (displaced.some(({ sub }) => sub.opens.length < 2) && Date.now() < reopenDeadline) {
      await sleep(10);
    }
    const reopenTimes = displaced
      .map(({ sub }) => sub.opens[1]?.at)
      .filter((t): t is number => t !== undefined)
      .map((t) => t - killAt)
      .sort((x, y) => x - y);
    const failoverMs = reopenTimes.at(-1);
    const failoverMedianMs = reopenTimes[Math.floor(reopenTimes.length / 2)];
    ctx.log(
      `failover/${kind}: ${reopenTimes.length}/${displaced.length} reopened elsewhere, the last ${ms(failoverMs)} after the kill`,
    );
    // Each must have resumed after the last id it had received (the start marker if none), on
    // another node.
    const resumeFaults: string[] = [];
    for (const { sub } of displaced) {
      const second = sub.opens[1];
      const lastSeen =
        second === undefined || second.eventsBefore === 0
          ? startMarker
          : sub.received[second.eventsBefore - 1];
      if (second === undefined) {
        resumeFaults.push('a subscriber of B never reopened');
      } else if (second.origin === b.url) {
        resumeFaults.push('reopened on B itself');
      } else if (second.lastEventId !== lastSeen) {
        resumeFaults.push(`resumed after "${second.lastEventId}", not its last id "${lastSeen}"`);
      }
    }

    await sleep(Math.max(0, p.downMs - (performance.now() - killAt)));
    // B again, on its port: the addresses the clients know are valid again.
    const restartAt = performance.now();
    const b2 = await restartNode(b, engine, flags);
    const restartMs = performance.now() - restartAt;
    nodes[1] = b2;
    alive.add(1);
    // Rebalance: B's subscribers leave the node they failed over to and come home.
    const rebalanceAt = performance.now();
    await Promise.all(
      displaced.map(async (booked) => {
        booked.sub.drop();
        await booked.sub.connect();
        booked.group = 'home B: B→other→B';
      }),
    );
    const rebalanceMs = performance.now() - rebalanceAt;
    const backHome = displaced.filter(
      ({ sub }) => sub.open && sub.opens.at(-1)?.origin === b2.url,
    ).length;
    ctx.log(`failover/${kind}: B restarted in ${ms(restartMs)}; ${backHome} subscribers back on B`);

    await sleep(p.afterMs);
    await publisher.stop();
    const elapsed = (performance.now() - started) / 1000;

    const endMarker = await publishMarker(a.url, token, topics);
    await settlesWithin(
      Promise.all(subs.map(({ sub }) => sub.until(() => sub.lastEventId === endMarker))),
      30_000,
    );
    const stragglers = subs.filter(({ sub }) => sub.lastEventId !== endMarker).length;
    const log = await readLog(nodes[2]!.url, startMarker, endMarker);
    const openStreams = await settleOpenStreams(nodes, p.subscribers);

    const books = reconcile(publisher.attempts, log ?? [], endMarker, topics);
    const { sum, table, unclean } = audit(books.published, subs);
    const failures = publisher.attempts.filter((x) => x.status !== 200);
    // A publish may lose its answer only if it was in flight to B when B died.
    const inFlightAtKill = (x: (typeof failures)[number]): boolean =>
      x.target === b.url && x.sentAt <= killedAt && (x.answeredAt ?? Infinity) >= killAt;
    const strayFailures = failures.filter((x) => !inFlightAtKill(x));
    const strayStored = books.storedUnanswered.filter((s) => !inFlightAtKill(s.attempt));
    const reconnects = subs.reduce((n, { sub }) => n + sub.connections, 0) - subs.length;
    const statuses = [...publisher.statuses()].map(([s, n]) => `${s === 0 ? 'no answer' : s}×${n}`);

    const report = [
      `3 nodes over ${kind}; ${p.subscribers} subscribers (${displaced.length} on B); ${books.accepted} publishes answered 200 in ${elapsed.toFixed(1)} s (${(books.accepted / elapsed).toFixed(0)}/s; answers: ${statuses.join(' ')})`,
      `B SIGKILLed after ${(p.beforeMs / 1000).toFixed(1)} s: its subscribers reopened on another node within ${ms(failoverMs)} (median ${ms(failoverMedianMs)}); B restarted in ${ms(restartMs)}, ${backHome}/${displaced.length} moved back in ${ms(rebalanceMs)}`,
      `engine log: ${log === undefined ? 'NOT READ (the end marker did not arrive)' : `${log.length} events`}; 200s missing from it ${books.missingFromLog.length}; stored without a 200 (in flight at the kill) ${books.storedUnanswered.length}; unexplained ${books.unexplained.length}`,
      table,
      unclean.length > 0 ? `unclean: ${unclean.slice(0, 5).join(' | ')}` : '',
      resumeFaults.length > 0 ? `resume faults: ${resumeFaults.slice(0, 5).join('; ')}` : '',
    ]
      .filter((line) => line !== '')
      .join('\n');

    return {
      checks: [
        check(
          'every subscriber clean (lost, dup, order, leak = 0)',
          unclean.length === 0 && log !== undefined,
          `lost ${sum.lost}, duplicated ${sum.duplicated}, out of order ${sum.outOfOrder}, unexpected ${sum.unexpected}`,
        ),
        check(
          'every loss announced by a herald.gap',
          sum.lost === 0,
          `${sum.lostInGap} events lost inside ${sum.gaps} announced gaps`,
        ),
        check(
          "B's subscribers resumed on another node after the last id they had",
          displaced.length > 0 && resumeFaults.length === 0,
          `${displaced.length - resumeFaults.length}/${displaced.length}; last reopened ${ms(failoverMs)} after the kill`,
        ),
        check(
          'restarted B took its subscribers back',
          backHome === displaced.length,
          `${backHome}/${displaced.length} open on B`,
        ),
        check('every subscriber caught up', stragglers === 0, `${stragglers} stragglers`),
        check(
          "the engine's log holds every 200 and nothing else but publishes in flight at the kill",
          log !== undefined &&
            books.missingFromLog.length === 0 &&
            books.unexplained.length === 0 &&
            strayStored.length === 0,
          `missing ${books.missingFromLog.length}, unexplained ${books.unexplained.length}, stored without a 200 ${books.storedUnanswered.length} (${strayStored.length} not in flight at the kill)`,
        ),
        check(
          'only publishes in flight to B at the kill went unanswered',
          strayFailures.length === 0,
          `${failures.length} without a 200, ${strayFailures.length} of them elsewhere or later`,
        ),
        check(
          'no stream leaked on the nodes',
          openStreams === p.subscribers,
          `herald_connections over the nodes ${openStreams}, subscribers ${p.subscribers}`,
        ),
      ],
      report,
      figures: {
        subscribers: p.subscribers,
        displaced: displaced.length,
        published: books.accepted,
        storedUnanswered: books.storedUnanswered.length,
        unanswered: failures.length,
        expected: sum.expected,
        received: sum.received,
        lost: sum.lost,
        duplicated: sum.duplicated,
        outOfOrder: sum.outOfOrder,
        unexpected: sum.unexpected,
        gaps: sum.gaps,
        lostInGap: sum.lostInGap,
        reconnects,
        failoverMs: Math.round(failoverMs ?? Number.NaN),
        failoverMedianMs: Math.round(failoverMedianMs ?? Number.NaN),
        restartMs: Math.round(restartMs),
        rebalanceMs: Math.round(rebalanceMs),
        backHome,
        stragglers,
      },
    };
  } finally {
    for (const { sub } of subs) sub.stop();
    await Promise.all([...nodes, ...dead].map((node) => node.kill('SIGKILL')));
    await engine?.stop();
  }
}
