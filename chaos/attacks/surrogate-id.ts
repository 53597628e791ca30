// Custom ids (and types, topics) with a lone surrogate (issue 14, item 12).
//
// UTF-8 cannot carry a lone surrogate: whatever encodes the stream writes U+FFFD instead, so a
// client sees an id the hub never stored. A publisher (JSON can carry `"\ud800"`) publishes
// such updates to a topic that subscribers read, over and over; after each, the subscribers
// drop and resume with the last id they saw, as EventSource does. Had the hub accepted the id,
// every resume would be a resume after an unknown id: a herald.gap and the topic's whole
// history again, duplicates included — a replay the publisher can trigger for every
// subscriber with one request. The hub must refuse such ids, types and topics with a 400 and
// a reason; well-formed astral ids (surrogate pairs) must round-trip, resumes after them exact.
import { account, clean, type Published } from '../lib/accounting.js';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { table } from '../lib/table.js';
import { settlesWithin } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface SurrogateParams {
  /** Subscribers of the topic, dropped and resumed after each update. */
  victims: number;
  /** Events on the topic before the attack (what a gap makes them receive again). */
  history: number;
}

const PARAMS: Record<ScenarioContext['size'], SurrogateParams> = {
  full: { victims: 20, history: 2000 },
  quick: { victims: 10, history: 500 },
  test: { victims: 3, history: 20 },
};

const TOPIC = '/chat/room';

/** What a UTF-8 encoder makes of a string: each lone surrogate becomes U+FFFD. */
const onWire = (text: string): string => text.replace(/\p{Cs}/gu, '\ufffd');

/** The malformed fields the attacker tries, in turn. */
const MALFORMED: ReadonlyArray<(n: number) => Record<string, unknown>> = [
  (n) => ({ topic: TOPIC, id: `msg-${n}-\ud83d`, data: `half an emoji ${n}` }),
  (n) => ({ topic: TOPIC, id: `\udc00msg-${n}`, data: `lone low surrogate ${n}` }),
  (n) => ({ topic: TOPIC, type: `chat\ud800`, data: `bad type ${n}` }),
  (n) => ({ topics: [TOPIC, `/chat/\udfff${n}`], data: `bad topic ${n}` }),
];

interface JsonAnswer {
  status: number;
  id: string | undefined;
  reason: string;
}

async function publishJson(
  url: string,
  token: string,
  update: Record<string, unknown>,
): Promise<JsonAnswer> {
  const res = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    // JSON.stringify escapes a lone surrogate (\ud800), and JSON.parse on the hub restores it.
    body: JSON.stringify(update),
  });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, id: undefined, reason: text.trim() };
  return { status: 200, id: (JSON.parse(text) as { id: string }).id, reason: '' };
}

/** Issue 14, item 12: ids, types and topics must be well-formed Unicode. */
export const surrogateId: Scenario = {
  name: 'attack-surrogate-id',
  summary:
    'ids, types and topics with a lone surrogate: 400 with a reason; resumes after astral ids exact, no gap, no duplicate replay',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([...KEY_FLAGS, '--anonymous', '--history-size', '100000']);
    const victims: AccountingSubscriber[] = [];
    try {
      const token = await publisherToken();
      /** Every update published to TOPIC, in order, with the id its subscribers see. */
      const published: Published[] = [];
      for (let i = 0; i < p.history; i++) {
        const a = await publishJson(hub.url, token, { topic: TOPIC, data: `before ${i}` });
        if (a.id === undefined) throw new Error(`setup: ${a.status} ${a.reason}`);
        published.push({ id: a.id, topics: [TOPIC] });
      }
      for (let i = 0; i < p.victims; i++) {
        const v = new AccountingSubscriber({ url: hub.url, topics: [TOPIC] });
        victims.push(v);
        await v.connect();
      }

      let malformedSent = 0;
      let malformedAccepted = 0;
      const refusals = new Map<number, number>();
      const reasons = new Set<string>();
      let astral = 0;
      let cycles = 0;
      let stuck = 0;
      /** Publishes one update, waits for every victim to see it, then drops and resumes them. */
      const cycle = async (update: Record<string, unknown>, malformed: boolean): Promise<void> => {
        const answer = await publishJson(hub.url, token, update);
        if (malformed) {
          malformedSent++;
          if (answer.status === 200) malformedAccepted++;
          else {
            refusals.set(answer.status, (refusals.get(answer.status) ?? 0) + 1);
            if (reasons.size < MALFORMED.length) reasons.add(answer.reason);
          }
        }
        if (answer.id === undefined) return;
        const seen = onWire(answer.id);
        published.push({ id: seen, topics: [TOPIC] });
        const all = Promise.all(victims.map((v) => v.until(() => v.lastEventId === seen)));
        if (!(await settlesWithin(all, 10_000))) stuck++;
        for (const v of victims) v.drop();
        await Promise.all(victims.map((v) => v.connect()));
        cycles++;
      };

      let running = true;
      let n = 0;
      const { figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            // Wrapped: a promise returned as is would be awaited by underAttack.
            const loop = (async () => {
              while (running) {
                n++;
                await cycle(MALFORMED[n % MALFORMED.length]!(n), true);
                // A well-formed astral id: a surrogate pair, one code point.
                await cycle({ topic: TOPIC, id: `msg-${n}-🎉`, data: `party ${n}` }, false);
                astral++;
              }
            })();
            return { loop };
          },
          async withdraw({ loop }) {
            running = false;
            await loop;
          },
        },
      );

      // The books: what each victim got against everything published to the topic.
      const end = await publishJson(hub.url, token, { topic: TOPIC, data: 'end' });
      published.push({ id: end.id!, topics: [TOPIC] });
      await settlesWithin(
        Promise.all(victims.map((v) => v.until(() => v.lastEventId === end.id))),
        10_000,
      );
      const before = p.history; // the victims connected after these
      const books = victims.map((v) =>
        account(published.slice(before), {
          topics: [TOPIC],
          received: v.received,
          gaps: v.gaps,
        }),
      );
      const gaps = books.reduce((s, b) => s + b.gaps, 0);
      const duplicates = books.reduce((s, b) => s + b.duplicated, 0);
      const unexpected = books.reduce((s, b) => s + b.unexpected, 0);
      const lost = books.reduce((s, b) => s + b.lost, 0);
      const refused400 = refusals.get(400) ?? 0;
      const report = [
        `${p.victims} subscribers of ${TOPIC} (${p.history} events in history before), dropped and resumed after each update`,
        table(
          ['updates', 'sent', 'accepted', 'refused'],
          [
            [
              'malformed (lone surrogate in id, type or topic)',
              malformedSent,
              malformedAccepted,
              [...refusals].map(([s, c]) => `${s}×${c}`).join(' ') || '-',
            ],
            ['astral ids (surrogate pairs)', astral, astral, '-'],
          ],
        ),
        ...[...reasons].map((r) => `reason: ${r}`),
        `${cycles} drop-and-resume cycles: ${gaps} herald.gap, ${duplicates} duplicates, ${lost} lost, ${unexpected} unexpected over all subscribers${stuck > 0 ? `, ${stuck} cycles timed out` : ''}`,
        attackReport(figures),
      ].join('\n');
      return {
        checks: [
          check(
            'ids, types and topics with a lone surrogate: 400 with a reason, never published',
            malformedSent > 0 &&
              malformedAccepted === 0 &&
              refused400 === malformedSent &&
              [...reasons].every((r) => /well-formed Unicode/.test(r)),
            `${malformedAccepted} of ${malformedSent} accepted, ${refused400} refused with 400`,
          ),
          check(
            'resumes after every id the subscribers saw: no gap, no duplicate, nothing lost',
            astral > 0 && gaps === 0 && books.every(clean) && stuck === 0,
            `${gaps} gaps, ${duplicates} duplicates, ${lost} lost, ${unexpected} unexpected, ${stuck} stuck`,
          ),
          ...boundChecks(figures),
        ],
        report,
        figures: {
          ...attackFigureRecord(figures),
          malformedSent,
          malformedAccepted,
          refused400,
          astralIds: astral,
          cycles,
          gaps,
          duplicates,
          lost,
          unexpected,
        },
      };
    } finally {
      for (const v of victims) v.stop();
      await hub.close();
    }
  },
};
