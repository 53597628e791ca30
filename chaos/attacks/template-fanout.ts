// Every event matched against every distinct template on the hub (issue 14, item 3).
//
// Anonymous attackers subscribe to what the issue found: 8 subscriptions of 600 templates like
// `{+vN:100}` (a distinct name each, so 4800 distinct selectors, none of them anchored by a
// literal), while a healthy publisher → subscriber pair runs beside them. Then the attack a
// cleverer outsider would make against the template index: distinct languages that no literal
// prefix or suffix keeps away from the healthy topic (`{a}qN{+b}`), from one address, as many
// as its budget allows. The hub must match templates of one language once (the 4800 selectors
// cost one compiled template), refuse the fill with a 429 naming the per-address budget, and
// give the budget back when the attackers leave.
import {
  type AttackFigures,
  attackFigureRecord,
  attackReport,
  boundChecks,
  underAttack,
} from '../lib/attack.js';
import { type RawSubscription, rawSubscribe } from '../lib/raw-subscription.js';
import { table } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** Subscriptions of `templates` × `{+vN:100}`. */
  subs: number;
  templates: number;
  /** Most fill subscriptions (it stops at the first refusal). */
  fillMax: number;
  /** Templates per fill subscription (as many as the per-subscription budget allows). */
  fillTemplates: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { subs: 8, templates: 600, fillMax: 48, fillTemplates: 80 },
  quick: { subs: 8, templates: 600, fillMax: 48, fillTemplates: 80 },
  test: { subs: 2, templates: 100, fillMax: 24, fillTemplates: 80 },
};

interface State {
  issue: RawSubscription[];
  /** Estimated bytes of the hub's templates with the issue's subscriptions open. */
  issueBytes: number;
  fill: RawSubscription[];
  fillRefusal: RawSubscription | undefined;
  fillTemplates: number;
}

async function gauge(
  hub: { metrics(): Promise<Map<string, number>> },
  name: string,
): Promise<number> {
  return (await hub.metrics()).get(name) ?? Number.NaN;
}

export const templateFanout: Scenario = {
  name: 'attack-template-fanout',
  summary:
    '8 × 600 {+vN:100} templates and a per-address fill of unanchored ones beside a healthy pair',
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
              issue: [],
              issueBytes: 0,
              fill: [],
              fillRefusal: undefined,
              fillTemplates: 0,
            };
            for (let k = 0; k < p.subs; k++) {
              const topics = Array.from({ length: p.templates }, (_, i) => `{+v${k}_${i}:100}`);
              state.issue.push(await rawSubscribe(hub.url, topics));
            }
            state.issueBytes = await gauge(hub, 'herald_template_cost_bytes');
            // Distinct languages, no literal end: every topic meets every one of them.
            let n = 0;
            for (let k = 0; k < p.fillMax; k++) {
              const topics = Array.from({ length: p.fillTemplates }, () => `{a}q${n++}{+b}`);
              const sub = await rawSubscribe(hub.url, topics);
              if (sub.status !== 200) {
                state.fillRefusal = sub;
                break;
              }
              state.fill.push(sub);
              state.fillTemplates += topics.length;
            }
            ctx.log(
              `attack-template-fanout: ${state.issue.filter((s) => s.status === 200).length} issue subscriptions, ${state.fill.length} fill (${state.fillTemplates} templates), then ${state.fillRefusal?.status ?? 'no refusal'}`,
            );
            return state;
          },
          async withdraw(state) {
            for (const sub of [...state.issue, ...state.fill]) sub.close();
          },
        },
      );
      let held = await gauge(hub, 'herald_template_cost_bytes');
      for (let i = 0; i < 50 && held > 0; i++) {
        await sleep(50);
        held = await gauge(hub, 'herald_template_cost_bytes');
      }
      return result(p, state, figures, held);
    } finally {
      await hub.close();
    }
  },
};

function result(p: Params, state: State, figures: AttackFigures, held: number): ScenarioResult {
  const accepted = state.issue.filter((s) => s.status === 200).length;
  const refusal = state.fillRefusal;
  const share =
    figures.baseline.deliveredPerSec === 0
      ? 1
      : figures.during.deliveredPerSec / figures.baseline.deliveredPerSec;
  const report = [
    `${p.subs} subscriptions of ${p.templates} × {+vN:100}; fill: up to ${p.fillMax} subscriptions of ${p.fillTemplates} × {a}qN{+b}, one address`,
    table(
      ['attack', 'answers', 'templates', 'reason'],
      [
        [
          `${p.subs} × ${p.templates} × {+vN:100}`,
          `200×${accepted}`,
          p.subs * p.templates,
          `hub templates ≈ ${Number.isNaN(state.issueBytes) ? 'n/a' : `${Math.ceil(state.issueBytes / 1024)} KiB`} (estimated)`,
        ],
        [
          'per-address fill',
          `200×${state.fill.length}${refusal === undefined ? '' : ` ${refusal.status}×1`}`,
          state.fillTemplates,
          refusal?.reason.slice(0, 110) ?? '',
        ],
      ],
    ),
    attackReport(figures),
    `healthy delivered/s during the attack: ${(share * 100).toFixed(0)}% of baseline; template budget after: ${Number.isNaN(held) ? 'n/a' : `${held} B`}`,
  ].join('\n');
  return {
    checks: [
      check(
        `${p.subs * p.templates} selectors of one language are accepted and cost one template`,
        accepted === p.subs && state.issueBytes < 2 * 1024 * 1024,
        `${accepted} of ${p.subs} accepted; hub templates ≈ ${Math.ceil(state.issueBytes / 1024)} KiB`,
      ),
      check(
        'per-address fill of distinct unanchored templates: 429 + Retry-After naming --max-template-cost-per-ip',
        state.fill.length > 0 &&
          refusal?.status === 429 &&
          refusal.retryAfter !== undefined &&
          /--max-template-cost-per-ip/.test(refusal.reason),
        `${state.fill.length} accepted (${state.fillTemplates} templates), then ${refusal?.status}: ${refusal?.reason.slice(0, 160)}`,
      ),
      check(
        'the template budget is given back when the attackers leave',
        held === 0,
        `${held} B held`,
      ),
      ...boundChecks(figures),
    ],
    report,
    figures: {
      ...attackFigureRecord(figures),
      issueAccepted: accepted,
      issueTemplateKiB: Math.ceil(state.issueBytes / 1024),
      fillSubscriptions: state.fill.length,
      fillTemplates: state.fillTemplates,
      fillRefusedStatus: refusal?.status ?? 0,
      throughputShare: Number(share.toFixed(2)),
      templateBytesAfter: held,
    },
  };
}
