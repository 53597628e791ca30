// The subscriptions API as a scan: a hub with --subscriptions holding many selectors, and a
// caller with a valid subscriber token whose claim matches no subscription resource
// (`/books/{id}`), asking `GET /.well-known/mercure/subscriptions` as fast as a few
// connections allow. It used to walk every selector of every subscription per request
// (135–173 ms with 300k selectors); a request must cost what the claim may see.
//
// Checked as behaviour: the caller gets 200 and an empty list every time; a watcher whose claim
// names one topic's resources gets exactly those (listing, topic path, one resource, ETag →
// 304); anonymous callers get 401. Figures: requests served per second and their latency.
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import { loadSelector, openSelectorLoad } from '../lib/selector-load.js';
import { percentile, table } from '../lib/table.js';
import { KEY_FLAGS, publisherToken, subscriberToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

const BASE = '/.well-known/mercure/subscriptions';

interface Params {
  /** Distinct selectors on the hub. */
  selectors: number;
  /** Selectors per subscription. */
  perSubscription: number;
  /** Requests the attacker keeps in flight. */
  concurrency: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { selectors: 300_000, perSubscription: 1000, concurrency: 2 },
  quick: { selectors: 100_000, perSubscription: 1000, concurrency: 2 },
  test: { selectors: 3000, perSubscription: 500, concurrency: 2 },
};

interface Listing {
  status: number;
  etag: string | null;
  body: string;
}

async function list(url: string, path: string, token?: string, etag?: string): Promise<Listing> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (etag !== undefined) headers['if-none-match'] = etag;
  const res = await fetch(`${url}${path}`, { headers });
  return { status: res.status, etag: res.headers.get('etag'), body: await res.text() };
}

/** The `subscriptions` of a collection body (or `[]`). */
function resourcesOf(body: string): { id: string; topic: string }[] {
  try {
    return (
      (JSON.parse(body) as { subscriptions?: { id: string; topic: string }[] }).subscriptions ?? []
    );
  } catch {
    return [];
  }
}

export const subscriptionsScan: Scenario = {
  name: 'attack-subscriptions-scan',
  summary:
    'a valid token whose claim matches nothing, listing /.well-known/mercure/subscriptions against many selectors: each request costs what the claim may see',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--subscriptions',
      // The selectors stand for many clients' subscriptions, all opened here from one address:
      // the per-address bound of subscription events is not what this attack is about.
      '--subscription-events-rate',
      '0',
    ]);
    try {
      const publisher = await publisherToken();
      const nothing = await subscriberToken(['/books/{id}', 'https://example.com/users/{u}']);
      const topic = loadSelector(1);
      const watcher = await subscriberToken([`${BASE}/${encodeURIComponent(topic)}{/subscriber}`]);
      ctx.log(`subscriptions-scan: subscribing ${p.selectors} selectors`);
      const load = await openSelectorLoad(hub.url, p.selectors, p.perSubscription);

      const latencies: number[] = [];
      const statuses = new Map<number, number>();
      let nonEmpty = 0;
      let running = false;
      let elapsed = 0;
      const { figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: publisher },
        {
          launch: async () => {
            running = true;
            const started = performance.now();
            const loops = Array.from({ length: p.concurrency }, async () => {
              while (running) {
                const t0 = performance.now();
                try {
                  const answer = await list(hub.url, BASE, nothing);
                  latencies.push(performance.now() - t0);
                  statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
                  if (resourcesOf(answer.body).length > 0) nonEmpty++;
                } catch {
                  statuses.set(0, (statuses.get(0) ?? 0) + 1);
                }
              }
              elapsed = (performance.now() - started) / 1000;
            });
            return loops;
          },
          withdraw: async (loops) => {
            running = false;
            await Promise.all(loops);
          },
        },
      );

      // What a legitimate watcher sees, with the selectors still there.
      const listing = await list(hub.url, BASE, watcher);
      const mine = resourcesOf(listing.body);
      const byTopic = await list(hub.url, `${BASE}/${encodeURIComponent(topic)}`, watcher);
      const one = mine[0] === undefined ? undefined : await list(hub.url, mine[0].id, watcher);
      const cached = await list(hub.url, BASE, watcher, listing.etag ?? undefined);
      const anonymous = await list(hub.url, BASE);
      await load.close();

      const requests = [...statuses.values()].reduce((a, b) => a + b, 0);
      const perSecond = elapsed > 0 ? requests / elapsed : 0;
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const report = [
        `${p.selectors} selectors in subscriptions of ${p.perSubscription}; ${p.concurrency} requests in flight with a claim that matches no subscription resource`,
        table(
          ['requests', 'per second', 'p50 ms', 'p99 ms', 'answers'],
          [
            [
              requests,
              Math.round(perSecond),
              Number(p50.toFixed(2)),
              Number(p99.toFixed(2)),
              [...statuses].map(([s, n]) => `${s}×${n}`).join(' '),
            ],
          ],
        ),
        attackReport(figures),
      ].join('\n');
      const expectedId = mine[0]?.id ?? '';
      return {
        checks: [
          check(
            'a claim that matches nothing lists nothing (200, empty), every time',
            requests > 0 && statuses.get(200) === requests && nonEmpty === 0,
            `${requests} requests: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(' ')}; ${nonEmpty} non-empty`,
          ),
          check(
            "a watcher of one topic's subscriptions gets exactly those",
            listing.status === 200 &&
              mine.length === 1 &&
              mine[0]!.topic === topic &&
              expectedId.startsWith(`${BASE}/${encodeURIComponent(topic)}/urn%3Auuid%3A`) &&
              resourcesOf(byTopic.body).length === 1 &&
              one?.status === 200,
            `listing ${listing.status} with ${mine.length} resources (${mine.map((r) => r.topic).join(', ')}); by topic ${byTopic.status}; one ${one?.status}`,
          ),
          check(
            'the ETag of an unchanged listing gives 304',
            listing.etag !== null && cached.status === 304,
            `${cached.status}`,
          ),
          check(
            'anonymous callers get 401 with a reason',
            anonymous.status === 401 && /subscriber JWT/.test(anonymous.body),
            `${anonymous.status}: ${anonymous.body.trim().slice(0, 80)}`,
          ),
          ...boundChecks(figures),
        ],
        report,
        figures: {
          selectors: p.selectors,
          requests,
          requestsPerSec: Math.round(perSecond),
          requestP50Ms: Number(p50.toFixed(2)),
          requestP99Ms: Number(p99.toFixed(2)),
          nonEmpty,
          watcherResources: mine.length,
          ...attackFigureRecord(figures),
        },
      };
    } finally {
      await hub.close();
    }
  },
};
