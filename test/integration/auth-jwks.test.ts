import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import {
  type AuthenticatorOptions,
  type AuthRequest,
  type AuthResult,
  createAuthenticator,
} from '../../src/server/auth.js';
import type { ServerConfig } from '../../src/server/config.js';
import { closeServer, getFreePort, listen } from '../helpers/net.js';

type AuthConfig = Pick<
  ServerConfig,
  'publisherKey' | 'subscriberKey' | 'jwksUrl' | 'anonymous' | 'publishOrigins' | 'corsOrigins'
>;

interface Signer {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signer(kid: string, alg: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A token signed by `s`; `kid: null` leaves the kid out of the header. */
function token(s: Signer, payload: JWTPayload = {}, kid: string | null = s.kid) {
  const header = kid === null ? { alg: s.alg } : { alg: s.alg, kid };
  return new SignJWT({ mercure: { publish: ['*'], subscribe: ['*'] }, ...payload })
    .setProtectedHeader(header)
    .sign(s.privateKey);
}

function bearer(jwt: string, method = 'GET'): AuthRequest {
  return {
    method,
    headers: { authorization: `Bearer ${jwt}` },
    url: '/.well-known/mercure?topic=a',
  };
}

function assertOk(result: AuthResult): void {
  assert.equal(result.ok, true, result.ok ? '' : result.reason);
  assert.ok(result.ok && result.identity !== undefined);
}

function assert401(result: AuthResult, reason: RegExp): void {
  assert.equal(result.ok, false, 'expected a 401');
  if (result.ok) return;
  assert.equal(result.status, 401);
  assert.match(result.reason, reason);
  assert.match(result.wwwAuthenticate ?? '', /error="invalid_token"/);
}

/** A JWKS server whose answer the test changes; counts the fetches. */
class JwksServer {
  keys: JWK[] = [];
  status = 200;
  body: string | undefined;
  fetches = 0;
  readonly server: Server = createServer((_req, res) => {
    this.fetches += 1;
    res.writeHead(this.status, { 'content-type': 'application/json' });
    res.end(this.body ?? JSON.stringify({ keys: this.keys }));
  });
  port = 0;

  async start(): Promise<string> {
    this.port = await listen(this.server);
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }
}

function config(jwksUrl: string, overrides: Partial<AuthConfig> = {}): AuthConfig {
  return {
    publisherKey: undefined,
    subscriberKey: undefined,
    jwksUrl,
    anonymous: false,
    publishOrigins: [],
    corsOrigins: [],
    ...overrides,
  };
}

/** Refetch on an unknown kid at once, so rotation tests need no waiting. */
const NO_COOLDOWN: AuthenticatorOptions = { jwksCooldownMs: 0 };

describe('JWKS: verifying tokens with keys fetched from a URL', () => {
  const jwks = new JwksServer();
  let url: string;
  let rsa: Signer;
  let ec: Signer;
  let ed: Signer;

  before(async () => {
    [rsa, ec, ed] = await Promise.all([
      signer('rsa-1', 'RS256'),
      signer('ec-1', 'ES256'),
      signer('ed-1', 'EdDSA'),
    ]);
    url = await jwks.start();
  });
  after(() => closeServer(jwks.server));

  it('verifies publisher and subscriber tokens by kid, fetching the set once', async () => {
    jwks.keys = [rsa.jwk, ec.jwk, ed.jwk];
    jwks.fetches = 0;
    const auth = createAuthenticator(config(url));
    for (const s of [rsa, ec, ed]) {
      assertOk(await auth.publisher(bearer(await token(s), 'POST')));
      assertOk(await auth.subscriber(bearer(await token(s))));
    }
    assert.equal(jwks.fetches, 1);
    auth.close();
  });

  it('picks the only key that fits a token without kid; asks for a kid when several fit', async () => {
    jwks.keys = [rsa.jwk, ec.jwk];
    const auth = createAuthenticator(config(url));
    assertOk(await auth.subscriber(bearer(await token(ec, {}, null))));
    const second = await signer('ec-2', 'ES256');
    jwks.keys = [ec.jwk, second.jwk];
    const fresh = createAuthenticator(config(url));
    assert401(
      await fresh.subscriber(bearer(await token(ec, {}, null))),
      /several keys of the JWKS.*"kid"/,
    );
    auth.close();
    fresh.close();
  });

  it('picks up a rotated key: a token with a new kid verifies after a refetch', async () => {
    jwks.keys = [rsa.jwk];
    jwks.fetches = 0;
    const auth = createAuthenticator(config(url), NO_COOLDOWN);
    assertOk(await auth.subscriber(bearer(await token(rsa))));
    assert.equal(jwks.fetches, 1);

    const rotated = await signer('rsa-2', 'RS256');
    jwks.keys = [rotated.jwk];
    assertOk(await auth.subscriber(bearer(await token(rotated))));
    assert.equal(jwks.fetches, 2, 'the unknown kid caused one refetch');

    // The old key left the set: its tokens are now refused, saying which kid is missing.
    assert401(
      await auth.subscriber(bearer(await token(rsa))),
      /no key with kid "rsa-1" for RS256 in the JWKS at http:\/\/127\.0\.0\.1:\d+/,
    );
    auth.close();
  });

  it('does not refetch for unknown kids during the cooldown', async () => {
    jwks.keys = [rsa.jwk];
    jwks.fetches = 0;
    const auth = createAuthenticator(config(url), { jwksCooldownMs: 3_600_000 });
    assertOk(await auth.subscriber(bearer(await token(rsa))));
    const unknown = await signer('made-up', 'RS256');
    for (let i = 0; i < 5; i += 1) {
      assert401(await auth.subscriber(bearer(await token(unknown))), /no key with kid "made-up"/);
    }
    assert.equal(jwks.fetches, 1);
    auth.close();
  });

  it('refuses HS256 tokens, tokens signed by another key under a known kid, and alg none', async () => {
    jwks.keys = [rsa.jwk];
    const auth = createAuthenticator(config(url));
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .sign(new TextEncoder().encode(JSON.stringify(rsa.jwk)));
    assert401(
      await auth.subscriber(bearer(hs)),
      /signed with HS256, but keys from the JWKS only verify/,
    );

    const impostor = await signer('rsa-1', 'RS256');
    assert401(
      await auth.subscriber(bearer(await token(impostor))),
      /signature does not verify with key "rsa-1" of the JWKS/,
    );

    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const none = `${b64({ alg: 'none', kid: 'rsa-1' })}.${b64({ mercure: { publish: ['*'] } })}.`;
    assert401(await auth.publisher(bearer(none, 'POST')), /alg "none"/);

    // A key whose JWK says RS256 does not verify a PS256 token even though both are RSA.
    const psKey = await generateKeyPair('PS256');
    const ps = await new SignJWT({})
      .setProtectedHeader({ alg: 'PS256', kid: 'rsa-1' })
      .sign(psKey.privateKey);
    assert401(await auth.subscriber(bearer(ps)), /no key with kid "rsa-1" for PS256/);
    auth.close();
  });

  it('enforces exp with JWKS keys too', async () => {
    jwks.keys = [ec.jwk];
    const auth = createAuthenticator(config(url));
    const exp = Math.floor(Date.now() / 1000) - 120;
    assert401(
      await auth.subscriber(bearer(await token(ec, { exp }))),
      /expired at .*get a fresh token/,
    );
    auth.close();
  });

  it('answers 401 with a reason when the JWKS answers an error or junk', async () => {
    const cases: Array<[number, string | undefined, RegExp]> = [
      [500, undefined, /cannot get the signing keys from the JWKS at .*200 OK.*server is up/],
      [200, 'not json', /cannot get the signing keys.*JSON/],
      [200, '{"keys": 5}', /cannot get the signing keys.*malformed/],
    ];
    for (const [status, body, reason] of cases) {
      jwks.status = status;
      jwks.body = body;
      const auth = createAuthenticator(config(url));
      assert401(await auth.subscriber(bearer(await token(rsa))), reason);
      auth.close();
    }
    jwks.status = 200;
    jwks.body = undefined;
  });

  it('uses the static key for tokens without kid and the JWKS for tokens with another kid', async () => {
    jwks.keys = [rsa.jwk];
    jwks.fetches = 0;
    const secret = 'static-secret-for-the-mixed-configuration-test';
    const auth = createAuthenticator(
      config(url, {
        publisherKey: { key: secret, alg: 'HS256' },
        subscriberKey: { key: secret, alg: 'HS256' },
      }),
    );
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
    assertOk(await auth.publisher(bearer(hs, 'POST')));
    assert.equal(jwks.fetches, 0, 'a token without kid never touches the JWKS');
    assertOk(await auth.publisher(bearer(await token(rsa), 'POST')));
    assert.equal(jwks.fetches, 1);
    auth.close();
  });

  it('stops using the JWKS after close()', async () => {
    jwks.keys = [rsa.jwk];
    const auth = createAuthenticator(config(url));
    assertOk(await auth.subscriber(bearer(await token(rsa))));
    auth.close();
    auth.close();
    assert401(await auth.subscriber(bearer(await token(rsa))), /shutting down/);
  });
});

describe('JWKS: real node:http requests', () => {
  it('authenticates IncomingMessage requests by header, query parameter and cookie', async () => {
    const jwks = new JwksServer();
    const rsa = await signer('rsa-1', 'RS256');
    jwks.keys = [rsa.jwk];
    const auth = createAuthenticator(
      config(await jwks.start(), { publishOrigins: ['https://app.example.com'] }),
    );
    const hub = createServer((req, res) => {
      const check = req.method === 'POST' ? auth.publisher(req) : auth.subscriber(req);
      void check.then((result) => {
        const headers: Record<string, string> = {};
        if (!result.ok && result.wwwAuthenticate !== undefined) {
          headers['www-authenticate'] = result.wwwAuthenticate;
        }
        res.writeHead(result.ok ? 200 : result.status, headers);
        res.end(result.ok ? (result.identity?.subject ?? 'anonymous') : result.reason);
      });
    });
    const base = `http://127.0.0.1:${await listen(hub)}/.well-known/mercure`;
    try {
      const jwt = await token(rsa, { sub: 'alice' });
      const viaHeader = await fetch(`${base}?topic=a`, {
        headers: { authorization: `Bearer ${jwt}` },
      });
      assert.equal(viaHeader.status, 200);
      assert.equal(await viaHeader.text(), 'alice');
      const viaQuery = await fetch(`${base}?topic=a&authorization=${jwt}`);
      assert.equal(await viaQuery.text(), 'alice');
      const cookie = `mercureAuthorization=${jwt}`;
      const allowed = await fetch(base, {
        method: 'POST',
        headers: { cookie, origin: 'https://app.example.com' },
      });
      assert.equal(await allowed.text(), 'alice');
      const csrf = await fetch(base, {
        method: 'POST',
        headers: { cookie, origin: 'https://evil.example' },
      });
      assert.equal(csrf.status, 403);
      assert.match(await csrf.text(), /CSRF/);
      const missing = await fetch(`${base}?topic=a`);
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="herald"');
      await missing.text();
    } finally {
      auth.close();
      await closeServer(hub);
      await closeServer(jwks.server);
    }
  });
});

describe('JWKS: server down', () => {
  let rsa: Signer;
  before(async () => {
    rsa = await signer('rsa-1', 'RS256');
  });

  it('answers 401 with a reason (no crash) when nothing listens at the JWKS URL', async () => {
    const port = await getFreePort();
    const url = `http://127.0.0.1:${port}/jwks.json`;
    const auth = createAuthenticator(config(url, { anonymous: true }));
    const result = await auth.subscriber(bearer(await token(rsa)));
    assert401(
      result,
      new RegExp(
        `cannot get the signing keys from the JWKS at ${url.replace(/\./g, '\\.')}.*server is up`,
      ),
    );
    assert401(
      await auth.publisher(bearer(await token(rsa), 'POST')),
      /cannot get the signing keys/,
    );
    // Anonymous subscribers without a token do not need the JWKS.
    assert.deepEqual(await auth.subscriber({ method: 'GET', headers: {}, url: '/' }), {
      ok: true,
      identity: undefined,
    });
    auth.close();
  });

  it('keeps verifying cached keys after the server goes away; unknown kids get a reason', async () => {
    const jwks = new JwksServer();
    jwks.keys = [rsa.jwk];
    const url = await jwks.start();
    const auth = createAuthenticator(config(url), NO_COOLDOWN);
    assertOk(await auth.subscriber(bearer(await token(rsa))));
    await closeServer(jwks.server);

    assertOk(await auth.subscriber(bearer(await token(rsa))));
    const rotated = await signer('rsa-2', 'RS256');
    assert401(
      await auth.subscriber(bearer(await token(rotated))),
      /cannot get the signing keys from the JWKS at .*ECONNREFUSED/,
    );
    auth.close();
  });
});
