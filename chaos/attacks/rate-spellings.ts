// Item 15: one publisher token, many spellings, to multiply --publish-rate.
//
// An ES256 signature is 64 bytes in 86 base64url characters: the last character has 4 bits that
// decoders ignore, so a token has 16 spellings that verify, one more with "==" padding, and it
// can travel in the Authorization header, the query parameter (plain or percent-encoded) or the
// cookie (plain or quoted). The hub used to key the rate limit by the token string: each
// spelling had a bucket of its own, and one publisher got 4 to 16 times its rate. The bound, as
// behaviour: everything accepted from the attacker's identity stays within one bucket's
// allowance, and the excess gets 429 with Retry-After and the reason.
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import {
  type AttackFigures,
  attackFigureRecord,
  attackReport,
  boundChecks,
  underAttack,
} from '../lib/attack.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** --publish-rate, per second. */
  rate: number;
  /** Attacker requests in flight. */
  concurrency: number;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { rate: 50, concurrency: 16 },
  quick: { rate: 50, concurrency: 8 },
  test: { rate: 2, concurrency: 4 },
};

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ORIGIN = 'https://publisher.example';

/** The spellings of a token whose signature decodes to the same bytes. */
function spellings(token: string): string[] {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bits = (signature.length * 6) % 8;
  const base = B64URL.indexOf(signature.at(-1)!) & ~((1 << bits) - 1);
  const out: string[] = [];
  for (let low = 0; low < 1 << bits; low++) {
    out.push(`${header}.${payload}.${signature.slice(0, -1)}${B64URL[base | low]}`);
  }
  out.push(`${token}${'='.repeat((4 - (signature.length % 4)) % 4)}`);
  return out;
}

/** One way to send a token. */
type Carrier = (token: string) => { path: string; headers: Record<string, string> };

const HUB = '/.well-known/mercure';
const CARRIERS: Record<string, Carrier> = {
  header: (t) => ({ path: HUB, headers: { authorization: `Bearer ${t}` } }),
  query: (t) => ({ path: `${HUB}?authorization=${t}`, headers: {} }),
  'query, percent-encoded': (t) => ({
    path: `${HUB}?authorization=${encodeURIComponent(t).replace(/[-_.]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}`,
    headers: {},
  }),
  cookie: (t) => ({ path: HUB, headers: { cookie: `mercureAuthorization=${t}`, origin: ORIGIN } }),
  'cookie, quoted': (t) => ({
    path: HUB,
    headers: { cookie: `mercureAuthorization="${t}"`, origin: ORIGIN },
  }),
};

interface Outcome {
  variants: number;
  accepted: number;
  statuses: Map<number, number>;
  /** 429s without a usable Retry-After or without the reason. */
  bad429: string[];
  seconds: number;
}

export const rateSpellings: Scenario = {
  name: 'attack-rate-spellings',
  summary: 'one token in many spellings against --publish-rate: one bucket, 429 past it',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const mint = (sub: string) =>
      new SignJWT({ mercure: { publish: ['*'] }, sub })
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuedAt()
        .sign(privateKey);
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--publisher-jwt-key',
      await exportSPKI(publicKey),
      '--publisher-jwt-alg',
      'ES256',
      '--publish-rate',
      String(p.rate),
      '--publish-origins',
      ORIGIN,
    ]);
    try {
      const attacker = await mint('attacker');
      const variants = spellings(attacker).flatMap((spelling) =>
        Object.values(CARRIERS).map((carry) => carry(spelling)),
      );
      const { state, figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: await mint('bystander') },
        {
          async launch() {
            const outcome: Outcome = {
              variants: variants.length,
              accepted: 0,
              statuses: new Map(),
              bad429: [],
              seconds: 0,
            };
            let running = true;
            let next = 0;
            const t0 = performance.now();
            const loops = Array.from({ length: p.concurrency }, async () => {
              while (running) {
                const variant = variants[next++ % variants.length]!;
                const form = new URLSearchParams({ topic: '/spelled', data: 'x' });
                let status = 0;
                try {
                  const res = await fetch(`${hub.url}${variant.path}`, {
                    method: 'POST',
                    headers: variant.headers,
                    body: form,
                  });
                  status = res.status;
                  const body = await res.text();
                  if (status === 429) {
                    const wait = Number(res.headers.get('retry-after'));
                    if (
                      !(Number.isInteger(wait) && wait >= 1 && /--publish-rate/.test(body)) &&
                      outcome.bad429.length < 3
                    ) {
                      outcome.bad429.push(`${res.headers.get('retry-after')} ${body.trim()}`);
                    }
                  }
                } catch {
                  await sleep(20);
                }
                if (!running) break; // answered after the window closed: not counted
                outcome.statuses.set(status, (outcome.statuses.get(status) ?? 0) + 1);
                if (status === 200) outcome.accepted++;
              }
            });
            return { outcome, loops, t0, stop: () => (running = false) };
          },
          async withdraw(s) {
            s.stop();
            s.outcome.seconds = (performance.now() - s.t0) / 1000;
            await Promise.all(s.loops);
          },
        },
      );
      return result(state.outcome, figures, p);
    } finally {
      await hub.close();
    }
  },
};

function result(o: Outcome, figures: AttackFigures, p: Params): ScenarioResult {
  // One bucket: a full burst (the rate, at least 1) at the start, then `rate` per second.
  const allowance = Math.floor(Math.max(1, p.rate) + p.rate * o.seconds) + 1;
  const tally = [...o.statuses]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
  const refused = o.statuses.get(429) ?? 0;
  return {
    checks: [
      check(
        "the attacker's spellings share one bucket",
        o.accepted <= allowance,
        `${o.accepted} accepted in ${o.seconds.toFixed(1)} s; one bucket allows ≤ ${allowance} (${(o.accepted / Math.max(1, allowance)).toFixed(2)}×)`,
      ),
      check(
        'the excess gets 429 with Retry-After and the reason',
        refused > 0 &&
          o.bad429.length === 0 &&
          [...o.statuses.keys()].every((s) => s === 200 || s === 429),
        `${tally}${o.bad429.length > 0 ? `; e.g. ${o.bad429.join(' | ')}` : ''}`,
      ),
      ...boundChecks(figures),
    ],
    report: [
      `one ES256 token in ${o.variants} spellings (signature trailing bits and padding × header, query, percent-encoded query, cookie, quoted cookie), ${p.concurrency} in flight; --publish-rate ${p.rate}/s`,
      `answers: ${tally}; accepted ${o.accepted} in ${o.seconds.toFixed(1)} s (${(o.accepted / o.seconds).toFixed(1)}/s) against one bucket's ${allowance}`,
      attackReport(figures),
    ].join('\n'),
    figures: {
      ...attackFigureRecord(figures),
      variants: o.variants,
      accepted: o.accepted,
      allowance,
      refused,
      acceptedPerSec: Number((o.accepted / o.seconds).toFixed(1)),
    },
  };
}
