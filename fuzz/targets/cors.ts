// Fuzz target: CORS. Random Origin headers (allowlisted ones, near misses — other scheme, port,
// case, suffix, trailing slash, `null` — and arbitrary URLs) against hubs configured with an
// allowlist, with `*`, and with nothing, on every route (streams, HEAD, publishes, errors,
// preflights, health, 404). An origin is echoed (as sent) only when it is on the list — in any
// spelling of it: case, default port, trailing slash — and only then with credentials; `*` never
// comes with credentials; nothing else is ever allowed.
import { request } from 'node:http';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { type HubHandle, startLocalHub } from '../../chaos/lib/hub.js';
import type { FuzzSession, FuzzTarget } from '../target.js';

const SECRET = 'fuzz-cors-secret-of-at-least-32-bytes-long!';
const ALLOWED = ['https://app.example', 'http://localhost:3000'];
const HUB = '/.well-known/mercure';

type Config = 'allowlist' | 'any' | 'none';
type Route =
  | 'subscribe'
  | 'head'
  | 'subscribe-401'
  | 'subscribe-400'
  | 'publish'
  | 'publish-401'
  | 'preflight'
  | 'healthz'
  | 'missing';

/** Routes of the Mercure endpoint, whose answers carry CORS headers. */
const HUB_ROUTES: ReadonlySet<Route> = new Set([
  'subscribe',
  'head',
  'subscribe-401',
  'subscribe-400',
  'publish',
  'publish-401',
  'preflight',
]);

const origin = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ALLOWED) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'https://app.example.evil.com',
      'https://evil-app.example',
      'https://evilapp.example',
      'http://app.example',
      'https://app.example:443',
      'https://app.example:8443',
      'https://APP.EXAMPLE',
      'https://app.example/',
      'https://app.example/path',
      'http://localhost:3001',
      'http://localhost',
      'http://127.0.0.1:3000',
      'null',
      '*',
      '',
      ' https://app.example',
      'https://app.example ',
      'https://app.example, https://evil.example',
      'https://app.example\tx',
    ),
  },
  { weight: 2, arbitrary: fc.webUrl().map((u) => new URL(u).origin) },
  { weight: 1, arbitrary: fc.webUrl() },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
  },
);

/**
 * The serialized origin of an Origin header, as the oracle sees it: scheme and host lower-cased,
 * the scheme's default port and a trailing `/` dropped (spellings of one origin, RFC 6454 §4);
 * anything with a path, query or other characters stays as it is (and so is not listed).
 */
function serialized(origin: string): string {
  const m = /^(https?):\/\/([a-z0-9.-]+)(?::(\d+))?\/?$/i.exec(origin);
  if (m === null) return origin;
  const scheme = (m[1] ?? '').toLowerCase();
  const port = m[3] === undefined || m[3] === (scheme === 'https' ? '443' : '80') ? '' : `:${m[3]}`;
  return `${scheme}://${(m[2] ?? '').toLowerCase()}${port}`;
}

interface Head {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** One request; resolves with the status and headers (the body, a stream maybe, is dropped). */
function ask(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Head> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      res.destroy();
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const corsTarget: FuzzTarget = {
  name: 'cors',
  summary:
    'random Origins × allowlist / * / none × every route: an origin is echoed only if allowlisted, with credentials only then; * never with credentials',
  cost: 30,
  async setup(): Promise<FuzzSession> {
    const base = ['--jwt-key', SECRET, '--anonymous'];
    const hubs: Record<Config, HubHandle> = {
      allowlist: await startLocalHub([...base, '--cors-origins', ALLOWED.join(',')]),
      any: await startLocalHub([...base, '--cors-origins', '*']),
      none: await startLocalHub(base),
    };
    const token = await new SignJWT({ mercure: { publish: ['*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    let echoed = 0;
    let wildcard = 0;
    let refusedPreflights = 0;

    const property = fc.asyncProperty(
      fc.constantFrom<Config>('allowlist', 'allowlist', 'any', 'none'),
      fc.constantFrom<Route>(
        'subscribe',
        'head',
        'subscribe-401',
        'subscribe-400',
        'publish',
        'publish-401',
        'preflight',
        'preflight',
        'healthz',
        'missing',
      ),
      fc.option(origin, { nil: undefined, freq: 8 }),
      fc.boolean(),
      async (config, route, o, cookie) => {
        // Only what a client can put in a header.
        if (o !== undefined && !/^[\t\x20-\x7e]*$/.test(o)) return true;
        const url = hubs[config].url;
        const headers: Record<string, string> = {};
        if (o !== undefined) headers.origin = o;
        if (cookie) headers.cookie = 'mercureAuthorization=whatever';
        const form = 'topic=/cors&data=x';
        const formType = { 'content-type': 'application/x-www-form-urlencoded' };
        let head: Head;
        switch (route) {
          case 'subscribe':
            head = await ask(`${url}${HUB}?topic=/cors`, 'GET', headers);
            break;
          case 'head':
            head = await ask(`${url}${HUB}?topic=/cors`, 'HEAD', headers);
            break;
          case 'subscribe-401':
            head = await ask(`${url}${HUB}?topic=/cors`, 'GET', {
              ...headers,
              authorization: 'Bearer not.a.token',
            });
            break;
          case 'subscribe-400':
            head = await ask(`${url}${HUB}`, 'GET', headers);
            break;
          case 'publish':
            head = await ask(
              `${url}${HUB}`,
              'POST',
              { ...headers, ...formType, authorization: `Bearer ${token}` },
              form,
            );
            break;
          case 'publish-401':
            head = await ask(`${url}${HUB}`, 'POST', { ...headers, ...formType }, form);
            break;
          case 'preflight':
            head = await ask(`${url}${HUB}`, 'OPTIONS', {
              ...headers,
              'access-control-request-method': 'POST',
              'access-control-request-headers': 'authorization, content-type',
            });
            break;
          case 'healthz':
            head = await ask(`${url}/healthz`, 'GET', headers);
            break;
          default:
            head = await ask(`${url}/nope`, 'GET', headers);
        }
        const acao = head.headers['access-control-allow-origin'];
        const acac = head.headers['access-control-allow-credentials'];
        const what = `${config} ${route} Origin ${JSON.stringify(o)} → ${head.status} ACAO ${JSON.stringify(acao)} ACAC ${JSON.stringify(acac)}`;
        if (head.status >= 500) throw new Error(`a 5xx: ${what}`);
        // HTTP: leading and trailing whitespace is not part of a field value.
        const value = o?.replace(/^[ \t]+|[ \t]+$/g, '');
        const listed =
          config === 'allowlist' && value !== undefined && ALLOWED.includes(serialized(value));
        // Never: an origin echoed that is not on the list, credentials without the list, or `*`
        // with credentials.
        if (acao !== undefined) {
          const ok =
            (listed && acao === value && acac === 'true') ||
            (config === 'any' && o !== undefined && acao === '*' && acac === undefined);
          if (!ok) throw new Error(`CORS allowed what it must not: ${what}`);
        }
        if (acac !== undefined && !listed) throw new Error(`credentials allowed: ${what}`);
        // And always: the hub's routes answer an allowed origin.
        if (HUB_ROUTES.has(route) && o !== undefined && (listed || config === 'any')) {
          if (acao === undefined) throw new Error(`an allowed origin was not allowed: ${what}`);
        }
        if (route === 'preflight') {
          const allowed = listed || (config === 'any' && o !== undefined);
          if (head.status !== (allowed ? 204 : 403)) {
            throw new Error(`preflight answered ${head.status}: ${what}`);
          }
          if (!allowed) refusedPreflights++;
        }
        // With an allowlist the answer depends on Origin: caches must know.
        if (config === 'allowlist' && HUB_ROUTES.has(route)) {
          const vary = String(head.headers.vary ?? '');
          if (!/\bOrigin\b/i.test(vary)) throw new Error(`no Vary: Origin: ${what}`);
        }
        if (acao === '*') wildcard++;
        else if (acao !== undefined) echoed++;
        return true;
      },
    );
    return {
      property: property as fc.IRawProperty<unknown>,
      stats: () => ({ echoed, wildcard, refusedPreflights }),
      async teardown() {
        await Promise.all(Object.values(hubs).map((hub) => hub.close()));
      },
    };
  },
};
