// Flushing the shared history with subscription events (issue 14, item 8).
//
// With --subscriptions, the hub publishes one subscription event per selector when a subscriber
// connects and one when it leaves. An anonymous client with 1,000 selectors that connects and
// disconnects in a loop makes 2,000 events per cycle: six cycles replaced all 10,000 events of
// the default history, and readers of an ordinary topic resuming with Last-Event-ID got
// herald.gap — their events were gone. With the subscription events in a retention class of
// their own, the attacker only evicts subscription events.
//
// The scenario: readers of `/news` get the first news, then go away; attackers cycle (more
// subscription events than the history holds); news keep coming meanwhile; then the readers
// resume. Each reader must get every news event once, in order, and no herald.gap. Run over the
// memory engine, and over Redis and NATS where their servers are installed.
//
// The same loop made 140,000-450,000 subscription events in ten seconds, and the healthy
// publisher -> subscriber pair beside it fell to 1-39 % of its throughput. The attackers now
// come from an address of their own (127.0.0.2) and meet --subscription-events-rate at its
// default: a subscribe whose events do not fit the address's budget gets 429 with Retry-After
// and a reason naming the flag, before any event is published. A watcher of every subscription
// event (a JWT for /.well-known/mercure/subscriptions/{+rest}) must see each accepted
// subscription's opening and closing events once each, and none of a refused one. Afterwards,
// with the budget full again: a subscribe refused for another reason (400) gives its charge
// back, so the next one fits, and the one after it does not; every connection slot comes back.
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import type { EventSourceMessage } from 'eventsource-parser';
import { SUBSCRIPTION_TOPICS } from '../../src/server/subscriptions.js';
import { findBinary } from '../../test/helpers/binary.js';
import { startNats } from '../../test/helpers/nats-server.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { account, clean, total } from '../lib/accounting.js';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import { publishOnce, SteadyPublisher } from '../lib/publisher.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { table } from '../lib/table.js';
import { settlesWithin, sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken, subscriberToken } from '../lib/tokens.js';
import {
  type Check,
  check,
  type Scenario,
  type ScenarioContext,
  type ScenarioResult,
} from '../scenario.js';

interface Params {
  /** --history-size (and the subscription events' own bound). */
  history: number;
  /** Selectors per attacking subscription. */
  selectors: number;
  /** Attackers cycling at once. */
  attackers: number;
  /** Cycles the attack makes at least (each: connect, disconnect). */
  minCycles: number;
  /** Readers of /news. */
  readers: number;
  /** News published before the readers leave. */
  newsBefore: number;
  /** News per second while they are away. */
  newsRate: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: {
    history: 10_000,
    selectors: 1000,
    attackers: 2,
    minCycles: 8,
    readers: 8,
    newsBefore: 500,
    newsRate: 20,
  },
  quick: {
    history: 10_000,
    selectors: 1000,
    attackers: 2,
    minCycles: 6,
    readers: 4,
    newsBefore: 200,
    newsRate: 10,
  },
  test: {
    history: 300,
    selectors: 300,
    attackers: 1,
    minCycles: 2,
    readers: 2,
    newsBefore: 30,
    newsRate: 10,
  },
};

type EngineKind = 'memory' | 'redis' | 'nats';

/** Whether an engine's server is installed (memory always is). */
function available(kind: EngineKind): boolean {
  if (kind === 'memory') return true;
  if (kind === 'redis') return findBinary('redis-server') !== undefined;
  return findBinary('nats-server') !== undefined || existsSync('/usr/sbin/nats-server');
}

/** Starts the engine's server, if it needs one: its --engine URL and how to stop it. */
async function engineServer(kind: EngineKind): Promise<{ url: string; stop(): Promise<void> }> {
  if (kind === 'memory') return { url: 'memory:', stop: async () => {} };
  const server = kind === 'redis' ? await startRedis() : await startNats();
  return { url: server.url, stop: () => server.stop() };
}

/** The attackers' address: not the healthy clients' (127.0.0.1), as on a real network. */
const ATTACKER_ADDRESS = '127.0.0.2';

/** What one attacking subscribe got. */
interface AttackAnswer {
  status: number;
  /** The Retry-After header and the body, of a refusal. */
  retryAfter: string | undefined;
  reason: string;
  close(): void;
}

/**
 * One attacking subscription from {@link ATTACKER_ADDRESS}: connects with `selectors`
 * selectors, resolves on its answer (a refusal's body read).
 */
function connectAttacker(
  url: string,
  selectors: readonly string[],
  query: Record<string, string> = {},
): Promise<AttackAnswer> {
  const params = new URLSearchParams();
  for (const s of selectors) params.append('topic', s);
  for (const [name, value] of Object.entries(query)) params.append(name, value);
  return new Promise((resolve) => {
    const req = get(
      `${url}/.well-known/mercure?${params}`,
      { agent: false, localAddress: ATTACKER_ADDRESS },
      (res) => {
        const status = res.statusCode ?? 0;
        const close = (): void => {
          req.destroy();
        };
        if (status === 200) {
          res.resume();
          resolve({ status, retryAfter: undefined, reason: '', close });
          return;
        }
        let reason = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          reason += chunk;
        });
        res.on('end', () =>
          resolve({ status, retryAfter: res.headers['retry-after'], reason, close }),
        );
        res.on('error', () =>
          resolve({ status, retryAfter: res.headers['retry-after'], reason, close }),
        );
      },
    );
    req.on('error', () =>
      resolve({ status: 0, retryAfter: undefined, reason: '', close: () => {} }),
    );
  });
}

/** Whether a refusal is the subscription-events bound's: 429, Retry-After, the flag named. */
function isEventBound(answer: AttackAnswer): boolean {
  return (
    answer.status === 429 &&
    Number(answer.retryAfter) >= 1 &&
    answer.reason.includes('--subscription-events-rate')
  );
}

/** The subscription events a watcher saw: per subscriber, `topic active` → how many times. */
class SubscriptionEventBook {
  readonly bySubscriber = new Map<string, Map<string, number>>();
  events = 0;

  add(event: EventSourceMessage): void {
    if (!event.data.startsWith('{')) return;
    const r = JSON.parse(event.data) as { subscriber: string; topic: string; active: boolean };
    this.events++;
    let seen = this.bySubscriber.get(r.subscriber);
    if (seen === undefined) {
      seen = new Map();
      this.bySubscriber.set(r.subscriber, seen);
    }
    const key = `${r.topic} ${r.active}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }

  /**
   * The subscribers whose selectors are exactly `selectors` (the attackers'), and how many of
   * them got each opening and closing event exactly once.
   */
  attackers(selectors: readonly string[]): { subscribers: number; complete: number } {
    const first = `${selectors[0]} true`;
    let subscribers = 0;
    let complete = 0;
    for (const seen of this.bySubscriber.values()) {
      if (!seen.has(first) && !seen.has(`${selectors[0]} false`)) continue;
      subscribers++;
      const once =
        seen.size === 2 * selectors.length &&
        selectors.every((s) => seen.get(`${s} true`) === 1 && seen.get(`${s} false`) === 1);
      if (once) complete++;
    }
    return { subscribers, complete };
  }
}

/** What one engine's run found. */
interface EngineRun {
  kind: EngineKind;
  checks: Check[];
  rows: unknown[][];
  report: string;
  figures: Record<string, number>;
}

async function runOn(ctx: ScenarioContext, kind: EngineKind, p: Params): Promise<EngineRun> {
  const engine = await engineServer(kind);
  const hub = await ctx.startHub([
    ...KEY_FLAGS,
    '--anonymous',
    '--subscriptions',
    '--engine',
    engine.url,
    '--history-size',
    String(p.history),
    // The healthy pair beside the attack publishes on /bystander as fast as the hub goes (300/s
    // and more on an idle machine): in the default class it would evict the readers' /news in
    // the short variant's 300-event history. A busy topic gets a class of its own.
    '--history-topic',
    `/bystander=${p.history}`,
  ]);
  try {
    const token = await publisherToken();
    const readers = Array.from(
      { length: p.readers },
      () => new AccountingSubscriber({ url: hub.url, topics: ['/news'] }),
    );
    // A shared engine may still be starting (503): readers retry until their stream is open.
    await Promise.all(readers.map((r) => r.connect()));
    for (let i = 0; i < 500 && !readers.every((r) => r.open); i++) await sleep(20);
    const published: string[] = [];
    for (let i = 0; i < p.newsBefore; i++) {
      const answer = await publishOnce(hub.url, token, { topics: ['/news'], data: `n${i}` });
      if (answer.status === 200) published.push(answer.body);
    }
    const last = published.at(-1);
    await settlesWithin(
      Promise.all(readers.map((r) => r.until(() => r.lastEventId === last))),
      20_000,
    );

    // Every subscription event, private: a JWT that may receive them.
    const book = new SubscriptionEventBook();
    const watcher = new AccountingSubscriber({
      url: hub.url,
      topics: [SUBSCRIPTION_TOPICS],
      token: await subscriberToken([SUBSCRIPTION_TOPICS]),
      record: false,
      onEvent: (event) => book.add(event),
    });
    await watcher.connect();
    for (let i = 0; i < 500 && !watcher.open; i++) await sleep(20);

    const selectors = Array.from({ length: p.selectors }, (_, i) => `s${i}`);
    let cycles = 0;
    let refused = 0;
    let badRefusals = 0;
    let lastBad = '';
    let attacking = true;
    const news = new SteadyPublisher({
      url: hub.url,
      token,
      rate: p.newsRate,
      concurrency: 1,
      next: (n) => ({ topics: ['/news'], data: `away${n}` }),
    });
    const attack = async (): Promise<void> => {
      while (attacking || cycles < p.minCycles) {
        const a = await connectAttacker(hub.url, selectors);
        if (a.status === 200) {
          await sleep(20);
          a.close();
          cycles++;
        } else {
          // An attacker does not wait for Retry-After: it is back in 100 ms. Not sooner, so that
          // the attack is the subscription events and not a request flood (a refused subscribe
          // costs what a /healthz request does; requests per address are not bounded).
          refused++;
          await sleep(80);
          if (!isEventBound(a)) {
            badRefusals++;
            lastBad = `${a.status} ${a.reason}`;
          }
        }
        await sleep(20);
      }
    };
    const { figures } = await underAttack(
      hub,
      { size: ctx.size, publisherToken: token },
      {
        async launch() {
          for (const r of readers) r.drop();
          news.start();
          return Array.from({ length: p.attackers }, () => attack());
        },
        async withdraw(loops) {
          attacking = false;
          await Promise.all(loops);
          await news.stop();
        },
      },
    );
    // Let the last subscription events land before the readers come back, and the attackers'
    // budget (2,000 events, refilled at 1,000/s) fill up again.
    await sleep(2200);
    // The budget comes back whole: a subscribe refused for another reason (a control character
    // in lastEventID: 400) was charged and gave the charge back, so the next one fits the
    // budget exactly and the one after it does not.
    const full = Array.from({ length: 1000 }, (_, i) => `b${i}`);
    const invalid = await connectAttacker(hub.url, full, { lastEventID: 'a\u0001b' });
    const fits = await connectAttacker(hub.url, full);
    const over = await connectAttacker(hub.url, full);
    fits.close();
    over.close();
    const budget = { invalid: invalid.status, fits: fits.status, over: isEventBound(over) };
    await Promise.all(readers.map((r) => r.connect()));
    const end = await publishOnce(hub.url, token, { topics: ['/news'], data: 'end' });
    const arrived = await settlesWithin(
      Promise.all(readers.map((r) => r.until(() => r.lastEventId === end.body))),
      30_000,
    );
    for (const r of readers) r.stop();
    // Every accepted subscription's closing events reach the watcher (the last one's too).
    const attackers = (): { subscribers: number; complete: number } => book.attackers(selectors);
    await settlesWithin(
      (async () => {
        for (let i = 0; i < 1500 && attackers().complete < cycles; i++) await sleep(20);
      })(),
      30_000,
    );
    const seen = attackers();
    watcher.stop();
    // Every slot comes back: the refused subscribes held none, the others closed.
    let slots = Number.NaN;
    for (let i = 0; i < 250; i++) {
      slots = await hub.metrics().then(
        (m) => m.get('herald_connections') ?? Number.NaN,
        () => Number.NaN,
      );
      if (slots === 0) break;
      await sleep(20);
    }

    const all = [...published, ...news.ordered().map((u) => u.id), end.body].map((id) => ({
      id,
      topics: ['/news'],
    }));
    const books = total(
      readers.map((r) => account(all, { topics: ['/news'], received: r.received, gaps: r.gaps })),
    );
    const subscriptionEvents = cycles * 2 * p.selectors;
    const checks: Check[] = [
      check(
        `${kind}: the attack published more subscription events than the history holds`,
        subscriptionEvents > p.history,
        `${cycles} cycles accepted × ${p.selectors} selectors × 2 = ${subscriptionEvents} events, history ${p.history}`,
      ),
      check(
        `${kind}: each subscribe past the address's budget is a 429 with Retry-After naming --subscription-events-rate`,
        badRefusals === 0,
        `${refused} refused, ${badRefusals} otherwise${lastBad === '' ? '' : ` (last: ${lastBad.slice(0, 200)})`}`,
      ),
      check(
        `${kind}: every accepted subscription's opening and closing events reach a watcher once each, a refused one's never`,
        seen.subscribers === cycles && seen.complete === cycles,
        `${cycles} accepted; the watcher saw ${seen.subscribers} attacking subscribers, ${seen.complete} with each of their ${2 * p.selectors} events exactly once (${book.events} subscription events in all)`,
      ),
      check(
        `${kind}: a refused subscribe gives its charge back; the budget then holds one 1,000-selector subscription`,
        budget.invalid === 400 && budget.fits === 200 && budget.over,
        `400 for a bad lastEventID: ${budget.invalid}; then ${budget.fits}; then ${over.status} ${over.reason.slice(0, 120)}`,
      ),
      check(
        `${kind}: every connection slot comes back`,
        slots === 0,
        `herald_connections ${slots} once every client left`,
      ),
      check(
        `${kind}: readers of /news resume without herald.gap`,
        books.gaps === 0 && arrived,
        `${books.gaps} gaps over ${p.readers} readers${arrived ? '' : '; not every reader got the last event'}`,
      ),
      check(
        `${kind}: every /news event once, in order`,
        clean(books) && books.lostInGap === 0 && books.expected === all.length * p.readers,
        `expected ${books.expected}, received ${books.received}, lost ${books.lost} (+${books.lostInGap} in gaps), dup ${books.duplicated}, order ${books.outOfOrder}`,
      ),
      ...boundChecks(figures).map((c) => ({
        ...c,
        name: c.name.replace('bound: ', `bound: ${kind}: `),
      })),
    ];
    return {
      kind,
      checks,
      rows: [
        [
          kind,
          cycles,
          subscriptionEvents,
          all.length,
          books.received,
          books.gaps,
          books.lost + books.lostInGap,
          books.duplicated,
        ],
      ],
      report: `${kind}:\n${attackReport(figures)}`,
      figures: {
        cycles,
        subscriptionEvents,
        news: all.length,
        gaps: books.gaps,
        lost: books.lost + books.lostInGap,
        duplicated: books.duplicated,
        refused,
        badRefusals,
        watcherSubscribers: seen.subscribers,
        watcherComplete: seen.complete,
        budgetInvalid: budget.invalid,
        budgetFits: budget.fits,
        budgetOver: budget.over ? 1 : 0,
        slotsAfter: slots,
        ...attackFigureRecord(figures),
      },
    };
  } finally {
    await hub.close();
    await engine.stop();
  }
}

/** Issue 14, item 8: subscribers coming and going cannot flush other topics' history. */
export const historyFlush: Scenario = {
  name: 'attack-history-flush',
  summary:
    'subscribers with 1,000 selectors connect and leave in a loop (--subscriptions): readers of another topic resume without herald.gap, nothing lost',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const kinds = (['memory', 'redis', 'nats'] as const).filter(available);
    const runs: EngineRun[] = [];
    for (const kind of kinds) {
      ctx.log(`attack-history-flush: ${kind}`);
      runs.push(await runOn(ctx, kind, p));
    }
    const skipped = (['memory', 'redis', 'nats'] as const).filter((k) => !kinds.includes(k));
    const report = [
      `--subscriptions, --history-size ${p.history}; ${p.attackers} attacker(s) with ${p.selectors} selectors each; ${p.readers} readers of /news away during the attack`,
      table(
        ['engine', 'cycles', 'subscription events', 'news', 'received', 'gaps', 'lost', 'dup'],
        runs.flatMap((r) => r.rows),
      ),
      ...runs.map((r) => r.report),
      ...(skipped.length > 0 ? [`not run (server not installed): ${skipped.join(', ')}`] : []),
    ].join('\n');
    const figures: Record<string, number | string> = {};
    for (const r of runs) {
      for (const [key, value] of Object.entries(r.figures)) figures[`${r.kind}.${key}`] = value;
    }
    return { checks: runs.flatMap((r) => r.checks), report, figures };
  },
};
