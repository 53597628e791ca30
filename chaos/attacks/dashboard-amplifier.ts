// The dashboard as a CPU amplifier: a hub holding many selectors, and many viewers of
// `/dashboard/stats` (each stream used to sort every selector on the hub once a second, and
// none was counted by --max-connections).
//
// Two hubs: `--dev` (the dashboard open, on loopback) and `--dashboard` with authentication
// (viewers bring a token with the dashboard claim; strangers are refused). On each, the
// selectors are subscribed first (the precondition), then the attack: V viewers held open
// while a healthy publisher → subscriber pair and /healthz are measured. Checked as behaviour:
// every viewer of a tick gets the same bytes, and there are about as many snapshots as seconds
// (not viewers × seconds); the viewer past --max-connections-per-ip gets a 429 naming it, and
// its slot comes back when a viewer leaves; without the claim: 401 / 403 with a reason.
import { get, type IncomingMessage } from 'node:http';
import { createParser } from '../../src/protocol/index.js';
import {
  type AttackFigures,
  attackFigureRecord,
  attackReport,
  boundChecks,
  underAttack,
} from '../lib/attack.js';
import type { HubHandle } from '../lib/hub.js';
import { openSelectorLoad } from '../lib/selector-load.js';
import { table } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken, sign, subscriberToken } from '../lib/tokens.js';
import {
  type Check,
  check,
  type Scenario,
  type ScenarioContext,
  type ScenarioResult,
} from '../scenario.js';

interface Params {
  /** Distinct selectors on the hub. */
  selectors: number;
  /** Selectors per subscription (≤ --max-topics, and the URL must fit in 16 KiB). */
  perSubscription: number;
  /** Dashboard viewers held open during the attack. */
  viewers: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { selectors: 300_000, perSubscription: 1000, viewers: 25 },
  quick: { selectors: 100_000, perSubscription: 1000, viewers: 25 },
  test: { selectors: 3000, perSubscription: 500, viewers: 5 },
};

/** One `/dashboard/stats` stream and what it received. */
interface Viewer {
  status: number;
  /** The body when refused. */
  reason: string;
  /** The `stats` events' data, in order. */
  events: string[];
  close(): void;
}

/**
 * Opens `/dashboard/stats`; resolves once the head arrived (and, for a 200, the first event).
 * A connection error or a stream that ends before its first event resolves with status 0 and
 * the error as the reason (a hub too busy to answer resets connections), never rejects.
 */
function openViewer(url: string, headers: Record<string, string>): Promise<Viewer> {
  return new Promise((resolve) => {
    const failed = (reason: string): void =>
      resolve({ status: 0, reason, events: [], close: () => req.destroy() });
    const req = get(`${url}/dashboard/stats`, { agent: false, headers }, (res: IncomingMessage) => {
      const viewer: Viewer = {
        status: res.statusCode ?? 0,
        reason: '',
        events: [],
        close: () => req.destroy(),
      };
      if (viewer.status !== 200) {
        res.setEncoding('utf8').on('data', (chunk: string) => {
          viewer.reason += chunk;
        });
        res.on('end', () => resolve(viewer));
        return;
      }
      let first = true;
      const parser = createParser({
        onEvent: (event) => {
          if (event.type !== 'stats') return;
          viewer.events.push(event.data);
          if (first) {
            first = false;
            resolve(viewer);
          }
        },
      });
      res.on('data', (chunk: Buffer) => parser.feed(chunk));
      res.on('close', () => {
        if (first) failed('the stream ended before its first snapshot');
      });
    });
    req.on('error', (error) => failed(`network: ${error.message}`));
  });
}

/** GETs `path`; the status and the body. */
async function probe(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(`${url}${path}`, { headers });
    const body = await res.text();
    return { status: res.status, body: body.trim() };
  } catch (error) {
    return { status: 0, body: `network: ${(error as Error).message}` };
  }
}

/** The snapshot's `tick` (absent before the shared feed: then the data itself is the key). */
function tickOf(data: string): string {
  const tick = (JSON.parse(data) as { tick?: number }).tick;
  return tick === undefined ? data : String(tick);
}

interface VariantResult {
  checks: Check[];
  figures: AttackFigures;
  row: unknown[];
  extra: Record<string, number>;
}

async function variant(
  ctx: ScenarioContext,
  mode: 'dev' | 'auth',
  p: Params,
  publisher: string,
): Promise<VariantResult> {
  const subscriptions = Math.ceil(p.selectors / p.perSubscription);
  // Room for the selector subscriptions, the viewers and the healthy subscriber: one more
  // viewer is over the per-address limit.
  const perIp = subscriptions + p.viewers + 1;
  const flags =
    mode === 'dev' ? ['--dev', ...KEY_FLAGS] : [...KEY_FLAGS, '--dashboard', '--anonymous'];
  const hub: HubHandle = await ctx.startHub([...flags, '--max-connections-per-ip', String(perIp)]);
  const checks: Check[] = [];
  const label = mode === 'dev' ? '--dev' : '--dashboard + auth';
  try {
    const admin = await sign({}, { herald: { dashboard: true } });
    const headers: Record<string, string> =
      mode === 'dev' ? {} : { authorization: `Bearer ${admin}` };

    if (mode === 'auth') {
      const anonymous = await probe(hub.url, '/dashboard/stats');
      const page = await probe(hub.url, '/');
      const noClaim = await probe(hub.url, '/dashboard/stats', {
        authorization: `Bearer ${await subscriberToken(['*'])}`,
      });
      const withClaim = await probe(hub.url, '/', headers);
      checks.push(
        check(
          `${label}: strangers are refused with a reason (401 without a token, 403 without the claim)`,
          anonymous.status === 401 &&
            page.status === 401 &&
            /herald.*dashboard/.test(anonymous.body) &&
            noClaim.status === 403 &&
            /claim/.test(noClaim.body) &&
            withClaim.status === 200,
          `stats ${anonymous.status}, page ${page.status}, no claim ${noClaim.status}: ${noClaim.body.slice(0, 80)}; with the claim ${withClaim.status}`,
        ),
      );
    }

    ctx.log(`${label}: subscribing ${p.selectors} selectors in ${subscriptions} subscriptions`);
    const load = await openSelectorLoad(hub.url, p.selectors, p.perSubscription);
    let refused: Viewer | undefined;
    let connectionsDuring = Number.NaN;
    const { state: viewers, figures } = await underAttack(
      hub,
      { size: ctx.size, publisherToken: publisher },
      {
        launch: async () => {
          const opened = await Promise.all(
            Array.from({ length: p.viewers }, () => openViewer(hub.url, headers)),
          );
          // One more is past --max-connections-per-ip: viewers count like subscribers.
          refused = await openViewer(hub.url, headers);
          refused.close();
          connectionsDuring = await hub.metrics().then(
            (m) => m.get('herald_connections') ?? Number.NaN,
            () => Number.NaN,
          );
          return opened;
        },
        withdraw: async (opened) => {
          for (const v of opened) v.close();
        },
      },
    );

    // After the withdrawal: the slots came back.
    const again = await openViewer(hub.url, headers);
    again.close();
    await load.close();

    const ok = viewers.filter((v) => v.status === 200);
    const byTick = new Map<string, Set<string>>();
    let events = 0;
    for (const v of ok) {
      for (const data of v.events) {
        events++;
        const tick = tickOf(data);
        let seen = byTick.get(tick);
        if (seen === undefined) {
          seen = new Set();
          byTick.set(tick, seen);
        }
        seen.add(data);
      }
    }
    const mostPerViewer = Math.max(0, ...ok.map((v) => v.events.length));
    const sameBytes = [...byTick.values()].every((s) => s.size === 1);
    const lastData = ok[0]?.events.at(-1);
    const last =
      lastData === undefined
        ? undefined
        : (JSON.parse(lastData) as { selectorCount?: number; tick?: number });
    const snapshotBytes = lastData === undefined ? 0 : Buffer.byteLength(lastData);

    checks.push(
      check(
        `${label}: every viewer is served`,
        ok.length === p.viewers && mostPerViewer >= 1,
        `${ok.length}/${p.viewers} viewers at 200, up to ${mostPerViewer} snapshots each`,
      ),
      check(
        `${label}: one snapshot per interval for all viewers (same bytes per tick)`,
        last?.tick !== undefined && sameBytes && byTick.size <= mostPerViewer + 1,
        `${byTick.size} distinct snapshots for ${events} events to ${ok.length} viewers (${mostPerViewer} at most to one)${sameBytes ? '' : '; viewers of one tick got different bytes'}`,
      ),
      check(
        `${label}: the snapshot counts every selector (${p.selectors} + the healthy pair's)`,
        last?.selectorCount === p.selectors + 1,
        `selectorCount ${last?.selectorCount}`,
      ),
      check(
        `${label}: a viewer past --max-connections-per-ip gets 429 naming the limit`,
        refused?.status === 429 && /--max-connections-per-ip/.test(refused.reason),
        `${refused?.status}: ${refused?.reason.trim().slice(0, 100)} (herald_connections ${connectionsDuring} with ${p.viewers} viewers)`,
      ),
      check(
        `${label}: the slots come back when viewers leave`,
        again.status === 200,
        `a new viewer after the withdrawal: ${again.status}`,
      ),
      ...boundChecks(figures).map((c) => ({ ...c, name: `${c.name} (${label})` })),
    );
    return {
      checks,
      figures,
      row: [
        label,
        p.selectors,
        p.viewers,
        byTick.size,
        events,
        snapshotBytes,
        Number(figures.loopDelayMaxMs.toFixed(1)),
        Number(figures.during.healthzP99Ms.toFixed(1)),
      ],
      extra: {
        snapshots: byTick.size,
        events,
        snapshotBytes,
        connectionsDuring,
      },
    };
  } finally {
    await hub.close();
  }
}

export const dashboardAmplifier: Scenario = {
  name: 'attack-dashboard-amplifier',
  summary:
    'many selectors, many /dashboard/stats viewers (--dev; --dashboard with auth): one shared snapshot per second, viewers counted, strangers refused',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const publisher = await publisherToken();
    const dev = await variant(ctx, 'dev', p, publisher);
    await sleep(200);
    const auth = await variant(ctx, 'auth', p, publisher);
    const report = [
      `${p.selectors} selectors in subscriptions of ${p.perSubscription}; ${p.viewers} dashboard viewers`,
      table(
        [
          'hub',
          'selectors',
          'viewers',
          'snapshots',
          'events sent',
          'snapshot bytes',
          'loop block ms',
          'healthz p99 ms',
        ],
        [dev.row, auth.row],
      ),
      '--dev:',
      attackReport(dev.figures),
      '--dashboard + auth:',
      attackReport(auth.figures),
    ].join('\n');
    const prefixed = (prefix: string, record: Record<string, number>): Record<string, number> =>
      Object.fromEntries(
        Object.entries(record).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]),
      );
    return {
      checks: [...dev.checks, ...auth.checks],
      report,
      figures: {
        selectors: p.selectors,
        viewers: p.viewers,
        ...prefixed('dev', { ...attackFigureRecord(dev.figures), ...dev.extra }),
        ...prefixed('auth', { ...attackFigureRecord(auth.figures), ...auth.extra }),
      },
    };
  },
};
