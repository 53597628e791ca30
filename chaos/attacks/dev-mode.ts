// Dev mode as an open door: `herald serve --dev` used to listen on every interface and embed a
// publish-anything token without expiry in its dashboard page, so anyone on the LAN could
// publish. Now it listens on localhost (127.0.0.1 and ::1) unless an address is given, the page
// carries a publish-only token minted per view that expires (--dev-token-ttl), and on loopback
// the dashboard answers only requests addressed to localhost (a DNS-rebinding page cannot read
// the token).
//
// Checked: dev mode's default address is localhost; the hub answers on 127.0.0.1 and ::1 and
// not on the machine's other addresses; the page token is publish-only and short-lived, and is
// refused once expired (quick / full: a hub with --dev-token-ttl 1s, waited out) while a fresh
// one from the page's renewal route works; requests naming another host get 403 and no token.
// The attack measured: a flood of page views (each mints and signs a token) and of rebinding
// requests, beside the healthy pair.
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { loadConfig } from '../../src/server/config.js';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import type { HubHandle } from '../lib/hub.js';
import { publishOnce } from '../lib/publisher.js';
import { table } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import {
  type Check,
  check,
  type Scenario,
  type ScenarioContext,
  type ScenarioResult,
} from '../scenario.js';

const CONCURRENCY: Record<ScenarioContext['size'], number> = { full: 2, quick: 2, test: 2 };

/** Connects to host:port; resolves with 'connected' or the error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

/** The machine's addresses other than loopback (link-local IPv6 needs a scope: left out). */
function otherAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && !a.address.startsWith('fe80:'))
    .map((a) => a!.address);
}

/** The page's publisher token and its claims. */
async function pageToken(
  url: string,
): Promise<{ token: string; claims: Record<string, unknown> } | undefined> {
  const html = await (await fetch(`${url}/`)).text();
  // The page's configuration: a JSON data block (no browser runs it).
  const json = /<script type="application\/json" id="dashboard-config">([^<]*)<\/script>/.exec(
    html,
  )?.[1];
  if (json === undefined) return undefined;
  const token = (JSON.parse(json) as { publisherToken?: string }).publisherToken ?? '';
  if (token === '') return undefined;
  const payload = token.split('.')[1] ?? '';
  return { token, claims: JSON.parse(Buffer.from(payload, 'base64url').toString()) };
}

/** POSTs the renewal route; the fresh token or undefined. */
async function renew(url: string): Promise<string | undefined> {
  const res = await fetch(`${url}/dashboard/token`, { method: 'POST' });
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { token?: string }).token;
}

/** A raw GET with a chosen Host header: the status and the body. */
async function withHost(url: string, path: string, host: string, method = 'GET') {
  const { request } = await import('node:http');
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export const devMode: Scenario = {
  name: 'attack-dev-mode',
  summary:
    '--dev from the LAN and from a rebinding page: localhost only, a short-lived publish-only page token, 403 for other host names',
  async run(ctx): Promise<ScenarioResult> {
    const checks: Check[] = [];
    const defaultHost = loadConfig({ argv: ['--dev'], env: {} }).config.host;
    checks.push(
      check(
        "dev mode's default address is localhost (127.0.0.1 and ::1)",
        defaultHost === 'localhost',
        `host ${JSON.stringify(defaultHost)}`,
      ),
    );
    // What --dev listens on without --addr: localhost, both loopback addresses.
    const hub: HubHandle = await ctx.startHub(['--dev', '--addr', 'localhost:0']);
    try {
      const port = Number(new URL(hub.url).port);
      const v4 = await tryConnect('127.0.0.1', port);
      const v6 = await tryConnect('::1', port);
      const others = otherAddresses();
      const reached: string[] = [];
      for (const address of others) {
        if ((await tryConnect(address, port)) === 'connected') reached.push(address);
      }
      checks.push(
        check(
          'answers on 127.0.0.1 and ::1 (whichever localhost resolves to)',
          v4 === 'connected' &&
            (v6 === 'connected' || v6 === 'EADDRNOTAVAIL' || v6 === 'ENETUNREACH'),
          `127.0.0.1: ${v4}; ::1: ${v6}`,
        ),
        check(
          "not reachable on the machine's other addresses",
          reached.length === 0,
          others.length === 0
            ? 'this machine has no other address'
            : `${others.join(', ')}: ${reached.length === 0 ? 'all refused' : `${reached.join(', ')} answered`}`,
        ),
      );

      const page = await pageToken(hub.url);
      const claims = page?.claims ?? {};
      const ttl = Number(claims.exp) - Number(claims.iat);
      checks.push(
        check(
          'the page token may only publish, and expires (--dev-token-ttl, 10 min by default)',
          page !== undefined &&
            JSON.stringify(claims.mercure) === '{"publish":["*"]}' &&
            ttl > 0 &&
            ttl <= 600,
          `claims ${JSON.stringify(claims)}`,
        ),
      );
      const rebound = await withHost(hub.url, '/', `attacker.example:${port}`);
      const reboundToken = await withHost(hub.url, '/dashboard/token', 'attacker.example', 'POST');
      checks.push(
        check(
          'a request naming another host (DNS rebinding) gets 403 and no token',
          rebound.status === 403 &&
            reboundToken.status === 403 &&
            !/eyJ/.test(rebound.body + reboundToken.body) &&
            /localhost/.test(rebound.body),
          `page ${rebound.status}, token ${reboundToken.status}: ${rebound.body.trim().slice(0, 80)}`,
        ),
      );

      // The attack: page views (each mints a token) and rebinding requests, as fast as they go.
      const publisher = (await renew(hub.url)) ?? '';
      let running = false;
      const tally = new Map<string, number>();
      const count = (key: string): void => {
        tally.set(key, (tally.get(key) ?? 0) + 1);
      };
      const { figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: publisher },
        {
          launch: async () => {
            running = true;
            return Array.from({ length: CONCURRENCY[ctx.size] }, async (_, i) => {
              while (running) {
                try {
                  if (i % 2 === 0) {
                    const res = await fetch(`${hub.url}/`);
                    await res.arrayBuffer();
                    count(`page ${res.status}`);
                  } else {
                    const res = await withHost(hub.url, '/', 'attacker.example');
                    count(`rebinding ${res.status}`);
                  }
                } catch {
                  count('network error');
                }
              }
            });
          },
          withdraw: async (loops) => {
            running = false;
            await Promise.all(loops);
          },
        },
      );
      const answers = [...tally].map(([k, n]) => `${k}×${n}`).join(', ');
      checks.push(
        check(
          'page views are served and rebinding requests refused throughout',
          (tally.get('page 200') ?? 0) > 0 &&
            (tally.get('rebinding 403') ?? 0) > 0 &&
            [...tally.keys()].every((k) => k === 'page 200' || k === 'rebinding 403'),
          answers,
        ),
        ...boundChecks(figures),
      );

      // The token expires: a hub whose page tokens live 1 s, waited out (beyond the 5 s leeway).
      let expiry = 'not waited out at test size (test/integration/dev-mode.test.ts does)';
      if (ctx.size !== 'test') {
        const short = await ctx.startHub([
          '--dev',
          '--addr',
          'localhost:0',
          '--dev-token-ttl',
          '1s',
        ]);
        try {
          const old = await pageToken(short.url);
          await sleep(7000);
          const late = await publishOnce(short.url, old?.token ?? '', {
            topics: ['/dev'],
            data: 'late',
          });
          const fresh = await renew(short.url);
          const renewed =
            fresh === undefined
              ? undefined
              : await publishOnce(short.url, fresh, { topics: ['/dev'], data: 'renewed' });
          expiry = `old token ${late.status} (${late.body.trim().slice(0, 60)}); renewed ${renewed?.status}`;
          checks.push(
            check(
              'an expired page token is refused; the renewed one publishes',
              late.status === 401 && /expired/.test(late.body) && renewed?.status === 200,
              expiry,
            ),
          );
        } finally {
          await short.close();
        }
      }

      const report = [
        table(
          ['127.0.0.1', '::1', 'other addresses', 'page token', 'rebinding'],
          [
            [
              v4,
              v6,
              reached.length === 0 ? `${others.length} refused` : reached.join(' '),
              `${ttl} s, publish only`,
              `${rebound.status}`,
            ],
          ],
        ),
        `page-view flood (${CONCURRENCY[ctx.size]} in flight): ${answers}`,
        `expiry: ${expiry}`,
        attackReport(figures),
      ].join('\n');
      return {
        checks,
        report,
        figures: {
          tokenTtlSeconds: ttl,
          otherAddresses: others.length,
          reachedOtherAddresses: reached.length,
          pageViews: tally.get('page 200') ?? 0,
          rebindingRefused: tally.get('rebinding 403') ?? 0,
          ...attackFigureRecord(figures),
        },
      };
    } finally {
      await hub.close();
    }
  },
};
