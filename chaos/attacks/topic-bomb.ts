// One update that carries as many topics as the body limit allows (issue 14, item 10).
//
// A publisher with a valid token sends updates of tens of thousands of short topics — a form
// and a JSON body of about 1 MB each (just under --max-body-bytes) — and a JSON array of 1000
// updates of --max-update-topics topics each, as fast as two requests in flight allow; a fourth
// kind stays within the limits: an array of 10 such updates (1000 topics in all). Each topic
// costs a lookup on the publish and, if accepted, memory in history that --history-bytes must
// count. The hub must refuse the bombs with a 400 naming the limit (--max-update-topics, or
// --max-topics for the topics of an array in all), accept what is within the limits, and count
// the topics of what it keeps: a history bounded by bytes holds no more events than their real
// size allows.
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import { table } from '../lib/table.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface TopicBombParams {
  /** Topics of one bomb. */
  topics: number;
  /** Bombs in flight. */
  concurrency: number;
}

const PARAMS: Record<ScenarioContext['size'], TopicBombParams> = {
  full: { topics: 95_000, concurrency: 2 },
  quick: { topics: 95_000, concurrency: 2 },
  test: { topics: 5000, concurrency: 1 },
};

/** The default of --max-update-topics. */
const LIMIT = 100;
/** --history-bytes of the hub that checks what history counts. */
const HISTORY_BYTES = 1024 * 1024;
/** Topics of the updates that fill it: this many characters each. */
const TOPIC_CHARS = 40;
/**
 * The least a retained topic costs beyond its characters (a string header of 16 bytes and an
 * array slot of 8; measured 34 bytes for a topic of 8 characters): a history bounded by bytes
 * must count at least this much.
 */
const REAL_TOPIC_OVERHEAD = 24;

/** Short distinct topics (base 36), so that as many as possible fit in a body. */
const shortTopics = (n: number): string[] => Array.from({ length: n }, (_, i) => i.toString(36));

type Kind = 'form bomb' | 'JSON bomb' | 'JSON array bomb' | 'JSON array within limits';
const WITHIN: Kind = 'JSON array within limits';

interface Answer {
  status: number;
  body: string;
  ms: number;
}

async function post(url: string, token: string, kind: Kind, body: string): Promise<Answer> {
  const t0 = performance.now();
  try {
    const res = await fetch(
      kind === 'form bomb' ? `${url}/.well-known/mercure` : `${url}/publish`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type':
            kind === 'form bomb' ? 'application/x-www-form-urlencoded' : 'application/json',
        },
        body,
      },
    );
    return { status: res.status, body: await res.text(), ms: performance.now() - t0 };
  } catch (error) {
    return { status: 0, body: (error as Error).message, ms: performance.now() - t0 };
  }
}

/** Per kind of request: answers by status, a few reasons, and the answer times. */
interface KindTally {
  statuses: Map<number, number>;
  reasons: Set<string>;
  ms: number[];
}

const show = (statuses: Map<number, number>): string =>
  [...statuses]
    .sort(([a], [b]) => a - b)
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');

/** Issue 14, item 10: topics per update bounded, and counted in history. */
export const topicBomb: Scenario = {
  name: 'attack-topic-bomb',
  summary:
    'updates of ~95k topics (form, JSON, an array; ~1 MB each): 400 naming the limit; history counts the topics it keeps',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([...KEY_FLAGS, '--anonymous']);
    const tallies = new Map<Kind, KindTally>();
    try {
      const token = await publisherToken();
      const topics = shortTopics(p.topics);
      const bodies: Record<Kind, string> = {
        'form bomb': `data=bomb&${topics.map((t) => `topic=${t}`).join('&')}`,
        'JSON bomb': JSON.stringify({ topics, data: 'bomb' }),
        'JSON array bomb': JSON.stringify(arrayOf(ctx.size === 'test' ? 50 : 1000)),
        'JSON array within limits': JSON.stringify(arrayOf(10)),
      };
      const kinds = Object.keys(bodies) as Kind[];
      for (const kind of kinds)
        tallies.set(kind, { statuses: new Map(), reasons: new Set(), ms: [] });
      ctx.log(
        `attack-topic-bomb: bodies of ${kinds.map((k) => `${(bodies[k].length / 1024).toFixed(0)} KiB`).join(', ')}`,
      );

      let running = true;
      let sent = 0;
      const { figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            return Array.from({ length: p.concurrency }, async () => {
              while (running) {
                const kind = kinds[sent++ % kinds.length]!;
                const answer = await post(hub.url, token, kind, bodies[kind]);
                const t = tallies.get(kind)!;
                t.statuses.set(answer.status, (t.statuses.get(answer.status) ?? 0) + 1);
                t.ms.push(answer.ms);
                if (answer.status !== 200 && t.reasons.size < 2) t.reasons.add(answer.body.trim());
              }
            });
          },
          async withdraw(loops) {
            running = false;
            await Promise.all(loops);
          },
        },
      );

      // What history counts: a hub bounded to HISTORY_BYTES, filled with updates of the most
      // topics allowed, each TOPIC_CHARS long, keeps no more events than their real size fits.
      const small = await ctx.startHub([...KEY_FLAGS, '--history-bytes', String(HISTORY_BYTES)]);
      let counted: { events: number; published: number; maxEvents: number };
      try {
        const perEvent = LIMIT * (TOPIC_CHARS + REAL_TOPIC_OVERHEAD);
        const maxEvents = Math.floor(HISTORY_BYTES / perEvent);
        const published = maxEvents * 2;
        for (let i = 0; i < published; i++) {
          const update = {
            topics: Array.from({ length: LIMIT }, (_, j) => `/${i}/${j}/`.padEnd(TOPIC_CHARS, 'x')),
            data: 'fill',
          };
          const answer = await post(small.url, token, 'JSON bomb', JSON.stringify(update));
          if (answer.status !== 200) throw new Error(`fill: ${answer.status} ${answer.body}`);
        }
        const events = (await small.metrics()).get('herald_history_events') ?? Number.NaN;
        counted = { events, published, maxEvents };
      } finally {
        await small.close();
      }

      const rows = kinds.map((kind) => {
        const t = tallies.get(kind)!;
        const ms = [...t.ms].sort((a, b) => a - b);
        return [
          kind,
          (bodies[kind].length / 1024).toFixed(0),
          show(t.statuses),
          ms.length === 0 ? '-' : ms[Math.floor(ms.length / 2)]!.toFixed(1),
          ms.length === 0 ? '-' : ms.at(-1)!.toFixed(1),
        ];
      });
      const bombs = kinds.filter((k) => k !== WITHIN).map((k) => tallies.get(k)!);
      const within = tallies.get(WITHIN)!;
      const reasons = bombs.flatMap((t) => [...t.reasons]);
      const bombStatuses = new Map<number, number>();
      for (const t of bombs) {
        for (const [s, n] of t.statuses) bombStatuses.set(s, (bombStatuses.get(s) ?? 0) + n);
      }
      const report = [
        `${p.topics} topics per bomb, ${p.concurrency} requests in flight; --max-update-topics ${LIMIT} (default), --max-body-bytes 1MiB (default)`,
        table(['request', 'KiB', 'answers', 'p50 ms', 'max ms'], rows),
        ...reasons.map((r) => `reason: ${r}`),
        `history bounded to ${HISTORY_BYTES} bytes, ${counted.published} updates of ${LIMIT} topics of ${TOPIC_CHARS} characters: ${counted.events} kept (their real size fits ≤ ${counted.maxEvents})`,
        attackReport(figures),
      ].join('\n');
      const bombsSent = [...bombStatuses.values()].reduce((a, b) => a + b, 0);
      return {
        checks: [
          check(
            'more topics than the limits: 400 naming --max-update-topics (form, JSON) or --max-topics (an array in all)',
            bombsSent > 0 &&
              bombs.every((t) => t.statuses.size > 0) &&
              [...bombStatuses.keys()].every((s) => s === 400) &&
              reasons.length > 0 &&
              reasons.every((r) => /--max-update-topics|--max-topics/.test(r)),
            show(bombStatuses),
          ),
          check(
            'updates within the limit are accepted',
            within.statuses.size > 0 && [...within.statuses.keys()].every((s) => s === 200),
            show(within.statuses),
          ),
          check(
            'history counts the topics it keeps (no more events than their real size fits)',
            counted.events > 0 && counted.events <= counted.maxEvents,
            `${counted.events} kept ≤ ${counted.maxEvents}`,
          ),
          ...boundChecks(figures),
        ],
        report,
        figures: {
          ...attackFigureRecord(figures),
          topicsPerBomb: p.topics,
          bombsSent,
          bombsAccepted: bombStatuses.get(200) ?? 0,
          bombsRefused400: bombStatuses.get(400) ?? 0,
          bombMedianMs: Number(median(bombs.flatMap((t) => t.ms)).toFixed(1)),
          withinSent: [...within.statuses.values()].reduce((a, b) => a + b, 0),
          withinAccepted: within.statuses.get(200) ?? 0,
          withinMedianMs: Number(median(within.ms).toFixed(1)),
          historyKept: counted.events,
          historyFits: counted.maxEvents,
        },
      };
    } finally {
      await hub.close();
    }
  },
};

/** A JSON array of `n` updates of the most topics one may have. */
function arrayOf(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => ({
    topics: shortTopics(LIMIT).map((t) => `${i.toString(36)}.${t}`),
    data: 'array',
  }));
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
