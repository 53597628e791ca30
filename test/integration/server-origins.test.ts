import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type HeraldServer, startServer } from '../../src/server/app.js';
import { HeraldConfigError, loadConfig } from '../../src/server/config.js';
import { HeraldOriginError } from '../../src/server/origins.js';
import { assertErrorResult, HUB, http, publisherToken, startHub } from '../helpers/hub-server.js';

// One rule for --cors-origins and --publish-origins (src/server/origins.ts): the same table of
// cases runs through both, over HTTP against a running hub — a CORS preflight for the first, a
// POST authorized by the mercureAuthorization cookie (the CSRF check) for the second.

interface Case {
  /** The option's value. */
  config: string;
  /** The request's Origin header. */
  origin: string;
  /** The origin is allowed. */
  allowed: boolean;
}

const CASES: readonly Case[] = [
  // An exact origin.
  { config: 'https://app.example.com', origin: 'https://app.example.com', allowed: true },
  { config: 'https://app.example.com', origin: 'https://other.example.com', allowed: false },
  { config: 'https://app.example.com', origin: 'https://app.example.com.evil.net', allowed: false },
  // An origin with a path is not an origin.
  { config: 'https://app.example.com', origin: 'https://app.example.com/x', allowed: false },
  // `*`: any origin, `null` too.
  { config: '*', origin: 'https://anything.test', allowed: true },
  { config: '*', origin: 'null', allowed: true },
  // `scheme://*.domain`: subdomains at any depth, not the apex, not a lookalike.
  { config: 'https://*.example.com', origin: 'https://a.example.com', allowed: true },
  { config: 'https://*.example.com', origin: 'https://a.b.example.com', allowed: true },
  { config: 'https://*.example.com', origin: 'https://example.com', allowed: false },
  { config: 'https://*.example.com', origin: 'https://evilexample.com', allowed: false },
  { config: 'https://*.example.com', origin: 'https://a.example.com.evil.net', allowed: false },
  // The scheme must match.
  { config: 'https://*.example.com', origin: 'http://a.example.com', allowed: false },
  { config: 'https://app.example.com', origin: 'http://app.example.com', allowed: false },
  // Ports: the configured one, the scheme's default when none is given.
  { config: 'https://*.example.com', origin: 'https://a.example.com:8443', allowed: false },
  { config: 'https://*.example.com:8443', origin: 'https://a.example.com:8443', allowed: true },
  { config: 'https://*.example.com:8443', origin: 'https://a.example.com', allowed: false },
  { config: 'http://localhost:3000', origin: 'http://localhost:3000', allowed: true },
  { config: 'http://localhost:3000', origin: 'http://localhost:3001', allowed: false },
  { config: 'http://localhost:3000', origin: 'http://localhost', allowed: false },
  { config: 'https://app.example.com:443', origin: 'https://app.example.com', allowed: true },
  // `null` (sandboxed frames, file: pages): only `*` lets it in.
  { config: 'https://app.example.com', origin: 'null', allowed: false },
  { config: 'https://*.example.com', origin: 'null', allowed: false },
  // Upper-case hosts and schemes are the same origin (browsers send lower case).
  { config: 'https://app.example.com', origin: 'https://APP.Example.COM', allowed: true },
  { config: 'https://*.example.com', origin: 'HTTPS://A.EXAMPLE.COM', allowed: true },
  { config: 'HTTPS://*.EXAMPLE.COM', origin: 'https://a.example.com', allowed: true },
  // A trailing slash in the configuration is dropped.
  { config: 'https://app.example.com/', origin: 'https://app.example.com', allowed: true },
  { config: 'https://*.example.com/', origin: 'https://a.example.com', allowed: true },
];

/** Entries refused at startup, and words of the message. */
const INVALID: readonly { config: string; words: RegExp }[] = [
  { config: 'https://a*.example.com', words: /\* where it cannot be.*https:\/\/\*\.example\.com/ },
  { config: 'https://*.*.example.com', words: /\* where it cannot be/ },
  { config: 'https://example.*', words: /\* where it cannot be/ },
  { config: 'https://*', words: /\* where it cannot be/ },
  { config: '*.example.com', words: /no scheme.*https:\/\/\*\.example\.com/ },
  { config: 'https://*.example.com/path', words: /no path/ },
  { config: 'https://*.10.0.0.1', words: /IP address/ },
  { config: 'null', words: /"null" cannot be allowed/ },
  { config: 'example.com', words: /scheme:\/\/host\[:port\]/ },
  { config: '*,https://app.example.com', words: /cannot be combined/ },
];

type Path = 'cors' | 'publish';
const FLAGS: Record<Path, string> = { cors: '--cors-origins', publish: '--publish-origins' };

/** Hubs by path and configuration, started on first use. */
const hubs = new Map<string, Promise<HeraldServer>>();
function hub(path: Path, config: string): Promise<HeraldServer> {
  const key = `${path} ${config}`;
  let started = hubs.get(key);
  if (started === undefined) {
    started = startHub(['--anonymous', FLAGS[path], config]);
    hubs.set(key, started);
  }
  return started;
}

after(async () => {
  for (const started of hubs.values()) await (await started).close(1000);
});

/** A CORS preflight from `origin`: allowed or not, as the answer says. */
async function corsAllows(server: HeraldServer, c: Case): Promise<boolean> {
  const res = await http(`${server.url}${HUB}?topic=/a`, {
    method: 'OPTIONS',
    headers: { origin: c.origin, 'access-control-request-method': 'GET' },
  });
  const acao = res.headers['access-control-allow-origin'];
  if (res.status === 204) {
    // `*` answers `*` without credentials; a listed origin is echoed as sent, with credentials.
    if (c.config === '*') {
      assert.equal(acao, '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    } else {
      assert.equal(acao, c.origin);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
    }
    return true;
  }
  assertErrorResult(res, 403, /is not allowed to call this hub; add it with --cors-origins/);
  assert.equal(acao, undefined);
  return false;
}

/** A publish authorized by the cookie, from `origin`: accepted, or refused by the CSRF check. */
async function publishAllows(server: HeraldServer, c: Case): Promise<boolean> {
  const res = await http(`${server.url}${HUB}`, {
    method: 'POST',
    headers: {
      origin: c.origin,
      cookie: `mercureAuthorization=${await publisherToken()}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'topic=/origins&data=x',
  });
  if (res.status === 200) return true;
  assertErrorResult(res, 403, /may not publish with the mercureAuthorization cookie \(CSRF/);
  return false;
}

const CHECKS: Record<Path, (server: HeraldServer, c: Case) => Promise<boolean>> = {
  cors: corsAllows,
  publish: publishAllows,
};

for (const path of ['cors', 'publish'] as const) {
  describe(`${FLAGS[path]}: the table of origins`, () => {
    for (const c of CASES) {
      test(`${c.config} ${c.allowed ? 'allows' : 'refuses'} Origin ${c.origin}`, async () => {
        const server = await hub(path, c.config);
        assert.equal(await CHECKS[path](server, c), c.allowed);
      });
    }
  });

  describe(`${FLAGS[path]}: entries refused at startup`, () => {
    for (const { config, words } of INVALID) {
      test(`${config}: the hub does not start, and says why`, () => {
        assert.throws(
          () => loadConfig({ argv: [FLAGS[path], config], env: {} }),
          (error: unknown) => {
            assert.ok(error instanceof HeraldConfigError);
            assert.match(error.message, new RegExp(`^${FLAGS[path]}: `));
            assert.match(error.message, words);
            return true;
          },
        );
      });
    }
  });
}

describe('--cors-origins entries count for the cookie too', () => {
  test('a CORS wildcard lets cookies publish from its subdomains; a CORS * does not', async () => {
    const wildcard = await hub('cors', 'https://*.example.com');
    assert.equal(
      await publishAllows(wildcard, { config: '', origin: 'https://a.example.com', allowed: true }),
      true,
    );
    assert.equal(
      await publishAllows(wildcard, { config: '', origin: 'https://example.com', allowed: false }),
      false,
    );
    const any = await hub('cors', '*');
    assert.equal(
      await publishAllows(any, { config: '', origin: 'https://a.example.com', allowed: false }),
      false,
    );
  });
});

describe('a configuration made in code', () => {
  test('startServer refuses an entry that is not an origin, naming it', async () => {
    const { config } = loadConfig({
      argv: ['--addr', '127.0.0.1:0', '--log-level', 'silent'],
      env: {},
    });
    for (const bad of [{ corsOrigins: ['https://a*.example.com'] }, { publishOrigins: ['null'] }]) {
      await assert.rejects(startServer({ ...config, ...bad }), (error: unknown) => {
        assert.ok(error instanceof HeraldOriginError);
        assert.match(error.message, /cannot be/);
        return true;
      });
    }
  });
});
