// An anonymous subscriber tries to learn the ids of private updates (issue 14, item 7).
//
// A publisher fills the history with private updates under custom ids (`secret-…`, some with
// generated ids) among public ones, the oldest retained event being private, and keeps
// publishing private updates during the attack so that the newest event often is one. The
// attacker, anonymous and subscribed to `*`, tries three ways, over and over:
// - the `Last-Event-ID` response header of a fresh subscription (the hub's newest id?);
// - the `oldestAvailable` of the `herald.gap` it gets for an unknown id (the oldest retained?);
// - resuming after guessed ids, the real private ones and as many never published: an answer
//   that differs between the two (no gap, the id echoed back) confirms a private id exists.
// None of them may name a private id. Afterwards a subscriber authorized for the private
// updates resumes after one it received: exactly what followed, no gap, no duplicate.
import { get, type IncomingMessage } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import { publishOnce, SteadyPublisher } from '../lib/publisher.js';
import { seeded } from '../lib/random.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { table } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken, subscriberToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface PrivateIdsParams {
  /** Private updates with custom ids published before the attack (as many public ones). */
  secrets: number;
  /** Private updates with generated ids among them. */
  generated: number;
  /** Private updates per second during the attack. */
  liveRate: number;
  /** Probes in flight. */
  concurrency: number;
}

const PARAMS: Record<ScenarioContext['size'], PrivateIdsParams> = {
  full: { secrets: 2000, generated: 200, liveRate: 50, concurrency: 8 },
  quick: { secrets: 500, generated: 50, liveRate: 20, concurrency: 4 },
  test: { secrets: 20, generated: 5, liveRate: 10, concurrency: 2 },
};

const PRIVATE_DATA = 'private-payload';
const SECRET_TOPIC = '/private/secret';

/** What one probe saw: the status, the response's Last-Event-ID, the first event if any. */
interface ProbeAnswer {
  status: number;
  header: string | undefined;
  first: EventSourceMessage | undefined;
  text: string;
}

/**
 * Subscribes anonymously to `*` (resuming after `lastEventId` if given) and keeps what an
 * attacker needs: the answer's headers and its first event (or nothing within `waitMs`).
 */
function probe(url: string, lastEventId: string | undefined, waitMs = 150): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    let settled = false;
    const req = get(`${url}/.well-known/mercure?topic=*`, { headers, agent: false });
    const done = (answer: ProbeAnswer): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(answer);
    };
    req.on('error', () => done({ status: 0, header: undefined, first: undefined, text: '' }));
    req.on('response', (res: IncomingMessage) => {
      const header = res.headers['last-event-id'] as string | undefined;
      let text = '';
      const timer = setTimeout(
        () => done({ status: res.statusCode ?? 0, header, first: undefined, text }),
        waitMs,
      );
      const parser = createParser({
        onEvent: (event) => {
          clearTimeout(timer);
          done({ status: res.statusCode ?? 0, header, first: event, text });
        },
      });
      res.setEncoding('utf8');
      // Only the first event is parsed: an attacker reads no more (nor should the harness,
      // whose process also runs the healthy pair).
      res.on('data', (chunk: string) => {
        if (settled) return;
        text += chunk;
        const end = text.indexOf('\n\n');
        if (end !== -1) parser.feed(`${text.slice(0, end)}\n\n`);
      });
      res.on('error', () => {});
    });
  });
}

/** The tallies of the attack. */
interface Tally {
  probes: number;
  failed: number;
  headerProbes: number;
  headerLeaks: number;
  gapProbes: number;
  gapLeaks: number;
  /** Resumes after a real private id, and those answered differently from an unknown id. */
  guessedReal: number;
  confirmed: number;
  /** Resumes after never-published ids answered as if they existed (must be 0 either way). */
  guessedFake: number;
  fakeFound: number;
  dataLeaks: number;
  examples: string[];
}

/** Issue 14, item 7: no private id reaches an anonymous subscriber (header, gap, resume). */
export const privateIds: Scenario = {
  name: 'attack-private-ids',
  summary:
    'an anonymous subscriber tries the Last-Event-ID header, herald.gap and guessed resumes to learn private ids: none leaks',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const random = seeded(ctx.seed);
    const hex = (): string => random.int(0, 2 ** 31).toString(16);
    // History big enough to keep everything of the run: the oldest retained event stays private.
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--history-size',
      '1000000',
      '--history-bytes',
      '256MiB',
    ]);
    try {
      const token = await publisherToken();
      const secrets = new Set<string>();
      const realGuesses: string[] = [];
      const publishSecret = async (id: string | undefined): Promise<void> => {
        if (id !== undefined) secrets.add(id);
        const answer = await publishOnce(hub.url, token, {
          topics: [SECRET_TOPIC],
          data: PRIVATE_DATA,
          private: true,
          ...(id === undefined ? {} : { id }),
        });
        if (answer.status !== 200)
          throw new Error(`setup publish: ${answer.status} ${answer.body}`);
        secrets.add(answer.body);
        realGuesses.push(answer.body);
      };
      // The oldest retained event is private; then private and public ones, some private ones
      // with generated ids.
      await publishSecret(`secret-${hex()}`);
      for (let i = 1; i < p.secrets + p.generated; i++) {
        await publishSecret(i < p.secrets ? `secret-${hex()}` : undefined);
        await publishOnce(hub.url, token, { topics: ['/public'], data: `public ${i}` });
      }
      ctx.log(`attack-private-ids: ${secrets.size} private ids in history`);
      const fakeGuesses = realGuesses.map(() => `secret-${hex()}x`);

      const tally: Tally = {
        probes: 0,
        failed: 0,
        headerProbes: 0,
        headerLeaks: 0,
        gapProbes: 0,
        gapLeaks: 0,
        guessedReal: 0,
        confirmed: 0,
        guessedFake: 0,
        fakeFound: 0,
        dataLeaks: 0,
        examples: [],
      };
      const note = (what: string): void => {
        if (tally.examples.length < 5) tally.examples.push(what);
      };
      let guessIndex = 0;
      /** One round: a fresh header, a gap, a real guess, a fake guess. */
      const round = async (url: string): Promise<void> => {
        const kind = tally.probes % 4;
        tally.probes++;
        let answer: ProbeAnswer;
        if (kind === 0) {
          answer = await probe(url, undefined, 0);
          tally.headerProbes++;
          if (answer.header !== undefined && secrets.has(answer.header)) {
            tally.headerLeaks++;
            note(`header ${answer.header}`);
          }
        } else if (kind === 1) {
          answer = await probe(url, `gone-${hex()}`, 2000);
          tally.gapProbes++;
          if (answer.first?.event === 'herald.gap') {
            const gap = JSON.parse(answer.first.data) as { oldestAvailable: string | null };
            if (gap.oldestAvailable !== null && secrets.has(gap.oldestAvailable)) {
              tally.gapLeaks++;
              note(`oldestAvailable ${gap.oldestAvailable}`);
            }
          }
        } else {
          const i = guessIndex++ % realGuesses.length;
          const real = kind === 2;
          const id = real ? realGuesses[i]! : fakeGuesses[i]!;
          answer = await probe(url, id, 2000);
          // An unknown id gets `Last-Event-ID: earliest` and a herald.gap first: anything else
          // says the id exists.
          const known =
            answer.header !== 'earliest' ||
            (answer.first !== undefined && answer.first.event !== 'herald.gap');
          if (real) {
            tally.guessedReal++;
            if (known) {
              tally.confirmed++;
              note(`resume after ${id}: header ${answer.header}, first ${answer.first?.event}`);
            }
          } else {
            tally.guessedFake++;
            if (known) tally.fakeFound++;
          }
        }
        if (answer.status !== 200) tally.failed++;
        if (answer.text.includes(PRIVATE_DATA)) tally.dataLeaks++;
      };

      let running = true;
      let loops: Promise<void>[] = [];
      let live: SteadyPublisher | undefined;
      let attackSeconds = 0;
      const { figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            // Private updates keep coming: the newest event is often one of them.
            let n = 0;
            live = new SteadyPublisher({
              url: hub.url,
              token,
              rate: p.liveRate,
              concurrency: 1,
              next: () => {
                const id = `secret-live-${++n}-${hex()}`;
                secrets.add(id);
                return { topics: [SECRET_TOPIC], data: PRIVATE_DATA, private: true, id };
              },
            });
            live.start();
            const t0 = performance.now();
            loops = Array.from({ length: p.concurrency }, async () => {
              while (running) await round(hub.url);
            });
            return t0;
          },
          async withdraw(t0) {
            running = false;
            await Promise.all(loops);
            await live?.stop();
            attackSeconds = (performance.now() - t0) / 1000;
          },
        },
      );

      // An authorized subscriber resumes after a private update it received: exact.
      const reader = await subscriberToken([SECRET_TOPIC]);
      const authorized = new AccountingSubscriber({
        url: hub.url,
        topics: [SECRET_TOPIC],
        token: reader,
      });
      await authorized.connect();
      const received = await publishOnce(hub.url, token, {
        topics: [SECRET_TOPIC],
        data: 'for the authorized',
        private: true,
      });
      await authorized.until(() => authorized.lastEventId === received.body);
      authorized.drop();
      const missed: string[] = [];
      for (let i = 0; i < 3; i++) {
        const a = await publishOnce(hub.url, token, {
          topics: [SECRET_TOPIC],
          data: `missed ${i}`,
          private: i % 2 === 0,
        });
        missed.push(a.body);
      }
      await authorized.connect();
      await Promise.race([
        authorized.until(() => authorized.lastEventId === missed.at(-1)),
        sleep(5000),
      ]);
      authorized.stop();
      const resumed = authorized.received.slice(authorized.received.indexOf(received.body) + 1);
      const exact =
        authorized.gaps.length === 0 && JSON.stringify(resumed) === JSON.stringify(missed);

      const probesPerSec = tally.probes / Math.max(attackSeconds, 0.001);
      const report = [
        `${secrets.size} private ids (${p.generated} generated), ${p.concurrency} anonymous probes in flight, private updates at ${p.liveRate}/s during the attack`,
        table(
          ['way', 'probes', 'private ids learnt'],
          [
            ['fresh Last-Event-ID header', tally.headerProbes, tally.headerLeaks],
            ['herald.gap oldestAvailable', tally.gapProbes, tally.gapLeaks],
            ['resume after a real private id', tally.guessedReal, tally.confirmed],
            ['resume after a never-published id', tally.guessedFake, tally.fakeFound],
          ],
        ),
        `${tally.probes} probes (${probesPerSec.toFixed(0)}/s), ${tally.failed} not answered 200, private data seen ${tally.dataLeaks} times`,
        `authorized resume after ${received.body}: ${JSON.stringify(resumed)}, ${authorized.gaps.length} gaps (expected ${JSON.stringify(missed)})`,
        ...tally.examples.map((e) => `leak: ${e}`),
        attackReport(figures),
      ].join('\n');
      return {
        checks: [
          check(
            'a fresh Last-Event-ID header names no private id',
            tally.headerProbes > 0 && tally.headerLeaks === 0,
            `${tally.headerLeaks} of ${tally.headerProbes}`,
          ),
          check(
            "herald.gap's oldestAvailable names no private id",
            tally.gapProbes > 0 && tally.gapLeaks === 0,
            `${tally.gapLeaks} of ${tally.gapProbes}`,
          ),
          check(
            'resuming after a private id is answered as after an unknown id',
            tally.guessedReal > 0 && tally.confirmed === 0 && tally.fakeFound === 0,
            `${tally.confirmed} of ${tally.guessedReal} private ids confirmed; ${tally.fakeFound} of ${tally.guessedFake} never-published ones`,
          ),
          check(
            'no private data reached the anonymous subscriber; every probe answered 200',
            tally.dataLeaks === 0 && tally.failed === 0,
            `${tally.dataLeaks} leaks, ${tally.failed} failures`,
          ),
          check(
            'an authorized subscriber resumes exactly after a private id it received',
            exact,
            `${resumed.length} events, ${authorized.gaps.length} gaps`,
          ),
          ...boundChecks(figures),
        ],
        report,
        figures: {
          ...attackFigureRecord(figures),
          privateIds: secrets.size,
          probes: tally.probes,
          probesPerSec: Math.round(probesPerSec),
          headerProbes: tally.headerProbes,
          headerLeaks: tally.headerLeaks,
          gapProbes: tally.gapProbes,
          gapLeaks: tally.gapLeaks,
          guessedReal: tally.guessedReal,
          confirmed: tally.confirmed,
          fakeFound: tally.fakeFound,
          dataLeaks: tally.dataLeaks,
          authorizedExact: exact ? 1 : 0,
        },
      };
    } finally {
      await hub.close();
    }
  },
};
