// A publisher flood beyond the configured rate (--publish-rate).
//
// One publisher token floods the hub with as many publishes as C concurrent requests can carry;
// a second, well-behaved publisher publishes at a modest rate meanwhile, and a subscriber keeps
// exact books of what arrives. Then floods of badly signed tokens and of oversized bodies. The
// hub must answer the excess with 429 + Retry-After (401 / 413 for the others), never 5xx; let
// through no more than the token bucket allows; not slow the other publisher down; deliver
// exactly what it accepted; and keep its memory flat.
import { account, clean } from '../lib/accounting.js';
import { compareIds, publishOnce, SteadyPublisher } from '../lib/publisher.js';
import type { ProcessSample } from '../lib/sample.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { mib, table } from '../lib/table.js';
import { settlesWithin } from '../lib/time.js';
import { KEY_FLAGS, publisherToken, sign } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface FloodParams {
  /** --publish-rate, per token per second. */
  rate: number;
  /** Requests in flight during the flood. */
  concurrency: number;
  /** Length of the main flood, ms; the others last half as long. */
  floodMs: number;
  /** The well-behaved publisher's rate. */
  politeRate: number;
}

const PARAMS: Record<ScenarioContext['size'], FloodParams> = {
  full: { rate: 200, concurrency: 64, floodMs: 20_000, politeRate: 20 },
  quick: { rate: 100, concurrency: 32, floodMs: 6000, politeRate: 10 },
  test: { rate: 20, concurrency: 8, floodMs: 1000, politeRate: 5 },
};

/** Status counts of a flood. */
type Tally = Map<number, number>;

/** Runs `concurrency` loops of `request` until `ms` have passed; tallies statuses. */
async function flood(
  concurrency: number,
  ms: number,
  request: () => Promise<{ status: number; ok?: string; problem?: string }>,
): Promise<{ tally: Tally; accepted: string[]; problems: string[]; elapsed: number }> {
  const tally: Tally = new Map();
  const accepted: string[] = [];
  const problems: string[] = [];
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        let answer: { status: number; ok?: string; problem?: string };
        try {
          answer = await request();
        } catch (error) {
          answer = { status: 0, problem: `network: ${(error as Error).message}` };
        }
        tally.set(answer.status, (tally.get(answer.status) ?? 0) + 1);
        if (answer.ok !== undefined) accepted.push(answer.ok);
        if (answer.problem !== undefined && problems.length < 5) problems.push(answer.problem);
      }
    }),
  );
  return { tally, accepted, problems, elapsed: (performance.now() - started) / 1000 };
}

const show = (tally: Tally): string =>
  [...tally]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');

export const publisherFlood: Scenario = {
  name: 'flood',
  summary: 'a publisher flood beyond --publish-rate: 429s, others unaffected, memory flat',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const maxBody = 64 * 1024;
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--publish-rate',
      String(p.rate),
      '--max-body-bytes',
      String(maxBody),
      '--history-size',
      '1000',
    ]);
    try {
      const flooder = await publisherToken();
      const polite = await publisherToken(['/flood']);
      const forged = await sign(
        { publish: ['*'] },
        {},
        'not-the-hub-secret-but-just-as-long-as-it',
      );
      const first = await publishOnce(hub.url, polite, { topics: ['/flood'], data: 'first' });
      const watcher = new AccountingSubscriber({ url: hub.url, topics: ['/flood'] });
      await watcher.connect();

      const samples: ProcessSample[] = [];
      const sampler = setInterval(() => {
        hub.sample().then(
          (s) => samples.push(s),
          () => {},
        );
      }, 250);
      const before = await hub.sample(true);

      // 1. The rate flood, with a polite publisher alongside.
      const politePublisher = new SteadyPublisher({
        url: hub.url,
        token: polite,
        rate: p.politeRate,
        concurrency: 1,
        next: (n) => ({ topics: ['/flood'], data: `polite ${n}` }),
      });
      politePublisher.start();
      let n = 0;
      const main = await flood(p.concurrency, p.floodMs, async () => {
        const answer = await publishOnce(hub.url, flooder, {
          topics: ['/flood'],
          data: `flood ${n++}`,
        });
        if (answer.status === 200) return { status: 200, ok: answer.body };
        if (answer.status === 429) {
          const wait = Number(answer.retryAfter);
          if (!(Number.isInteger(wait) && wait >= 1) || !/publish rate limit/.test(answer.body)) {
            return {
              status: 429,
              problem: `429 without a usable Retry-After or reason: ${answer.retryAfter} ${answer.body}`,
            };
          }
          return { status: 429 };
        }
        return { status: answer.status, problem: `${answer.status}: ${answer.body.trim()}` };
      });
      await politePublisher.stop();
      ctx.log(`flood: rate flood done: ${show(main.tally)}`);

      // 2. Badly signed tokens, as fast as they come: 401 each, no bucket, no memory.
      const badSig = await flood(p.concurrency, p.floodMs / 2, async () => {
        const answer = await publishOnce(hub.url, forged, { topics: ['/flood'], data: 'forged' });
        return answer.status === 401
          ? { status: 401 }
          : { status: answer.status, problem: `${answer.status}: ${answer.body.trim()}` };
      });
      ctx.log(`flood: forged-token flood done: ${show(badSig.tally)}`);

      // 3. Oversized bodies from a valid token (another one, so its bucket is fresh): 413, or
      // 429 once the bucket is empty — a body is never read past the limit either way.
      const big = 'x'.repeat(maxBody * 2);
      const bigToken = await publisherToken(['/flood', '/big']);
      const oversized = await flood(Math.min(8, p.concurrency), p.floodMs / 2, async () => {
        const answer = await publishOnce(hub.url, bigToken, { topics: ['/big'], data: big });
        return answer.status === 413 || answer.status === 429
          ? { status: answer.status }
          : { status: answer.status, problem: `${answer.status}: ${answer.body.trim()}` };
      });
      ctx.log(`flood: oversized-body flood done: ${show(oversized.tally)}`);
      clearInterval(sampler);
      const healthz = (await fetch(`${hub.url}/healthz`)).status;
      const after = await hub.sample(true);

      // Exact books: the watcher has every accepted update once, in order.
      const end = await publishOnce(hub.url, polite, { topics: ['/flood'], data: 'end' });
      await settlesWithin(
        watcher.until(() => watcher.lastEventId === end.body),
        20_000,
      );
      watcher.stop();
      const publishedIds = [...main.accepted, ...politePublisher.accepted.map((u) => u.id)];
      const published = [...publishedIds]
        .sort(compareIds)
        .map((id) => ({ id, topics: ['/flood'] }));
      published.push({ id: end.body, topics: ['/flood'] });
      const books = account(published, {
        topics: ['/flood'],
        received: watcher.received.filter((id) => id !== first.body),
        gaps: watcher.gaps,
      });

      const accepted = main.tally.get(200) ?? 0;
      // Token bucket: a full bucket (rate) at the start, then `rate` per second.
      const allowed = Math.floor(p.rate + p.rate * main.elapsed) + 1;
      const politeAll = politePublisher.accepted.length;
      const politeRefused = [...politePublisher.refused.values()].reduce((a, b) => a + b, 0);
      const peak = Math.max(...samples.map((s) => s.rss));
      const growth = peak - before.rss;
      const rows = [
        [
          'rate flood',
          main.elapsed.toFixed(1),
          (sum(main.tally) / main.elapsed).toFixed(0),
          show(main.tally),
        ],
        [
          'forged tokens',
          badSig.elapsed.toFixed(1),
          (sum(badSig.tally) / badSig.elapsed).toFixed(0),
          show(badSig.tally),
        ],
        [
          'oversized bodies',
          oversized.elapsed.toFixed(1),
          (sum(oversized.tally) / oversized.elapsed).toFixed(0),
          show(oversized.tally),
        ],
      ];
      const report = [
        `--publish-rate ${p.rate}/s per token, ${p.concurrency} requests in flight, --max-body-bytes ${maxBody}`,
        table(['flood', 'seconds', 'requests/s', 'answers'], rows),
        `accepted from the flooder: ${accepted} (${(accepted / main.elapsed).toFixed(1)}/s; the bucket allows ≤ ${allowed} in ${main.elapsed.toFixed(1)} s)`,
        `polite publisher (${p.politeRate}/s, its own token): ${politeAll} accepted, ${politeRefused} refused`,
        `watcher: expected ${books.expected}, received ${books.received}, lost ${books.lost}, dup ${books.duplicated}, order ${books.outOfOrder}, unexpected ${books.unexpected}`,
        `hub RSS: before ${mib(before.rss)} MiB, peak ${mib(peak)} MiB, after (GC) ${mib(after.rss)} MiB; heap before ${mib(before.heapUsed)} → after ${mib(after.heapUsed)} MiB`,
        ...[...main.problems, ...badSig.problems, ...oversized.problems].map(
          (x) => `problem: ${x}`,
        ),
      ].join('\n');
      const onlyStatuses = (tally: Tally, ok: number[]): boolean =>
        [...tally.keys()].every((status) => ok.includes(status));
      return {
        checks: [
          check(
            'excess refused with 429 + Retry-After, nothing else',
            onlyStatuses(main.tally, [200, 429]) &&
              main.problems.length === 0 &&
              (main.tally.get(429) ?? 0) > 0,
            show(main.tally),
          ),
          check(
            'no more accepted than the token bucket allows',
            accepted <= allowed,
            `${accepted} ≤ ${allowed}`,
          ),
          check(
            'the polite publisher is not refused',
            politeRefused === 0 && politePublisher.failures === 0 && politeAll > 0,
            `${politeAll} accepted, ${politeRefused} refused`,
          ),
          check(
            'forged tokens: 401 each',
            onlyStatuses(badSig.tally, [401]) && badSig.problems.length === 0,
            show(badSig.tally),
          ),
          check(
            'oversized bodies: 413 (or 429), never accepted',
            onlyStatuses(oversized.tally, [413, 429]) && oversized.problems.length === 0,
            show(oversized.tally),
          ),
          check(
            'the watcher got exactly what was accepted',
            clean(books) && books.lostInGap === 0 && books.expected === publishedIds.length + 1,
            `expected ${books.expected}, received ${books.received}, lost ${books.lost}, dup ${books.duplicated}, order ${books.outOfOrder}, unexpected ${books.unexpected}`,
          ),
          check(
            'hub memory flat (RSS growth ≤ 64 MiB) and still serving',
            growth <= 64 * 1024 * 1024 && healthz === 200,
            `RSS +${mib(growth)} MiB at peak; /healthz ${healthz}`,
          ),
        ],
        report,
        figures: {
          floodRequests: sum(main.tally),
          accepted,
          allowed,
          refused429: main.tally.get(429) ?? 0,
          forged401: badSig.tally.get(401) ?? 0,
          oversized413: oversized.tally.get(413) ?? 0,
          politeAccepted: politeAll,
          politeRefused,
          lost: books.lost,
          duplicated: books.duplicated,
          outOfOrder: books.outOfOrder,
          unexpected: books.unexpected,
          rssGrowthMiB: Number(mib(growth)),
        },
      };
    } finally {
      await hub.close();
    }
  },
};

function sum(tally: Tally): number {
  let n = 0;
  for (const count of tally.values()) n += count;
  return n;
}
