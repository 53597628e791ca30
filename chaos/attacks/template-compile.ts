// URI templates that cost too much to compile and stay in memory (issue 14, item 2).
//
// An anonymous client sends what the issue found: one subscribe of 700 templates like
// `{v:1600}` (a ":n" prefix costs ~10 automaton states per character), and the same with
// `{v:9999}`, which the hub used to build in full before finding it too big. Then it does the
// most the limits let it: subscriptions of templates just under the per-template bound, from one
// address, until the per-address budget refuses one; and it churns subscriptions of distinct
// costly templates to fill the process-wide compiled-selector cache. The hub must refuse the
// first two with a 400 naming the template, its cost and the flag before compiling anything,
// answer the fill with a 429 naming the per-address budget, give the budget back when the
// subscriptions close, and keep the cache within its byte bound.
import {
  type AttackFigures,
  attackFigureRecord,
  attackReport,
  boundChecks,
  underAttack,
} from '../lib/attack.js';
import { publishOnce } from '../lib/publisher.js';
import { type RawSubscription, rawSubscribe } from '../lib/raw-subscription.js';
import { mib, table } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** Subscribes of `templates` × `{vN:1600}` (and as many of `{vN:9999}`), held open. */
  big: number;
  /** Templates per big subscribe (the issue's 700 fill 16 KB of URL). */
  templates: number;
  /** Most subscriptions the per-address fill opens (it stops at the first 429). */
  fillMax: number;
  /** Subscriptions of distinct costly templates opened and closed to flood the cache. */
  churn: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { big: 4, templates: 700, fillMax: 64, churn: 400 },
  quick: { big: 2, templates: 700, fillMax: 40, churn: 120 },
  test: { big: 1, templates: 60, fillMax: 24, churn: 12 },
};

/** A `:n` prefix whose template stays just under the default per-template bound (128 KiB). */
const FILL_PREFIX = 180;
/** Templates per fill subscription: together just under the per-subscription bound (1 MiB). */
const FILL_TEMPLATES = 7;

/** The figures a scenario reads from `/metrics` (NaN when the hub does not export them). */
async function gauge(
  hub: { metrics(): Promise<Map<string, number>> },
  name: string,
): Promise<number> {
  return (await hub.metrics()).get(name) ?? Number.NaN;
}

interface State {
  big: RawSubscription[];
  huge: RawSubscription[];
  fill: RawSubscription[];
  fillRefusal: RawSubscription | undefined;
  churned: number;
  churnRefused: Map<number, number>;
  delivered: boolean;
}

const count = (subs: readonly RawSubscription[], status: number): number =>
  subs.filter((s) => s.status === status).length;

export const templateCompile: Scenario = {
  name: 'attack-template-compile',
  summary: 'subscribes of 700 {v:1600} / {v:9999} templates, a per-address fill and cache churn',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([...KEY_FLAGS, '--anonymous']);
    try {
      const token = await publisherToken();
      const { state, figures } = await underAttack<State>(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            const state: State = {
              big: [],
              huge: [],
              fill: [],
              fillRefusal: undefined,
              churned: 0,
              churnRefused: new Map(),
              delivered: false,
            };
            // 1. The issue's subscribes, each held open (distinct names: nothing is shared).
            for (let k = 0; k < p.big; k++) {
              const topics = Array.from({ length: p.templates }, (_, i) => `{v${k}_${i}:1600}`);
              state.big.push(await rawSubscribe(hub.url, topics));
            }
            for (let k = 0; k < p.big; k++) {
              const topics = Array.from({ length: p.templates }, (_, i) => `{w${k}_${i}:9999}`);
              state.huge.push(await rawSubscribe(hub.url, topics));
            }
            ctx.log(
              `attack-template-compile: big subscribes ${state.big.map((s) => s.status).join(',')}, huge ${state.huge.map((s) => s.status).join(',')}`,
            );
            // 2. Churn: distinct costly templates, one subscription open at a time (the cache fills).
            for (let k = 0; k < p.churn; k++) {
              const topics = Array.from(
                { length: FILL_TEMPLATES },
                (_, j) => `/churn${k}_${j}/{v:${FILL_PREFIX}}`,
              );
              const sub = await rawSubscribe(hub.url, topics);
              if (sub.status === 200) state.churned++;
              else
                state.churnRefused.set(sub.status, (state.churnRefused.get(sub.status) ?? 0) + 1);
              sub.close();
            }
            // 3. The most the limits allow one address: costly templates, distinct languages.
            for (let k = 0; k < p.fillMax; k++) {
              const topics = Array.from(
                { length: FILL_TEMPLATES },
                (_, j) => `/fill${k}_${j}/{v:${FILL_PREFIX}}`,
              );
              const sub = await rawSubscribe(hub.url, topics);
              if (sub.status !== 200) {
                state.fillRefusal = sub;
                break;
              }
              state.fill.push(sub);
            }
            ctx.log(
              `attack-template-compile: ${state.fill.length} fill subscriptions, then ${state.fillRefusal?.status ?? 'no refusal'}`,
            );
            // One accepted template still works.
            if (state.fill.length > 0) {
              await publishOnce(hub.url, token, { topics: ['/fill0_0/abc'], data: 'fill' });
              for (let i = 0; i < 50 && state.fill[0]!.events() === 0; i++) await sleep(20);
              state.delivered = state.fill[0]!.events() > 0;
            }
            return state;
          },
          async withdraw(state) {
            for (const sub of [...state.big, ...state.huge, ...state.fill]) sub.close();
          },
        },
      );
      // The budget comes back once the hub saw the streams close.
      let held = await gauge(hub, 'herald_template_cost_bytes');
      for (let i = 0; i < 50 && held > 0; i++) {
        await sleep(50);
        held = await gauge(hub, 'herald_template_cost_bytes');
      }
      const cacheBytes = await gauge(hub, 'herald_selector_cache_bytes');
      return result(p, state, figures, held, cacheBytes);
    } finally {
      await hub.close();
    }
  },
};

function result(
  p: Params,
  state: State,
  figures: AttackFigures,
  held: number,
  cacheBytes: number,
): ScenarioResult {
  const bigRefused = count(state.big, 400);
  const hugeRefused = count(state.huge, 400);
  const bigAnswerMs = Math.max(0, ...state.big.map((s) => s.answeredMs));
  const hugeAnswerMs = Math.max(0, ...state.huge.map((s) => s.answeredMs));
  const refusal = state.fillRefusal;
  const report = [
    `${p.big} subscribes of ${p.templates} × {v:1600} and ${p.big} of ${p.templates} × {v:9999}; fill: up to ${p.fillMax} subscriptions of ${FILL_TEMPLATES} × /…/{v:${FILL_PREFIX}}; churn: ${p.churn} such subscriptions, one at a time`,
    table(
      ['attack', 'answers', 'slowest answer ms', 'reason'],
      [
        [
          `${p.templates} × {v:1600}`,
          statuses(state.big),
          bigAnswerMs.toFixed(0),
          state.big[0]?.reason.slice(0, 110) ?? '',
        ],
        [
          `${p.templates} × {v:9999}`,
          statuses(state.huge),
          hugeAnswerMs.toFixed(0),
          state.huge[0]?.reason.slice(0, 110) ?? '',
        ],
        [
          'per-address fill',
          `200×${state.fill.length}${refusal === undefined ? '' : ` ${refusal.status}×1`}`,
          '',
          refusal?.reason.slice(0, 110) ?? '',
        ],
        [
          'churn',
          `200×${state.churned} ${[...state.churnRefused].map(([s, n]) => `${s}×${n}`).join(' ')}`,
          '',
          '',
        ],
      ],
    ),
    attackReport(figures),
    `after: template budget held ${Number.isNaN(held) ? 'n/a' : `${held} B`}, selector cache ${Number.isNaN(cacheBytes) ? 'n/a' : `${mib(cacheBytes)} MiB (estimated)`}`,
  ].join('\n');
  return {
    checks: [
      check(
        `${p.templates} × {v:1600}: 400 naming the template, its cost and --max-template-cost`,
        bigRefused === p.big &&
          state.big.every((s) => /\{v\d+_\d+:1600\}.*KiB.*--max-template-cost/.test(s.reason)),
        `${statuses(state.big)}: ${state.big[0]?.reason.slice(0, 160)}`,
      ),
      check(
        `${p.templates} × {v:9999}: 400, too complex, before building`,
        hugeRefused === p.big && state.huge.every((s) => /too complex/.test(s.reason)),
        `${statuses(state.huge)}: ${state.huge[0]?.reason.slice(0, 160)}`,
      ),
      check(
        'per-address fill: 429 + Retry-After naming --max-template-cost-per-ip',
        state.fill.length > 0 &&
          refusal?.status === 429 &&
          refusal.retryAfter !== undefined &&
          /--max-template-cost-per-ip/.test(refusal.reason),
        `${state.fill.length} accepted, then ${refusal?.status}: ${refusal?.reason.slice(0, 160)}`,
      ),
      check(
        'an accepted template still matches',
        state.delivered,
        state.delivered ? 'event received' : 'no event',
      ),
      check(
        'churn: one subscription at a time is never refused',
        state.churnRefused.size === 0 && state.churned === p.churn,
        `${state.churned} of ${p.churn} accepted`,
      ),
      check(
        'the template budget is given back when subscriptions close',
        held === 0,
        `${held} B held`,
      ),
      check(
        'the selector cache stays within its byte bound (2 × 16 MiB estimated)',
        cacheBytes <= 32 * 1024 * 1024,
        `${mib(cacheBytes)} MiB`,
      ),
      ...boundChecks(figures),
    ],
    report,
    figures: {
      ...attackFigureRecord(figures),
      bigRefused,
      hugeRefused,
      bigAnswerMs: Math.round(bigAnswerMs),
      hugeAnswerMs: Math.round(hugeAnswerMs),
      fillAccepted: state.fill.length,
      fillRefusedStatus: refusal?.status ?? 0,
      churned: state.churned,
      templateBytesAfter: held,
      selectorCacheMiBAfter: Number(mib(cacheBytes)),
    },
  };
}

function statuses(subs: readonly RawSubscription[]): string {
  const tally = new Map<number, number>();
  for (const s of subs) tally.set(s.status, (tally.get(s.status) ?? 0) + 1);
  return [...tally].map(([s, n]) => `${s}×${n}`).join(' ');
}
