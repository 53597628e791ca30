// Item 14: a JWKS server that answers with hundreds of megabytes.
//
// The hub verifies tokens with a JWKS (--jwks-url) whose server — misconfigured, compromised, or
// an error page where the JWKS should be — answers an endless key list (300 MB at full size).
// Attackers keep presenting tokens that need the JWKS (a made-up ES256 key and kid), each of
// which may make the hub fetch it. The hub used to read the whole answer (+620 MB RSS). The
// bounds, as behaviour: every such token gets a 401 saying the JWKS is larger than
// --jwks-max-bytes, the JWKS server gets to send little more than that per fetch (the hub
// stops reading), and a failing JWKS is fetched at most once per backoff period.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import {
  type AttackFigures,
  attackFigureRecord,
  attackReport,
  boundChecks,
  underAttack,
} from '../lib/attack.js';
import { mib } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** Bytes of the JWKS answer. */
  jwksBytes: number;
  /** Attacker requests in flight. */
  concurrency: number;
  /** Pause between one attacker's requests, ms. */
  pauseMs: number;
}

// The attackers are paced (about 40 requests/s in all): enough to make the hub want the JWKS
// again the moment it may, without turning the attack into a plain request flood (measured by
// the `flood` scenario; not bounded by the hub, see docs/security.md).
const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { jwksBytes: 300 * 1024 * 1024, concurrency: 4, pauseMs: 100 },
  quick: { jwksBytes: 100 * 1024 * 1024, concurrency: 4, pauseMs: 100 },
  test: { jwksBytes: 8 * 1024 * 1024, concurrency: 2, pauseMs: 20 },
};

/** The hub's default --jwks-max-bytes. */
const MAX_BYTES = 1024 * 1024;
/** How long the hub waits before fetching a failed JWKS again (auth.ts). */
const BACKOFF_MS = 5000;

/** A JWKS server answering `bytes` of a valid-looking, endless key list. */
async function bloatedJwks(bytes: number) {
  const sentPerFetch: number[] = [];
  const open = new Set<ServerResponse>();
  const filler = `,${JSON.stringify({ kty: 'EC', crv: 'P-256', kid: 'k'.repeat(900), x: 'AA', y: 'AA' })}`;
  const server = createServer((_req, res) => {
    open.add(res);
    const index = sentPerFetch.push(0) - 1;
    res.once('close', () => open.delete(res));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes });
    let sent = 0;
    const head = '{"keys":[{"kty":"oct","kid":"first","k":"AA"}';
    res.write(head);
    sent += head.length;
    const step = (): void => {
      while (!res.destroyed) {
        const tail = ']}';
        const chunk =
          sent + filler.length + tail.length > bytes ? tail.padStart(bytes - sent) : filler;
        sent += chunk.length;
        sentPerFetch[index] = sent;
        if (sent >= bytes) {
          res.end(chunk);
          return;
        }
        if (!res.write(chunk)) {
          res.once('drain', step);
          return;
        }
      }
    };
    step();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    sentPerFetch,
    async close() {
      for (const res of open) res.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

interface Outcome {
  statuses: Map<number, number>;
  /** 401s whose reason names --jwks-max-bytes. */
  boundedRefusals: number;
  /** Other answers (first few), for the report. */
  unexpected: string[];
  requests: number;
  seconds: number;
}

export const jwksBloat: Scenario = {
  name: 'attack-jwks-bloat',
  summary: 'a JWKS server answering hundreds of MB: read up to --jwks-max-bytes, 401 with reason',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const jwks = await bloatedJwks(p.jwksBytes);
    // The static key verifies the bystanders' HS256 tokens (no kid); a token with a kid goes to
    // the JWKS.
    const hub = await ctx.startHub([...KEY_FLAGS, '--anonymous', '--jwks-url', jwks.url]);
    try {
      const token = await publisherToken();
      const { privateKey } = await generateKeyPair('ES256');
      const attackerToken = await new SignJWT({ mercure: { subscribe: ['*'] } })
        .setProtectedHeader({ alg: 'ES256', kid: 'attacker' })
        .sign(privateKey);
      const { state, figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            const outcome: Outcome = {
              statuses: new Map(),
              boundedRefusals: 0,
              unexpected: [],
              requests: 0,
              seconds: 0,
            };
            let running = true;
            const t0 = performance.now();
            const loops = Array.from({ length: p.concurrency }, async () => {
              while (running) {
                let status = 0;
                let body = '';
                try {
                  const res = await fetch(`${hub.url}/.well-known/mercure?topic=/jwks`, {
                    headers: { authorization: `Bearer ${attackerToken}` },
                  });
                  status = res.status;
                  body = await res.text();
                } catch (error) {
                  body = (error as Error).message;
                }
                outcome.requests++;
                outcome.statuses.set(status, (outcome.statuses.get(status) ?? 0) + 1);
                if (status === 401 && /--jwks-max-bytes/.test(body)) outcome.boundedRefusals++;
                else if (outcome.unexpected.length < 3) {
                  outcome.unexpected.push(`${status}: ${body.trim().slice(0, 200)}`);
                }
                await sleep(p.pauseMs);
              }
            });
            // Wait for the first answer: the attack is in place once the JWKS was fetched.
            while (outcome.requests === 0) await sleep(10);
            return { outcome, loops, t0, stop: () => (running = false) };
          },
          async withdraw(s) {
            s.stop();
            await Promise.all(s.loops);
            s.outcome.seconds = (performance.now() - s.t0) / 1000;
          },
        },
      );
      return result(state.outcome, figures, p, jwks.sentPerFetch);
    } finally {
      await hub.close();
      await jwks.close();
    }
  },
};

function result(
  o: Outcome,
  figures: AttackFigures,
  p: Params,
  sentPerFetch: readonly number[],
): ScenarioResult {
  const fetches = sentPerFetch.length;
  const maxSent = Math.max(0, ...sentPerFetch);
  const allowedFetches = Math.ceil((o.seconds * 1000) / BACKOFF_MS) + 1;
  const tally = [...o.statuses]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
  return {
    checks: [
      check(
        'every token that needs the JWKS gets a 401 naming --jwks-max-bytes',
        o.requests > 0 && o.boundedRefusals === o.requests,
        `${o.boundedRefusals} of ${o.requests} (${tally})${o.unexpected.length > 0 ? `; e.g. ${o.unexpected.join(' | ')}` : ''}`,
      ),
      check(
        'the hub stops reading past the bound',
        maxSent < 16 * MAX_BYTES && maxSent < p.jwksBytes,
        `the JWKS server sent at most ${mib(maxSent)} MiB of ${mib(p.jwksBytes)} MiB per fetch`,
      ),
      check(
        'a failing JWKS is fetched at most once per backoff period',
        fetches >= 1 && fetches <= allowedFetches,
        `${fetches} fetches in ${o.seconds.toFixed(1)} s (≤ ${allowedFetches})`,
      ),
      ...boundChecks(figures),
    ],
    report: [
      `JWKS answer of ${mib(p.jwksBytes)} MiB; ${p.concurrency} attackers with a made-up ES256 token, each pausing ${p.pauseMs} ms between requests; --jwks-max-bytes ${mib(MAX_BYTES)} MiB (default)`,
      `answers: ${tally}; fetches of the JWKS: ${fetches}, the most it got to send in one: ${mib(maxSent)} MiB`,
      attackReport(figures),
    ].join('\n'),
    figures: {
      ...attackFigureRecord(figures),
      requests: o.requests,
      boundedRefusals: o.boundedRefusals,
      jwksFetches: fetches,
      jwksMaxSentMiB: Number(mib(maxSent)),
      jwksBytesMiB: Number(mib(p.jwksBytes)),
    },
  };
}
