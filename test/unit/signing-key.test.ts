// herald token's private keys: which texts are read, which algorithm each key gets, and what is
// refused (with the hint a person needs), on keys made here with node:crypto.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { compactVerify, SignJWT } from 'jose';
import { loadSigningKey, readPrivateKeyText } from '../../src/commands/signing-key.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');

function pkcs8(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function jwk(key: KeyObject, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...key.export({ format: 'jwk' }), ...extra });
}

/** The key loads and signs a token its public half verifies with `alg`. */
async function signsAs(text: string, asked: string | undefined, alg: string, publicKey: KeyObject) {
  const loaded = loadSigningKey(text, asked);
  assert.ok(loaded.ok, loaded.ok ? '' : `${loaded.problem}; ${loaded.hint}`);
  assert.equal(loaded.key.alg, alg);
  const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg }).sign(loaded.key.key);
  await compactVerify(token, publicKey, { algorithms: [alg] });
  return loaded.key;
}

function refused(
  text: string,
  asked: string | undefined,
  kind: 'key' | 'algorithm',
  problem: RegExp,
) {
  const loaded = loadSigningKey(text, asked);
  assert.equal(loaded.ok, false);
  if (loaded.ok) return;
  assert.equal(loaded.kind, kind);
  assert.match(loaded.problem, problem);
  assert.notEqual(loaded.hint, '');
}

describe('loadSigningKey', () => {
  it('reads PKCS#8, PKCS#1, SEC1, one-line PEM and private JWKs, each with its own algorithm', async () => {
    await signsAs(pkcs8(rsa.privateKey), undefined, 'RS256', rsa.publicKey);
    await signsAs(
      rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      'PS512',
      'PS512',
      rsa.publicKey,
    );
    await signsAs(
      p256.privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
      undefined,
      'ES256',
      p256.publicKey,
    );
    await signsAs(pkcs8(p384.privateKey), undefined, 'ES384', p384.publicKey);
    await signsAs(
      pkcs8(ed.privateKey).trim().replaceAll('\n', '\\n'),
      undefined,
      'EdDSA',
      ed.publicKey,
    );
    const fromJwk = await signsAs(
      jwk(rsa.privateKey, { alg: 'PS256', kid: 'key-1' }),
      undefined,
      'PS256',
      rsa.publicKey,
    );
    assert.equal(fromJwk.kid, 'key-1');
    assert.equal(fromJwk.description, 'an RSA 2048-bit key');
  });

  it('refuses keys that do not fit the algorithm asked for', () => {
    refused(
      pkcs8(p256.privateKey),
      'RS256',
      'algorithm',
      /RS256 needs an RSA private key, but this is an EC P-256 key/,
    );
    refused(
      pkcs8(p384.privateKey),
      'ES256',
      'algorithm',
      /ES256 needs an EC P-256 private key, but this is an EC P-384 key/,
    );
    refused(pkcs8(rsa.privateKey), 'EdDSA', 'algorithm', /EdDSA needs an Ed25519 private key/);
    refused(pkcs8(ed.privateKey), 'HS256', 'algorithm', /HS256 signs with a shared secret/);
    refused(
      jwk(p256.privateKey, { alg: 'ES256' }),
      'ES384',
      'algorithm',
      /the JWK says alg "ES256" but the algorithm is ES384/,
    );
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    refused(
      pkcs8(small.privateKey),
      undefined,
      'algorithm',
      /at least 2048 bits, this one has 1024/,
    );
    const ed448 = generateKeyPairSync('ed448');
    refused(
      pkcs8(ed448.privateKey),
      undefined,
      'key',
      /an ed448 key signs no algorithm Herald verifies/,
    );
  });

  it('refuses what is not a usable private key', () => {
    refused(
      p256.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      undefined,
      'key',
      /this is a public key \(PUBLIC KEY\), not a private key/,
    );
    refused(jwk(p256.publicKey), undefined, 'key', /the JWK is a public key \(it has no "d"\)/);
    refused(
      JSON.stringify({ keys: [JSON.parse(jwk(p256.privateKey))] }),
      undefined,
      'key',
      /JWK Set/,
    );
    refused(
      JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }),
      undefined,
      'key',
      /shared secret \(JWK kty "oct"\)/,
    );
    refused(jwk(p256.privateKey, { use: 'enc' }), undefined, 'key', /"use": "enc"/);
    refused('a-shared-secret', undefined, 'key', /neither a PEM private key nor a JWK/);
    refused(
      p256.privateKey
        .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
        .toString(),
      undefined,
      'key',
      /encrypted with a passphrase/,
    );
    refused(
      rsa.privateKey
        .export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
        .toString(),
      undefined,
      'key',
      /encrypted with a passphrase/,
    );
    refused(
      '-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n',
      undefined,
      'key',
      /cannot be read/,
    );
  });
});

describe('readPrivateKeyText', () => {
  const files: Record<string, string> = { 'key.pem': 'PEM TEXT' };
  const readFile = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return text;
  };

  it('takes a path (with or without @), or the key text itself', () => {
    assert.deepEqual(readPrivateKeyText('key.pem', readFile), {
      ok: true,
      text: 'PEM TEXT',
      file: 'key.pem',
    });
    assert.deepEqual(readPrivateKeyText('@key.pem', readFile), {
      ok: true,
      text: 'PEM TEXT',
      file: 'key.pem',
    });
    const pem = pkcs8(ed.privateKey);
    assert.deepEqual(readPrivateKeyText(pem, readFile), { ok: true, text: pem, file: undefined });
    assert.deepEqual(readPrivateKeyText(' {"kty":"OKP"}', readFile), {
      ok: true,
      text: ' {"kty":"OKP"}',
      file: undefined,
    });
  });

  it('says which file cannot be read', () => {
    const missing = readPrivateKeyText('gone.pem', readFile);
    assert.equal(missing.ok, false);
    assert.match(missing.ok ? '' : missing.problem, /cannot read gone\.pem \(ENOENT\)/);
    assert.equal(readPrivateKeyText('@', readFile).ok, false);
  });
});
