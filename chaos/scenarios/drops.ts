// Random client drops and reconnects during a steady publish stream (memory engine).
//
// Subscribers with mixed selectors and permissions (`*`, one or two topics; tokens allowing all,
// some or no private updates; anonymous) are dropped at random moments — in the middle of an
// event, during a replay, before the hub answered — and come back after a random downtime with
// their last event id (header or `lastEventID` query, as EventSource and polyfills do). Most
// downtimes are short; some outlast the bounded history, which must then produce a
// `herald.gap`. At the end every subscriber's ledger is checked against what was published:
// nothing lost outside an announced gap, nothing twice, nothing out of order, nothing it was not
// entitled to.
import {
  ACCOUNT_COLUMNS,
  type Account,
  account,
  accountCells,
  clean,
  total,
} from '../lib/accounting.js';
import { SteadyPublisher } from '../lib/publisher.js';
import { seeded } from '../lib/random.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { table } from '../lib/table.js';
import { settlesWithin, sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken, subscriberToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface DropsParams {
  subscribers: number;
  drops: number;
  /** Publishes per second. */
  rate: number;
  topics: number;
  /** --history-size: events the hub keeps for resuming. */
  history: number;
  /** Over how long the drops are spread, ms. */
  windowMs: number;
  /** Short downtimes, ms. */
  shortDown: [number, number];
  /** Long downtimes (some beyond what the history holds), ms. */
  longDown: [number, number];
  /** Share of drops with a long downtime. */
  longShare: number;
}

const PARAMS: Record<ScenarioContext['size'], DropsParams> = {
  // 1000 drops over 40 s; history holds 3 s of events, long downtimes last 2–6 s.
  full: {
    subscribers: 100,
    drops: 1000,
    rate: 200,
    topics: 8,
    history: 600,
    windowMs: 40_000,
    shortDown: [0, 300],
    longDown: [2000, 6000],
    longShare: 0.05,
  },
  quick: {
    subscribers: 30,
    drops: 200,
    rate: 150,
    topics: 6,
    history: 300,
    windowMs: 8000,
    shortDown: [0, 200],
    longDown: [1000, 4000],
    longShare: 0.08,
  },
  test: {
    subscribers: 8,
    drops: 40,
    rate: 100,
    topics: 4,
    history: 100,
    windowMs: 2000,
    shortDown: [0, 100],
    longDown: [600, 2000],
    longShare: 0.15,
  },
};

export const drops: Scenario = {
  name: 'drops',
  summary:
    'random client drops and reconnects (Last-Event-ID) during a steady publish stream, memory engine',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const rand = seeded(ctx.seed);
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--history-size',
      String(p.history),
      '--max-connections-per-ip',
      '0',
      '--heartbeat',
      '1s',
    ]);
    try {
      const topics = Array.from({ length: p.topics }, (_, i) => `/chaos/drops/${i}`);
      const pubToken = await publisherToken();
      const subs: Array<{
        sub: AccountingSubscriber;
        topics: string[];
        authorized: string[];
        label: string;
      }> = [];
      for (let i = 0; i < p.subscribers; i++) {
        const selectors = rand.chance(0.3)
          ? ['*']
          : rand.chance(0.5)
            ? [rand.pick(topics)]
            : [...new Set([rand.pick(topics), rand.pick(topics)])];
        const access = rand.next();
        const authorized =
          access < 0.3 ? ['*'] : access < 0.7 ? [rand.pick(topics), rand.pick(topics)] : [];
        const token =
          authorized.length === 0 && rand.chance(0.5)
            ? undefined
            : await subscriberToken(authorized);
        const sub = new AccountingSubscriber({
          url: hub.url,
          topics: selectors,
          ...(token === undefined ? {} : { token }),
          resumeViaQuery: () => rand.chance(0.3),
        });
        subs.push({
          sub,
          topics: selectors,
          authorized,
          label: `${selectors.join(',').replaceAll('/chaos/drops/', 't')} priv:${
            authorized.length === 0
              ? token === undefined
                ? 'anon'
                : 'none'
              : authorized.join(',').replaceAll('/chaos/drops/', 't')
          }`,
        });
      }
      // One update before anyone subscribes, so every stream starts after a known id (the
      // response's Last-Event-ID) and a drop before a subscriber's first event can resume.
      await publishMarker(hub.url, pubToken, topics);
      await Promise.all(subs.map(({ sub }) => sub.connect()));
      ctx.log(`drops: ${p.subscribers} subscribers connected; publishing ${p.rate}/s`);

      const publisher = new SteadyPublisher({
        url: hub.url,
        token: pubToken,
        rate: p.rate,
        next: (n) => ({
          topics: rand.chance(0.2) ? [rand.pick(topics), rand.pick(topics)] : [rand.pick(topics)],
          data: JSON.stringify({ n, pad: 'x'.repeat(rand.int(0, 200)) }),
          private: rand.chance(0.25),
        }),
      });
      publisher.start();

      // The drops: spread over the window; each picks a subscriber that is connected or
      // connecting and takes it down for a while.
      let done = 0;
      let long = 0;
      // Drops of a stream the hub had answered (the others hit a connection still waiting for
      // its answer): each ended a connection of its own, so a subscriber that ends up connected
      // had at least one answered connection more than it had such drops.
      let openDrops = 0;
      const downs: Promise<void>[] = [];
      const started = Date.now();
      while (done < p.drops) {
        const due = started + ((done + 1) * p.windowMs) / p.drops;
        await sleep(Math.max(0, due - Date.now()));
        const candidates = subs.filter(({ sub }) => sub.active);
        if (candidates.length === 0) continue;
        const { sub } = rand.pick(candidates);
        const isLong = rand.chance(p.longShare);
        if (isLong) long++;
        const [min, max] = isLong ? p.longDown : p.shortDown;
        const downtime = rand.int(min, max);
        if (sub.open) openDrops++;
        sub.drop();
        done++;
        downs.push(sleep(downtime).then(() => sub.connect()));
        if (done % Math.max(1, Math.floor(p.drops / 10)) === 0) {
          ctx.log(`drops: ${done}/${p.drops} done (${long} long)`);
        }
      }
      await Promise.all(downs);
      await publisher.stop();
      const elapsed = (Date.now() - started) / 1000;

      // A final update every subscriber matches: once each has it, its ledger is complete.
      const marker = await publishMarker(hub.url, pubToken, topics);
      const published = [...publisher.ordered(), { id: marker, topics, private: false }];
      await settlesWithin(
        Promise.all(subs.map(({ sub }) => sub.until(() => sub.lastEventId === marker))),
        30_000,
      );
      const stragglers = subs.filter(({ sub }) => sub.lastEventId !== marker).length;
      const openOnHub = (await hub.metrics()).get('herald_connections') ?? -1;

      const accounts: Account[] = subs.map(({ sub, topics: selectors, authorized }) =>
        account(published, {
          topics: selectors,
          authorized,
          received: sub.received,
          gaps: sub.gaps,
        }),
      );
      for (const { sub } of subs) sub.stop();
      const sum = total(accounts);
      const rows = accounts.map((a, i) => [
        i,
        subs[i]!.label,
        subs[i]!.sub.connections,
        ...accountCells(a),
      ]);
      const header = ['#', 'selectors / private', 'conns', ...ACCOUNT_COLUMNS];
      rows.push([
        'all',
        '',
        subs.reduce((n, { sub }) => n + sub.connections, 0),
        ...accountCells(sum),
      ]);
      const refused = [...publisher.refused].map(([s, n]) => `${s}×${n}`).join(' ') || 'none';
      const report = [
        `${published.length} updates published in ${elapsed.toFixed(1)} s (${(published.length / elapsed).toFixed(0)}/s; refused: ${refused}; network failures: ${publisher.failures}), history ${p.history} events`,
        `${done} drops (${long} with a long downtime of ${p.longDown[0]}–${p.longDown[1]} ms), ${p.subscribers} subscribers`,
        table(header, rows),
        sum.examples.length > 0 ? `examples: ${sum.examples.join('; ')}` : '',
      ]
        .filter((line) => line !== '')
        .join('\n');
      return {
        checks: [
          check(
            'every subscriber clean (lost, dup, order, leak = 0)',
            accounts.every(clean),
            `lost ${sum.lost}, duplicated ${sum.duplicated}, out of order ${sum.outOfOrder}, unexpected ${sum.unexpected}`,
          ),
          check(
            'every loss announced by a herald.gap',
            sum.lost === 0,
            `${sum.lostInGap} events lost inside ${sum.gaps} announced gaps`,
          ),
          check('every subscriber caught up', stragglers === 0, `${stragglers} stragglers`),
          check(
            'no connection leaked on the hub',
            openOnHub === p.subscribers,
            `herald_connections ${openOnHub}, subscribers ${p.subscribers}`,
          ),
          check(`all ${p.drops} drops done`, done === p.drops, `${done} drops, ${long} long`),
          check(
            'no publish refused',
            publisher.refused.size === 0 && publisher.failures === 0,
            `refused: ${refused}`,
          ),
        ],
        report,
        figures: {
          published: published.length,
          drops: done,
          openDrops,
          longDrops: long,
          connections: subs.reduce((n, { sub }) => n + sub.connections, 0),
          expected: sum.expected,
          received: sum.received,
          lost: sum.lost,
          duplicated: sum.duplicated,
          outOfOrder: sum.outOfOrder,
          unexpected: sum.unexpected,
          gaps: sum.gaps,
          lostInGap: sum.lostInGap,
          stragglers,
        },
      };
    } finally {
      await hub.close();
    }
  },
};

/** Publishes the end marker to every topic; returns its id. */
async function publishMarker(url: string, token: string, topics: string[]): Promise<string> {
  const form = new URLSearchParams();
  for (const topic of topics) form.append('topic', topic);
  form.set('data', 'end');
  const res = await fetch(`${url}/.well-known/mercure`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`the end marker was refused: ${res.status} ${body}`);
  return body;
}
