// A Last-Event-ID shaped like a Redis stream id but out of its range (issue 14, item 13).
//
// `99999999999999999999-0` looks like `<ms>-<seq>` but its first part is above 2^64 − 1: Redis
// refuses it in `XRANGE`, the replay failed, and the client got an empty stream with no gap
// event — and reconnected in a loop, each attempt logging a stack trace. Such ids name no event:
// the hub must answer like for any unknown id, with `herald.gap` and the retained events.
//
// Attackers resume with such ids in a loop; each answer must be a 200 whose first event is
// herald.gap, followed by the retained events. A reader with a real id still resumes without a
// gap.
import { get } from 'node:http';
import { createParser } from 'eventsource-parser';
import { findBinary } from '../../test/helpers/binary.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import { publishOnce } from '../lib/publisher.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { table } from '../lib/table.js';
import { settlesWithin, sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

/** Ids shaped like a stream id that Redis refuses (a part above 2^64 − 1), and odd neighbours. */
const HUGE_IDS = [
  '99999999999999999999-0',
  '18446744073709551616-0',
  '0-18446744073709551616',
  '1-99999999999999999999',
  `${'9'.repeat(400)}-${'9'.repeat(400)}`,
  '18446744073709551615-18446744073709551615',
];

const PARAMS: Record<ScenarioContext['size'], { attackers: number; retained: number }> = {
  full: { attackers: 16, retained: 100 },
  quick: { attackers: 8, retained: 50 },
  test: { attackers: 2, retained: 5 },
};

/** How one resume attempt was answered. */
type Outcome = 'gap' | 'no-gap' | 'refused' | 'failed';

/** Resumes after `id` and reads until the first event (or the end of the stream, or 3 s). */
function resume(url: string, id: string): Promise<{ outcome: Outcome; status: number }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: Outcome, status: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ outcome, status });
    };
    const req = get(
      `${url}/.well-known/mercure?topic=/feed`,
      { agent: false, headers: { 'last-event-id': id } },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          done('refused', status);
          return;
        }
        const parser = createParser({
          onEvent: (event) => done(event.event === 'herald.gap' ? 'gap' : 'no-gap', status),
        });
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => parser.feed(chunk));
        // The stream ended before any event: what the failed replay did.
        res.on('end', () => done('no-gap', status));
        res.on('error', () => done('failed', status));
      },
    );
    req.on('error', () => done('failed', 0));
    const timer = setTimeout(() => done('no-gap', 200), 3000);
  });
}

/** Issue 14, item 13: out-of-range Redis stream ids as `Last-Event-ID` are unknown ids. */
export const redisHugeId: Scenario = {
  name: 'attack-redis-huge-id',
  summary:
    'resumes with Last-Event-ID 99999999999999999999-0 and other out-of-range stream ids (Redis engine): herald.gap every time, no reconnect loop',
  needs: ['redis-server'],
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    if (findBinary('redis-server') === undefined) throw new Error('redis-server is not installed');
    const redis = await startRedis();
    const hub = await ctx.startHub([...KEY_FLAGS, '--anonymous', '--engine', redis.url]);
    try {
      const token = await publisherToken();
      const ids: string[] = [];
      for (let i = 0; i < p.retained; i++) {
        const answer = await publishOnce(hub.url, token, { topics: ['/feed'], data: `f${i}` });
        ids.push(answer.body);
      }
      const outcomes = new Map<Outcome, number>();
      const byId = new Map<string, Map<Outcome, number>>();
      let attempts = 0;
      let running = true;
      const attacker = async (n: number): Promise<void> => {
        for (let i = n; running; i++) {
          const id = HUGE_IDS[i % HUGE_IDS.length]!;
          const { outcome } = await resume(hub.url, id);
          attempts++;
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          const per = byId.get(id) ?? new Map<Outcome, number>();
          per.set(outcome, (per.get(outcome) ?? 0) + 1);
          byId.set(id, per);
          // A client that got no gap reconnects at once (what the reconnect loop was).
          if (outcome !== 'gap') await sleep(10);
        }
      };
      const started = performance.now();
      const { figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            return Array.from({ length: p.attackers }, (_, n) => attacker(n));
          },
          async withdraw(loops) {
            running = false;
            await Promise.all(loops);
          },
        },
      );
      const seconds = (performance.now() - started) / 1000;

      // A reader with a real id is not affected.
      const reader = new AccountingSubscriber({ url: hub.url, topics: ['/feed'] });
      reader.lastEventId = ids[0]!;
      await reader.connect();
      const last = ids.at(-1)!;
      const caughtUp = await settlesWithin(
        reader.until(() => reader.lastEventId === last),
        10_000,
      );
      reader.stop();

      const gap = outcomes.get('gap') ?? 0;
      const rows = HUGE_IDS.map((id) => {
        const per = byId.get(id) ?? new Map();
        return [
          id.length > 44 ? `${id.slice(0, 20)}…(${id.length} chars)` : id,
          per.get('gap') ?? 0,
          per.get('no-gap') ?? 0,
          (per.get('refused') ?? 0) + (per.get('failed') ?? 0),
        ];
      });
      const report = [
        `${p.attackers} attackers resuming in a loop with out-of-range stream ids, ${p.retained} events retained`,
        table(['Last-Event-ID', 'herald.gap first', 'no gap / empty', 'refused / failed'], rows),
        `${attempts} attempts in ${seconds.toFixed(1)} s (${(attempts / seconds).toFixed(0)}/s); a reader with a real id: ${reader.gaps.length} gaps, ${reader.received.length} of ${ids.length - 1} events`,
        attackReport(figures),
      ].join('\n');
      return {
        checks: [
          check(
            'every out-of-range id is answered 200 with herald.gap first',
            attempts > 0 && gap === attempts,
            `${gap} of ${attempts} (${outcomes.get('no-gap') ?? 0} without a gap, ${(outcomes.get('refused') ?? 0) + (outcomes.get('failed') ?? 0)} refused or failed)`,
          ),
          check(
            'a reader with a real id resumes without a gap, missing nothing',
            caughtUp && reader.gaps.length === 0 && reader.received.length === ids.length - 1,
            `${reader.gaps.length} gaps, ${reader.received.length} of ${ids.length - 1} events`,
          ),
          ...boundChecks(figures),
        ],
        report,
        figures: {
          attempts,
          gapAnswers: gap,
          noGapAnswers: outcomes.get('no-gap') ?? 0,
          refused: (outcomes.get('refused') ?? 0) + (outcomes.get('failed') ?? 0),
          attemptsPerSec: Math.round(attempts / seconds),
          ...attackFigureRecord(figures),
        },
      };
    } finally {
      await hub.close();
      await redis.stop();
    }
  },
};
