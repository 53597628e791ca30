import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  generateSecret,
  type JWTPayload,
  SignJWT,
} from 'jose';
import {
  type AuthRequest,
  type AuthResult,
  createAuthenticator,
  HeraldAuthConfigError,
} from '../../src/server/auth.js';
import type { JwtKeyConfig, ServerConfig } from '../../src/server/config.js';

type AuthConfig = Pick<
  ServerConfig,
  'publisherKey' | 'subscriberKey' | 'jwksUrl' | 'anonymous' | 'publishOrigins' | 'corsOrigins'
>;

const SECRET = 'a-shared-secret-that-is-long-enough-for-hs256!';
const OTHER_SECRET = 'another-shared-secret-not-the-hubs-one-at-all';
const HUB = '/.well-known/mercure';

function config(overrides: Partial<AuthConfig> = {}): AuthConfig {
  const key: JwtKeyConfig = { key: SECRET, alg: 'HS256' };
  return {
    publisherKey: key,
    subscriberKey: key,
    jwksUrl: undefined,
    anonymous: false,
    publishOrigins: [],
    corsOrigins: [],
    ...overrides,
  };
}

function request(overrides: Partial<AuthRequest> = {}): AuthRequest {
  return { method: 'GET', headers: {}, url: `${HUB}?topic=https://example.com/a`, ...overrides };
}

function bearer(token: string): AuthRequest {
  return request({ headers: { authorization: `Bearer ${token}` } });
}

function post(headers: AuthRequest['headers']): AuthRequest {
  return { method: 'POST', headers, url: HUB };
}

type SigningKey = CryptoKey | Uint8Array;

async function sign(
  payload: JWTPayload,
  key: SigningKey,
  alg: string,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ ...header, alg }).sign(key);
}

const secretBytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function hs256(payload: JWTPayload = { mercure: { publish: ['*'], subscribe: ['*'] } }) {
  return sign(payload, secretBytes(SECRET), 'HS256');
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function assertRejected(
  result: AuthResult,
  status: 401 | 403,
  reason: RegExp,
): asserts result is Extract<AuthResult, { ok: false }> {
  assert.equal(result.ok, false, `expected a ${status}, got ${JSON.stringify(result)}`);
  if (result.ok) return;
  assert.equal(result.status, status, result.reason);
  assert.match(result.reason, reason);
}

function assertInvalidToken(result: AuthResult, reason: RegExp): void {
  assertRejected(result, 401, reason);
  if (result.ok) return;
  assert.match(result.wwwAuthenticate ?? '', /^Bearer realm="herald", error="invalid_token"/);
  assert.match(result.wwwAuthenticate ?? '', /error_description="[^"\\]+"$/);
}

function assertIdentity(result: AuthResult) {
  assert.equal(result.ok, true, result.ok ? '' : result.reason);
  if (!result.ok || result.identity === undefined) throw new Error('expected an identity');
  return result.identity;
}

const now = (): number => Math.floor(Date.now() / 1000);

describe('createAuthenticator: algorithms and key formats', () => {
  const hmac = ['HS256', 'HS384', 'HS512'] as const;
  for (const alg of hmac) {
    it(`verifies ${alg} with a string secret and with an "oct" JWK from generateSecret`, async () => {
      const payload = { mercure: { publish: ['*'] } };
      const text = createAuthenticator(config({ publisherKey: { key: SECRET, alg } }));
      assertIdentity(await text.publisher(bearer(await sign(payload, secretBytes(SECRET), alg))));

      const secret = await generateSecret(alg, { extractable: true });
      const jwk = JSON.stringify(await exportJWK(secret));
      const viaJwk = createAuthenticator(config({ publisherKey: { key: jwk, alg } }));
      assertIdentity(await viaJwk.publisher(bearer(await sign(payload, secret, alg))));
    });
  }

  const asymmetric: Array<{ alg: string; pairAlg: string }> = [
    { alg: 'RS256', pairAlg: 'RS256' },
    { alg: 'RS384', pairAlg: 'RS256' },
    { alg: 'RS512', pairAlg: 'RS256' },
    { alg: 'PS256', pairAlg: 'PS256' },
    { alg: 'PS384', pairAlg: 'PS384' },
    { alg: 'PS512', pairAlg: 'PS512' },
    { alg: 'ES256', pairAlg: 'ES256' },
    { alg: 'ES384', pairAlg: 'ES384' },
    { alg: 'ES512', pairAlg: 'ES512' },
    { alg: 'EdDSA', pairAlg: 'EdDSA' },
  ];
  for (const { alg } of asymmetric) {
    it(`verifies ${alg} with the public key as PEM (SPKI) and as JWK JSON`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const pem = await exportSPKI(publicKey);
      const jwk = JSON.stringify(await exportJWK(publicKey));
      const token = await sign(
        { sub: 'user-1', exp: now() + 60, mercure: { subscribe: ['https://example.com/{id}'] } },
        privateKey,
        alg,
      );
      for (const key of [pem, jwk]) {
        const auth = createAuthenticator(config({ subscriberKey: { key, alg } }));
        const identity = assertIdentity(await auth.subscriber(bearer(token)));
        assert.deepEqual(identity.claim, { subscribe: ['https://example.com/{id}'] });
        assert.equal(identity.subject, 'user-1');
        assert.equal(identity.token, token);
        assert.ok(identity.expiresAt !== undefined && identity.expiresAt > Date.now());
        auth.close();
      }
    });
  }

  it('accepts a one-line PEM with literal \\n (as environment variables carry it)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const oneLine = (await exportSPKI(publicKey)).trim().replace(/\n/g, '\\n');
    const auth = createAuthenticator(config({ publisherKey: { key: oneLine, alg: 'ES256' } }));
    assertIdentity(await auth.publisher(bearer(await sign({}, privateKey, 'ES256'))));
  });

  it('accepts an RSA public key in PKCS#1 PEM (BEGIN RSA PUBLIC KEY)', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pkcs1 = pair.publicKey.export({ format: 'pem', type: 'pkcs1' }).toString();
    assert.match(pkcs1, /BEGIN RSA PUBLIC KEY/);
    const auth = createAuthenticator(config({ publisherKey: { key: pkcs1, alg: 'RS256' } }));
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).sign(pair.privateKey);
    assertIdentity(await auth.publisher(bearer(token)));
  });

  it('uses the JWK kid of a static key to route tokens, and ignores tokens for other kids', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'k1' });
    const auth = createAuthenticator(config({ publisherKey: { key: jwk, alg: 'ES256' } }));
    assertIdentity(
      await auth.publisher(bearer(await sign({}, privateKey, 'ES256', { kid: 'k1' }))),
    );
    // Without a JWKS the static key is the only key: a different kid is still checked with it.
    assertIdentity(await auth.publisher(bearer(await sign({}, privateKey, 'ES256', { kid: 'x' }))));
  });
});

describe('createAuthenticator: configuration errors fail at startup', () => {
  let rsaPem: string;
  let ecPem: string;
  let ec384Pem: string;
  before(async () => {
    rsaPem = await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey);
    ecPem = await exportSPKI((await generateKeyPair('ES256', { extractable: true })).publicKey);
    ec384Pem = await exportSPKI((await generateKeyPair('ES384', { extractable: true })).publicKey);
  });

  function throwsConfig(cfg: Partial<AuthConfig>, message: RegExp, setting = 'publisherKey') {
    assert.throws(
      () => createAuthenticator(config(cfg)),
      (error: unknown) => {
        assert.ok(error instanceof HeraldAuthConfigError, String(error));
        assert.equal(error.name, 'HeraldAuthConfigError');
        assert.equal(error.setting, setting);
        assert.match(error.message, message);
        return true;
      },
    );
  }

  it('refuses a PEM public key configured as an HS256 secret (algorithm confusion)', () => {
    throwsConfig({ publisherKey: { key: rsaPem, alg: 'HS256' } }, /looks like a PEM key.*HS256/);
  });

  it('refuses a key of the wrong type or curve for the algorithm', () => {
    throwsConfig({ publisherKey: { key: ecPem, alg: 'RS256' } }, /RS256 needs an RSA.*EC P-256/);
    throwsConfig(
      { publisherKey: { key: ec384Pem, alg: 'ES256' } },
      /ES256 needs an EC P-256.*P-384/,
    );
    throwsConfig({ publisherKey: { key: rsaPem, alg: 'EdDSA' } }, /EdDSA needs an Ed25519/);
    throwsConfig(
      { subscriberKey: { key: rsaPem, alg: 'ES512' } },
      /subscriber key.*ES512/,
      'subscriberKey',
    );
  });

  it('refuses small RSA keys, garbage PEM, a secret for RS256, and private keys', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const smallPem = small.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    throwsConfig({ publisherKey: { key: smallPem, alg: 'RS256' } }, /at least 2048 bits/);
    throwsConfig(
      {
        publisherKey: {
          key: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----',
          alg: 'RS256',
        },
      },
      /cannot be read/,
    );
    throwsConfig({ publisherKey: { key: SECRET, alg: 'RS256' } }, /neither PEM nor JWK/);
    const privatePem = small.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    throwsConfig({ publisherKey: { key: privatePem, alg: 'RS256' } }, /private key.*public key/);
  });

  it('refuses private, mismatched and set-shaped JWKs', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = JSON.stringify(await exportJWK(privateKey));
    throwsConfig({ publisherKey: { key: privateJwk, alg: 'ES256' } }, /private key/);
    const publicJwk = await exportJWK(publicKey);
    throwsConfig(
      { publisherKey: { key: JSON.stringify({ ...publicJwk, alg: 'ES384' }), alg: 'ES256' } },
      /JWK says alg "ES384"/,
    );
    throwsConfig(
      { publisherKey: { key: JSON.stringify({ keys: [publicJwk] }), alg: 'ES256' } },
      /JWK Set/,
    );
    throwsConfig(
      { publisherKey: { key: JSON.stringify(publicJwk), alg: 'HS256' } },
      /JWK of type "EC".*shared secret/,
    );
  });

  it('refuses "none", unknown algorithms (with a case hint), empty secrets and bad JWKS URLs', () => {
    throwsConfig({ publisherKey: { key: SECRET, alg: 'none' } }, /never accepted/);
    throwsConfig({ publisherKey: { key: SECRET, alg: 'hs256' } }, /did you mean HS256/);
    throwsConfig({ publisherKey: { key: SECRET, alg: 'XS999' } }, /unsupported JWT algorithm/);
    throwsConfig({ publisherKey: { key: '', alg: 'HS256' } }, /empty/);
    throwsConfig({ jwksUrl: 'not a url' }, /not an http\(s\) URL/, 'jwksUrl');
    throwsConfig({ jwksUrl: 'file:///etc/jwks.json' }, /not an http\(s\) URL/, 'jwksUrl');
  });
});

describe('authenticator: rejected tokens', () => {
  const auth = createAuthenticator(config());

  it('rejects hand-crafted alg "none" tokens, with or without a signature part', async () => {
    const payload = b64({ mercure: { publish: ['*'] } });
    for (const header of [{ alg: 'none' }, { alg: 'None', typ: 'JWT' }]) {
      for (const token of [`${b64(header)}.${payload}.`, `${b64(header)}.${payload}.c2ln`]) {
        assertInvalidToken(await auth.publisher(bearer(token)), /alg "none".*never accepted/);
      }
    }
  });

  it('rejects HS256 tokens signed with the RSA public key PEM as the secret (HS/RS confusion)', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const rs = createAuthenticator(config({ publisherKey: { key: pem, alg: 'RS256' } }));
    for (const secret of [pem, pem.trim()]) {
      const forged = await sign({ mercure: { publish: ['*'] } }, secretBytes(secret), 'HS256');
      assertInvalidToken(
        await rs.publisher(bearer(forged)),
        /signed with HS256 but the hub expects RS256 \(--jwt-alg\)/,
      );
    }
  });

  it('rejects RS256 tokens when the hub expects HS256', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await sign({}, privateKey, 'RS256');
    assertInvalidToken(
      await auth.publisher(bearer(token)),
      /signed with RS256 but the hub expects HS256/,
    );
  });

  it('rejects an expired token, saying when it expired; accepts one within the tolerance', async () => {
    const exp = now() - 60;
    const result = await auth.subscriber(bearer(await hs256({ exp })));
    assertInvalidToken(
      result,
      new RegExp(
        `expired at ${new Date(exp * 1000).toISOString().slice(0, 16)}.*get a fresh token`,
      ),
    );
    // A token that expired 2 s ago is within the 5 s clock tolerance.
    assertIdentity(await auth.subscriber(bearer(await hs256({ exp: now() - 2 }))));
  });

  it('rejects a token used before its nbf; accepts one within the tolerance', async () => {
    assertInvalidToken(
      await auth.subscriber(bearer(await hs256({ nbf: now() + 3600 }))),
      /not valid before \d{4}-\d\d-\d\dT.*clocks/,
    );
    assertIdentity(await auth.subscriber(bearer(await hs256({ nbf: now() + 2 }))));
  });

  it('rejects non-numeric exp claims', async () => {
    assertInvalidToken(
      await auth.subscriber(bearer(await hs256({ exp: 'tomorrow' as unknown as number }))),
      /claim "exp" is invalid/,
    );
  });

  it('rejects a bad signature', async () => {
    const token = await sign({ mercure: { publish: ['*'] } }, secretBytes(OTHER_SECRET), 'HS256');
    assertInvalidToken(
      await auth.publisher(bearer(token)),
      /signature does not verify with the hub's publisher key.*--publisher-jwt-key/,
    );
    // A token whose payload was changed after signing.
    const [header, , signature] = (await hs256({ mercure: { publish: [] } })).split('.');
    const tampered = `${header}.${b64({ mercure: { publish: ['*'] } })}.${signature}`;
    assertInvalidToken(await auth.publisher(bearer(tampered)), /signature does not verify/);
  });

  it('rejects malformed tokens', async () => {
    for (const token of ['abc', 'a.b', 'a.b.c', `${b64({ alg: 'HS256' })}.%%%.x`, '....']) {
      assertInvalidToken(await auth.subscriber(bearer(token)), /malformed token|encrypted/);
    }
    assertInvalidToken(
      await auth.subscriber(bearer(`${b64({ typ: 'JWT' })}.${b64({})}.x`)),
      /no "alg"/,
    );
    assertInvalidToken(
      await auth.subscriber(bearer(`${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`)),
      /JWE/,
    );
  });

  it('rejects wrong shapes of the mercure claim with a clear reason', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['everything', /"mercure" claim must be an object.*not a string/],
      [['*'], /"mercure" claim must be an object.*not an array/],
      [
        { publish: '*' },
        /"mercure.publish" must be an array of topic selector strings.*not a string/,
      ],
      [{ subscribe: [1, 2] }, /"mercure.subscribe" must be an array.*non-string items/],
      [{ subscribe: { match: '*' } }, /"mercure.subscribe" must be an array.*not an object/],
    ];
    for (const [mercure, reason] of cases) {
      assertInvalidToken(await auth.subscriber(bearer(await hs256({ mercure }))), reason);
    }
  });

  it('accepts null/absent selector lists, any payload, and the namespaced claim', async () => {
    let identity = assertIdentity(await auth.publisher(bearer(await hs256({}))));
    assert.deepEqual(identity.claim, {});
    assert.equal(identity.expiresAt, undefined);
    identity = assertIdentity(
      await auth.subscriber(
        bearer(await hs256({ mercure: { publish: null, payload: { a: [1] } } })),
      ),
    );
    assert.deepEqual(identity.claim, { payload: { a: [1] } });
    identity = assertIdentity(
      await auth.subscriber(
        bearer(await hs256({ 'https://mercure.rocks/': { subscribe: ['x'] } })),
      ),
    );
    assert.deepEqual(identity.claim, { subscribe: ['x'] });
  });

  it('keeps quotes and non-ASCII out of error_description', async () => {
    const token = `${b64({ alg: 'HS256' })}.${b64({ mercure: { publish: 'é"\\' } })}.x`;
    const result = await auth.publisher(bearer(token));
    assertInvalidToken(result, /./);
    assert.ok(!result.ok && /^[\x20-\x7e]+$/.test(result.wwwAuthenticate ?? ''));
  });
});

describe('authenticator: token sources', () => {
  const auth = createAuthenticator(config({ publishOrigins: ['https://app.example.com'] }));
  let good: string;
  let bad: string;
  before(async () => {
    good = await hs256({ sub: 'good', mercure: { publish: ['*'] } });
    bad = await sign({ sub: 'bad' }, secretBytes(OTHER_SECRET), 'HS256');
  });
  const cookie = (token: string): string => `theme=dark; mercureAuthorization=${token}; x=1`;
  const query = (token: string): string =>
    `${HUB}?topic=a&authorization=${encodeURIComponent(token)}`;

  it('reads the Authorization header, the authorization query parameter and the cookie', async () => {
    assert.equal(assertIdentity(await auth.subscriber(bearer(good))).subject, 'good');
    assert.equal(
      assertIdentity(await auth.subscriber(request({ url: query(good) }))).subject,
      'good',
    );
    const viaCookie = await auth.subscriber(request({ headers: { cookie: cookie(good) } }));
    assert.equal(assertIdentity(viaCookie).subject, 'good');
    const quoted = await auth.subscriber(
      request({ headers: { cookie: `mercureAuthorization="${good}"` } }),
    );
    assert.equal(assertIdentity(quoted).subject, 'good');
  });

  it('uses the header over the query parameter and the cookie, even when the header is invalid', async () => {
    const both = { authorization: `Bearer ${good}`, cookie: cookie(bad) };
    assert.equal(
      assertIdentity(await auth.subscriber(request({ headers: both, url: query(bad) }))).subject,
      'good',
    );
    const headerBad = { authorization: `Bearer ${bad}`, cookie: cookie(good) };
    assertInvalidToken(
      await auth.subscriber(request({ headers: headerBad, url: query(good) })),
      /signature/,
    );
  });

  it('uses the query parameter over the cookie', async () => {
    const headers = { cookie: cookie(bad) };
    assert.equal(
      assertIdentity(await auth.subscriber(request({ headers, url: query(good) }))).subject,
      'good',
    );
    assertInvalidToken(
      await auth.subscriber(request({ headers: { cookie: cookie(good) }, url: query(bad) })),
      /signature/,
    );
  });

  it('rejects a non-Bearer Authorization header, and repeated or empty query parameters', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', good]) {
      assertInvalidToken(
        await auth.subscriber(request({ headers: { authorization } })),
        /must be "Bearer <token>"/,
      );
    }
    assert.ok(
      assertIdentity(
        await auth.subscriber(request({ headers: { authorization: `bearer  ${good} ` } })),
      ),
    );
    assertInvalidToken(
      await auth.subscriber(request({ url: `${query(good)}&authorization=${good}` })),
      /given 2 times/,
    );
    assertInvalidToken(
      await auth.subscriber(request({ url: `${HUB}?authorization=` })),
      /is empty/,
    );
  });

  it('does not check the origin of a cookie on GET (a safe method)', async () => {
    const headers = { cookie: cookie(good), origin: 'https://evil.example' };
    assertIdentity(await auth.subscriber(request({ headers })));
  });
});

describe('authenticator: the cookie on POST (CSRF guard)', () => {
  let good: string;
  before(async () => {
    good = await hs256({ mercure: { publish: ['*'] } });
  });
  const jar = (): string => `mercureAuthorization=${good}`;

  it('accepts the cookie from an Origin in publishOrigins or corsOrigins', async () => {
    const auth = createAuthenticator(
      config({
        publishOrigins: ['https://app.example.com/'],
        corsOrigins: ['https://admin.example.com'],
      }),
    );
    assertIdentity(
      await auth.publisher(post({ cookie: jar(), origin: 'https://app.example.com' })),
    );
    assertIdentity(
      await auth.publisher(post({ cookie: jar(), origin: 'https://admin.example.com' })),
    );
    assertIdentity(
      await auth.publisher(post({ cookie: jar(), origin: 'https://APP.example.com:443' })),
    );
  });

  it('falls back to the origin of the Referer', async () => {
    const auth = createAuthenticator(config({ publishOrigins: ['https://app.example.com'] }));
    assertIdentity(
      await auth.publisher(post({ cookie: jar(), referer: 'https://app.example.com/page?x=1' })),
    );
    assertRejected(
      await auth.publisher(
        post({ cookie: jar(), referer: 'https://evil.example/https://app.example.com' }),
      ),
      403,
      /origin https:\/\/evil.example may not publish/,
    );
    assertRejected(
      await auth.publisher(post({ cookie: jar(), referer: 'not a url' })),
      403,
      /Referer header "not a url" is not a URL/,
    );
  });

  it('refuses the cookie from another origin, or without Origin and Referer, with 403', async () => {
    const auth = createAuthenticator(config({ publishOrigins: ['https://app.example.com'] }));
    const other = await auth.publisher(post({ cookie: jar(), origin: 'https://evil.example' }));
    assertRejected(
      other,
      403,
      /origin https:\/\/evil.example may not publish.*CSRF.*Authorization header/,
    );
    assert.equal(other.wwwAuthenticate, undefined);
    assertRejected(
      await auth.publisher(post({ cookie: jar() })),
      403,
      /must carry an Origin or Referer/,
    );
    assertRejected(
      await auth.publisher(post({ cookie: jar(), origin: 'null' })),
      403,
      /origin null may not publish/,
    );
  });

  it('allows any origin with "*" in publishOrigins, but not with "*" in corsOrigins', async () => {
    const any = createAuthenticator(config({ publishOrigins: ['*'] }));
    assertIdentity(await any.publisher(post({ cookie: jar(), origin: 'https://whoever.example' })));
    assertRejected(await any.publisher(post({ cookie: jar() })), 403, /Origin or Referer/);
    const cors = createAuthenticator(config({ corsOrigins: ['*'] }));
    assertRejected(
      await cors.publisher(post({ cookie: jar(), origin: 'https://whoever.example' })),
      403,
      /may not publish/,
    );
  });

  it('matches wildcard publish origins such as https://*.example.com', async () => {
    const auth = createAuthenticator(config({ publishOrigins: ['https://*.example.com'] }));
    assertIdentity(await auth.publisher(post({ cookie: jar(), origin: 'https://a.example.com' })));
    assertRejected(
      await auth.publisher(post({ cookie: jar(), origin: 'https://example.com.evil.net' })),
      403,
      /may not publish/,
    );
  });

  it('does not apply the guard when the header carries the token (the cookie is ignored)', async () => {
    const auth = createAuthenticator(config());
    const headers = {
      authorization: `Bearer ${good}`,
      cookie: jar(),
      origin: 'https://evil.example',
    };
    assertIdentity(await auth.publisher(post(headers)));
  });

  it('treats a request without a method as unsafe', async () => {
    const auth = createAuthenticator(config());
    const req: AuthRequest = { headers: { cookie: jar(), origin: 'https://evil.example' } };
    assertRejected(await auth.publisher(req), 403, /CSRF/);
  });

  it('checks the origin before looking at the token', async () => {
    const auth = createAuthenticator(config());
    const headers = { cookie: 'mercureAuthorization=garbage', origin: 'https://evil.example' };
    assertRejected(await auth.publisher(post(headers)), 403, /CSRF/);
  });
});

describe('authenticator: anonymous subscribers and missing keys', () => {
  it('lets subscribers in without a token when anonymous is on', async () => {
    const auth = createAuthenticator(config({ anonymous: true }));
    assert.deepEqual(await auth.subscriber(request()), { ok: true, identity: undefined });
    // An empty cookie (e.g. after a logout) counts as no token.
    assert.deepEqual(
      await auth.subscriber(request({ headers: { cookie: 'mercureAuthorization=' } })),
      {
        ok: true,
        identity: undefined,
      },
    );
  });

  it('still answers 401 to an invalid token when anonymous is on', async () => {
    const auth = createAuthenticator(config({ anonymous: true }));
    assertInvalidToken(await auth.subscriber(bearer('not.a.token')), /malformed/);
    const expired = await hs256({ exp: now() - 3600 });
    assertInvalidToken(
      await auth.subscriber(request({ url: `${HUB}?authorization=${expired}` })),
      /expired/,
    );
  });

  it('answers 401 with a bare challenge to a subscriber without a token when anonymous is off', async () => {
    const auth = createAuthenticator(config({ anonymous: false }));
    const result = await auth.subscriber(request());
    assertRejected(result, 401, /subscribing needs a JWT.*--anonymous/);
    assert.equal(result.wwwAuthenticate, 'Bearer realm="herald"');
  });

  it('always requires a token to publish, also when anonymous subscribers are allowed', async () => {
    const auth = createAuthenticator(config({ anonymous: true }));
    const result = await auth.publisher(post({}));
    assertRejected(result, 401, /publishing needs a JWT/);
    assert.equal(result.wwwAuthenticate, 'Bearer realm="herald"');
  });

  it('says how to configure a publisher key when there is none', async () => {
    const auth = createAuthenticator(
      config({ publisherKey: undefined, subscriberKey: undefined, anonymous: true }),
    );
    for (const req of [post({}), post({ authorization: `Bearer ${await hs256()}` })]) {
      const result = await auth.publisher(req);
      assertRejected(
        result,
        401,
        /no publisher key configured: start the hub with --jwt-key or --publisher-jwt-key.*HERALD_JWT_KEY/,
      );
      assert.ok(!result.ok && result.wwwAuthenticate?.startsWith('Bearer realm="herald"'));
    }
    // Subscribers are still served anonymously; a token they send cannot be verified.
    assert.deepEqual(await auth.subscriber(request()), { ok: true, identity: undefined });
    assertInvalidToken(
      await auth.subscriber(bearer(await hs256())),
      /no subscriber key configured.*--subscriber-jwt-key/,
    );
  });

  it('verifies publisher and subscriber tokens with their own keys', async () => {
    const auth = createAuthenticator(
      config({
        publisherKey: { key: SECRET, alg: 'HS256' },
        subscriberKey: { key: OTHER_SECRET, alg: 'HS256' },
      }),
    );
    const publisherToken = await hs256();
    const subscriberToken = await sign({}, secretBytes(OTHER_SECRET), 'HS256');
    assertIdentity(await auth.publisher(bearer(publisherToken)));
    assertIdentity(await auth.subscriber(bearer(subscriberToken)));
    assertInvalidToken(await auth.publisher(bearer(subscriberToken)), /publisher key/);
    assertInvalidToken(await auth.subscriber(bearer(publisherToken)), /subscriber key/);
  });

  it('works with http2-style headers and absolute request targets', async () => {
    const auth = createAuthenticator(config());
    const token = await hs256();
    const req: AuthRequest = {
      method: 'GET',
      headers: { ':path': `${HUB}?authorization=${token}` },
      url: `http://hub.example.com${HUB}?topic=a&authorization=${token}#frag`,
    };
    assertIdentity(await auth.subscriber(req));
  });
});
