// --publish-rate counts per publisher identity, not per spelling of its token
// (src/server/identity-key.ts): the base64url signature's ignored trailing bits (4 spellings of
// an HS256 token, 16 of an ES256 one), "=" padding, the header, the query parameter (plain
// and percent-encoded) and the cookie (plain and quoted) all spend the same bucket. Tokens of
// one `sub` share a bucket; without `sub`, tokens with the same claims do.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { HeraldServer } from '../../src/server/app.js';
import { formOf, HUB, SECRET, startHub } from '../helpers/hub-server.js';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ORIGIN = 'https://app.example.com';
/** One publish per 1000 s: the bucket never refills during a test. */
const RATE = '0.001';

/**
 * The spellings of `token` whose signature decodes to the same bytes: the last character with
 * each value of its unused low bits, and the canonical one with its "=" padding.
 */
function spellings(token: string): string[] {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bits = (signature.length * 6) % 8; // bits of the last character that carry nothing
  const last = B64URL.indexOf(signature.at(-1)!);
  const base = last & ~((1 << bits) - 1);
  const out: string[] = [];
  for (let low = 0; low < 1 << bits; low++) {
    out.push(`${header}.${payload}.${signature.slice(0, -1)}${B64URL[base | low]}`);
  }
  // With its base64 padding, which the decoder also accepts.
  out.push(`${token}${'='.repeat((4 - (signature.length % 4)) % 4)}`);
  return out;
}

/** How one publish carries its token. */
type Carrier = 'header' | 'query' | 'query, percent-encoded' | 'cookie' | 'cookie, quoted';

async function publishVia(
  hub: HeraldServer,
  token: string,
  carrier: Carrier,
): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {};
  let path = HUB;
  switch (carrier) {
    case 'header':
      headers.authorization = `Bearer ${token}`;
      break;
    case 'query':
      path = `${HUB}?authorization=${token}`;
      break;
    case 'query, percent-encoded':
      path = `${HUB}?authorization=${[...token].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}`;
      break;
    case 'cookie':
      headers.cookie = `mercureAuthorization=${token}`;
      headers.origin = ORIGIN;
      break;
    case 'cookie, quoted':
      headers.cookie = `mercureAuthorization="${token}"`;
      headers.origin = ORIGIN;
      break;
  }
  const res = await fetch(`${hub.url}${path}`, {
    method: 'POST',
    headers,
    body: formOf({ topic: '/rate', data: carrier }),
  });
  return { status: res.status, body: await res.text() };
}

const CARRIERS: Carrier[] = [
  'header',
  'query',
  'query, percent-encoded',
  'cookie',
  'cookie, quoted',
];

/** Publishes once (200), then every spelling over every carrier: all 429, one bucket. */
async function oneBucket(hub: HeraldServer, token: string, expectedSpellings: number) {
  const first = await publishVia(hub, token, 'header');
  assert.equal(first.status, 200, first.body);
  const all = spellings(token);
  assert.equal(all.length, expectedSpellings);
  for (const spelling of all) {
    for (const carrier of CARRIERS) {
      const answer = await publishVia(hub, spelling, carrier);
      assert.equal(
        answer.status,
        429,
        `${carrier}, spelling …${spelling.slice(-3)}: ${answer.status} ${answer.body}`,
      );
      assert.match(answer.body, /publish rate limit reached .*--publish-rate/);
    }
  }
}

function hs256(claims: Record<string, unknown>, iat = Math.floor(Date.now() / 1000)) {
  return new SignJWT({ mercure: { publish: ['*'] }, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(iat)
    .sign(new TextEncoder().encode(SECRET));
}

describe('--publish-rate is keyed by identity (HS256)', () => {
  let hub: HeraldServer;
  before(async () => {
    hub = await startHub(['--publish-rate', RATE, '--publish-origins', ORIGIN]);
  });
  after(() => hub.close(500));

  it('every spelling of a token, in every place a token goes, spends one bucket', async () => {
    // 32 signature bytes in 43 characters: 2 bits of the last one are ignored.
    await oneBucket(hub, await hs256({ sub: 'spelled' }), 4 + 1);
  });

  it('tokens of one subject (and issuer) share a bucket; another subject has its own', async () => {
    const first = await hs256({ sub: 'alice', iss: 'https://idp.example' }, 1_700_000_000);
    assert.equal((await publishVia(hub, first, 'header')).status, 200);
    const reissued = await hs256({ sub: 'alice', iss: 'https://idp.example' }, 1_700_000_100);
    assert.equal((await publishVia(hub, reissued, 'header')).status, 429, 'same subject');
    const otherIssuer = await hs256({ sub: 'alice', iss: 'https://other.example' });
    assert.equal((await publishVia(hub, otherIssuer, 'header')).status, 200, 'same sub, other iss');
    const bob = await hs256({ sub: 'bob', iss: 'https://idp.example' });
    assert.equal((await publishVia(hub, bob, 'header')).status, 200, 'another subject');
  });

  it('without sub: the same claims are one caller, other claims another', async () => {
    const claims = { team: 'a', mercure: { publish: ['/rate'] } };
    const token = await hs256(claims, 1_700_000_000);
    await oneBucket(hub, token, 4 + 1);
    // The same claims, in another order, signed again: the same caller.
    const reordered = await new SignJWT({
      iat: 1_700_000_000,
      mercure: { publish: ['/rate'] },
      team: 'a',
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(SECRET));
    assert.equal((await publishVia(hub, reordered, 'header')).status, 429);
    const other = await hs256({ team: 'b', mercure: { publish: ['/rate'] } }, 1_700_000_000);
    assert.equal((await publishVia(hub, other, 'header')).status, 200);
  });
});

describe('--publish-rate is keyed by identity (ES256)', () => {
  let hub: HeraldServer;
  let privateKey: CryptoKey;
  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey as CryptoKey;
    hub = await startHub([
      '--publisher-jwt-key',
      await exportSPKI(pair.publicKey),
      '--publisher-jwt-alg',
      'ES256',
      '--publish-rate',
      RATE,
      '--publish-origins',
      ORIGIN,
    ]);
  });
  after(() => hub.close(500));

  it('the 16 spellings of an ES256 signature (and "==") spend one bucket', async () => {
    const token = await new SignJWT({ mercure: { publish: ['*'] }, sub: 'es' })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(privateKey);
    // 64 signature bytes in 86 characters: 4 bits of the last one are ignored.
    await oneBucket(hub, token, 16 + 1);
  });
});
