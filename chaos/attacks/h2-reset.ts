// Item 6: HTTP/2 streams reset with NO_ERROR right after their request headers.
//
// One attacker address (127.0.0.2) opens an h2c session and subscribes again and again, each
// time resetting the stream with RST_STREAM(NO_ERROR) right after the request headers — many
// times more streams than its per-IP allowance. node:http2 used to lose such a stream's 'close',
// so each one kept its subscription and its per-IP and global slot while the session lived; the
// address was locked out (429) after --max-connections-per-ip of them. The bound, as behaviour:
// every slot comes back, and the attacker's address may subscribe again.
//
// The hub speaks h2c only, so the healthy bystanders of `underAttack` reach it through an
// HTTP/1.1 → h2c relay (chaos/lib/h2.ts) from 127.0.0.1.
//
// nghttp2 (since 1.57, the "rapid reset" mitigation) ends a session with GOAWAY(INTERNAL_ERROR)
// once its peer resets streams faster than a bucket of 1000 plus 33 per second; ending the
// session also released whatever it leaked. So the attacker spreads its resets over sessions of
// RESETS_PER_SESSION, and keeps every session open until it withdraws.
import type { ClientHttp2Session } from 'node:http2';
import {
  type AttackFigures,
  attackFigureRecord,
  attackReport,
  boundChecks,
  underAttack,
} from '../lib/attack.js';
import { connectH2, h2GetAndReset, h2Metric, h2Subscribe, startH2cRelay } from '../lib/h2.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** --max-connections-per-ip. */
  perIp: number;
  /** Streams the attacker opens and resets. */
  resets: number;
  /** Resets in flight at once (below the allowance, so none is refused for concurrency). */
  concurrency: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { perIp: 1000, resets: 5000, concurrency: 100 },
  quick: { perIp: 200, resets: 1000, concurrency: 50 },
  test: { perIp: 20, resets: 200, concurrency: 10 },
};

const ATTACKER = '127.0.0.2';
/** Resets per attacker session: under nghttp2's burst of 1000. */
const RESETS_PER_SESSION = 500;
const TOPIC_PATH = '/.well-known/mercure?topic=%2Freset';

/** What the attack left behind. */
interface Outcome {
  resets: number;
  seconds: number;
  /** Slots the hub still counted for the attacker once its resets were done. */
  leakedSlots: number;
  /** The status a fresh subscription from the attacker's address got afterwards. */
  freshStatus: number;
  freshBody: string;
}

/** Slots taken on the hub, polled until they stop falling (or `ms` passed). */
async function settledSlots(
  session: ClientHttp2Session,
  floor: number,
  ms: number,
): Promise<number> {
  const deadline = performance.now() + ms;
  let slots = (await h2Metric(session, 'herald_connections')) ?? -1;
  while (slots > floor && performance.now() < deadline) {
    await sleep(50);
    slots = (await h2Metric(session, 'herald_connections')) ?? -1;
  }
  return slots;
}

export const h2Reset: Scenario = {
  name: 'attack-h2-reset',
  summary: 'h2c streams reset with NO_ERROR right after their headers: slots come back',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--h2c',
      '--max-connections-per-ip',
      String(p.perIp),
    ]);
    const relay = await startH2cRelay(hub.url);
    try {
      const token = await publisherToken();
      const { state, figures } = await underAttack(
        { ...hub, url: relay.url },
        { size: ctx.size, publisherToken: token },
        {
          async launch(): Promise<{ sessions: ClientHttp2Session[]; outcome: Outcome }> {
            const sessions: ClientHttp2Session[] = [];
            const t0 = performance.now();
            for (let done = 0; done < p.resets; done += RESETS_PER_SESSION) {
              const session = await connectH2(hub.url, ATTACKER);
              sessions.push(session);
              const count = Math.min(RESETS_PER_SESSION, p.resets - done);
              let next = 0;
              await Promise.all(
                Array.from({ length: Math.min(p.concurrency, count) }, async () => {
                  while (next < count) {
                    next++;
                    await h2GetAndReset(session, TOPIC_PATH);
                  }
                }),
              );
            }
            const seconds = (performance.now() - t0) / 1000;
            ctx.log(
              `attack-h2-reset: ${p.resets} streams reset over ${sessions.length} sessions in ${seconds.toFixed(1)} s`,
            );
            // The bystanders' subscriber holds one slot (through the relay, from 127.0.0.1).
            const slots = await settledSlots(sessions[0]!, 1, 10_000);
            const fresh = await connectH2(hub.url, ATTACKER);
            let freshStatus = 0;
            let freshBody = '';
            try {
              const answer = await h2Subscribe(fresh, TOPIC_PATH);
              freshStatus = answer.status;
              freshBody = answer.body;
            } finally {
              fresh.destroy();
            }
            return {
              sessions,
              outcome: {
                resets: p.resets,
                seconds,
                leakedSlots: slots - 1,
                freshStatus,
                freshBody,
              },
            };
          },
          async withdraw(s): Promise<void> {
            for (const session of s.sessions) session.destroy();
          },
        },
      );
      return result(state.outcome, figures, p);
    } finally {
      await relay.close();
      await hub.close();
    }
  },
};

function result(o: Outcome, figures: AttackFigures, p: Params): ScenarioResult {
  return {
    checks: [
      check(
        'every reset stream gave its slot back',
        o.leakedSlots === 0,
        `${o.leakedSlots} slots still held after ${o.resets} resets (per-IP limit ${p.perIp})`,
      ),
      check(
        "the attacker's address may subscribe again (no 429)",
        o.freshStatus === 200,
        `a fresh subscription got ${o.freshStatus}${o.freshStatus === 200 ? '' : `: ${o.freshBody.trim()}`}`,
      ),
      ...boundChecks(figures),
    ],
    report: [
      `${o.resets} h2c streams reset with NO_ERROR right after their headers from ${ATTACKER} (${(o.resets / o.seconds).toFixed(0)}/s), --max-connections-per-ip ${p.perIp}`,
      `slots held afterwards: ${o.leakedSlots}; a fresh subscription from ${ATTACKER}: ${o.freshStatus}`,
      attackReport(figures),
    ].join('\n'),
    figures: {
      ...attackFigureRecord(figures),
      resets: o.resets,
      leakedSlots: o.leakedSlots,
      freshSubscribeStatus: o.freshStatus,
    },
  };
}
