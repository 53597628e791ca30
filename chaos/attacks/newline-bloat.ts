// Data made of line breaks: 1 byte each in the published data, 7 on the wire (every line break
// starts a new `data: ` line).
//
// Before the fix the hub counted the data's own length everywhere: --history-bytes kept 7× more
// encoded bytes than it said, and an event whose encoding was larger than --queue-bytes was
// accepted — two of them back to back cut off subscribers that were reading as fast as they
// could (the second cannot be queued behind the first). Now sizes count encoded bytes, and an
// event whose encoding no subscriber queue could hold is refused at publish with 413 and the
// reason.
//
// Behaviour asserted: oversized encodings are refused with 413 naming --queue-bytes; events
// just under the bound, published back to back, reach every reading subscriber exactly once
// and in order, and none of them is cut off (no overflow, no stream the hub ended).
import { encodedLength } from '../../src/protocol/index.js';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import { publishOnce } from '../lib/publisher.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { mib } from '../lib/table.js';
import { settlesWithin } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** Subscribers that read as fast as they can. */
  readers: number;
  /** Events just under the queue bound once encoded, published back to back. */
  nearBound: number;
  /** Publishes of events whose encoding is larger than the queue bound. */
  oversized: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { readers: 20, nearBound: 120, oversized: 10 },
  quick: { readers: 10, nearBound: 40, oversized: 5 },
  test: { readers: 3, nearBound: 6, oversized: 2 },
};

const TOPIC = '/newline-bloat';
/** The default --queue-bytes. */
const QUEUE_BYTES = 1024 * 1024;
/** Line breaks per near-bound event: about 0.93 MiB encoded, 140 kB of data. */
const NEAR_BOUND_BREAKS = 140_000;
/** Line breaks per oversized event: 340 kB of data (1 MB as a form body), 2.3 MiB encoded. */
const OVERSIZED_BREAKS = 340_000;

export const newlineBloatAttack: Scenario = {
  name: 'attack-newline-bloat',
  summary:
    'data made of line breaks (7× on the wire): encoded sizes counted, oversized events refused with 413, readers not cut',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([...KEY_FLAGS, '--anonymous']);
    const readers: AccountingSubscriber[] = [];
    try {
      const token = await publisherToken();
      for (let i = 0; i < p.readers; i++) {
        const reader = new AccountingSubscriber({ url: hub.url, topics: [TOPIC] });
        await reader.connect();
        readers.push(reader);
      }
      const overflowsBefore = (await hub.metrics()).get('herald_queue_overflows_total') ?? 0;
      const nearData = (n: number): string => `${n}${'\n'.repeat(NEAR_BOUND_BREAKS)}`;
      const oversizedData = '\n'.repeat(OVERSIZED_BREAKS);
      const { state, figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            const accepted: string[] = [];
            const nearAnswers = new Map<number, number>();
            const oversizedAnswers: Array<{ status: number; body: string }> = [];
            // Oversized ones first, then near-bound ones back to back, oversized ones again.
            const oversize = async (): Promise<void> => {
              for (let i = 0; i < p.oversized; i++) {
                const answer = await publishOnce(hub.url, token, {
                  topics: [TOPIC],
                  data: oversizedData,
                });
                oversizedAnswers.push({ status: answer.status, body: answer.body });
                if (answer.status === 200) accepted.push(answer.body);
              }
            };
            await oversize();
            for (let n = 0; n < p.nearBound; n++) {
              const answer = await publishOnce(hub.url, token, {
                topics: [TOPIC],
                data: nearData(n),
              });
              nearAnswers.set(answer.status, (nearAnswers.get(answer.status) ?? 0) + 1);
              if (answer.status === 200) accepted.push(answer.body);
            }
            await oversize();
            return { accepted, nearAnswers, oversizedAnswers };
          },
          async withdraw() {},
        },
      );
      const last = state.accepted.at(-1);
      await Promise.all(
        readers.map((r) =>
          settlesWithin(
            r.until(() => r.lastEventId === last),
            30_000,
          ),
        ),
      );
      const overflows =
        ((await hub.metrics()).get('herald_queue_overflows_total') ?? 0) - overflowsBefore;
      const cut = readers.reduce((n, r) => n + r.serverClosed, 0);
      const exact = readers.filter(
        (r) =>
          r.received.length === state.accepted.length &&
          r.received.every((id, i) => id === state.accepted[i]),
      ).length;
      const refused413 = state.oversizedAnswers.filter(
        (a) => a.status === 413 && a.body.includes('--queue-bytes'),
      ).length;
      const nearWire = encodedLength({ id: 'x'.repeat(20), data: nearData(0) });
      const oversizedWire = encodedLength({ id: 'x'.repeat(20), data: oversizedData });
      const report = [
        `${p.readers} reading subscribers; ${p.nearBound} events of ${NEAR_BOUND_BREAKS} line breaks (${mib(NEAR_BOUND_BREAKS)} MiB of data, ${mib(nearWire)} MiB encoded) back to back; ${2 * p.oversized} of ${OVERSIZED_BREAKS} (${mib(oversizedWire)} MiB encoded, --queue-bytes ${mib(QUEUE_BYTES)} MiB)`,
        attackReport(figures),
        `oversized: ${state.oversizedAnswers.map((a) => a.status).join(' ')}${state.oversizedAnswers[0] === undefined ? '' : ` — ${state.oversizedAnswers[0].body.slice(0, 160)}`}`,
        `near-bound answers: ${[...state.nearAnswers].map(([s, n]) => `${s}×${n}`).join(' ')}`,
        `readers: ${exact} of ${p.readers} got every accepted event once, in order; streams the hub cut: ${cut}; overflows: ${overflows}`,
      ].join('\n');
      return {
        checks: [
          check(
            'an event whose encoding no queue holds: 413 with the reason',
            refused413 === state.oversizedAnswers.length && refused413 === 2 * p.oversized,
            `${refused413} of ${state.oversizedAnswers.length} refused with 413 naming --queue-bytes`,
          ),
          check(
            'events just under the bound are accepted',
            state.nearAnswers.get(200) === p.nearBound,
            [...state.nearAnswers].map(([s, n]) => `${s}×${n}`).join(' '),
          ),
          check(
            'no reading subscriber was cut off',
            cut === 0 && overflows === 0,
            `${cut} streams ended by the hub, ${overflows} overflows`,
          ),
          check(
            'every reader got every accepted event once, in order',
            exact === p.readers,
            `${exact} of ${p.readers}`,
          ),
          ...boundChecks(figures),
        ],
        report,
        figures: {
          ...attackFigureRecord(figures),
          wireRatio: Number((nearWire / NEAR_BOUND_BREAKS).toFixed(2)),
          refused413,
          accepted: state.accepted.length,
          readersCut: cut,
          overflows,
        },
      };
    } finally {
      for (const r of readers) r.stop();
      await hub.close();
    }
  },
};
