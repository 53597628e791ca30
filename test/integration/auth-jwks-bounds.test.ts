// The JWKS is fetched within bounds (src/server/jwks-fetch.ts): a real local HTTP server serves
// a huge JWKS (announced, chunked, gzip-compressed) and a slow one (slow headers, a trickled
// body). Each is abandoned at --jwks-max-bytes / --jwks-timeout, the failure is reported once,
// tokens that need it get a 401 saying why, and a fixed JWKS is used again.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createGzip, constants as zlib } from 'node:zlib';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import pino from 'pino';
import { startServer } from '../../src/server/app.js';
import {
  type AuthenticatorOptions,
  type AuthRequest,
  type AuthResult,
  createAuthenticator,
} from '../../src/server/auth.js';
import { loadConfig } from '../../src/server/config.js';
import { closeServer, listen } from '../helpers/net.js';

const MAX = 64 * 1024;

/** What the JWKS server does with the next request. */
type Behaviour =
  | 'good'
  | 'huge-announced'
  | 'huge-chunked'
  | 'huge-gzip'
  | 'slow-headers'
  | 'slow-body';

/** A JWKS server whose behaviour the test picks; counts what it managed to send. */
class JwksServer {
  behaviour: Behaviour = 'good';
  keys: JWK[] = [];
  fetches = 0;
  /** Bytes the last answer got accepted by its socket before the client went away. */
  sent = 0;
  /** Resolves when the last answer's connection closed. */
  closed: Promise<unknown> = Promise.resolve();
  readonly #open = new Set<ServerResponse>();
  readonly server: Server = createServer((req, res) => this.#answer(req, res));

  async start(): Promise<string> {
    return `http://127.0.0.1:${await listen(this.server)}/jwks.json`;
  }

  async stop(): Promise<void> {
    for (const res of this.#open) res.destroy();
    await closeServer(this.server);
  }

  #answer(_req: IncomingMessage, res: ServerResponse): void {
    this.fetches++;
    this.sent = 0;
    this.#open.add(res);
    this.closed = once(res, 'close');
    res.once('close', () => this.#open.delete(res));
    const keys = JSON.stringify(this.keys).slice(1, -1);
    // A never-ending key list: valid JSON so far, whatever is cut.
    const filler = `,${JSON.stringify({ kty: 'oct', kid: 'x'.repeat(1000), k: 'AA' })}`;
    const pump = (target: NodeJS.WritableStream, limit: number): void => {
      const step = (): void => {
        while (this.sent < limit && !res.destroyed) {
          this.sent += filler.length;
          if (!target.write(filler)) {
            target.once('drain', step);
            return;
          }
        }
      };
      step();
    };
    switch (this.behaviour) {
      case 'good':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: this.keys }));
        return;
      case 'huge-announced': {
        const size = 300 * 1024 * 1024;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': size });
        res.write(`{"keys":[${keys}`);
        pump(res, size);
        return;
      }
      case 'huge-chunked':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`{"keys":[${keys}`);
        pump(res, 300 * 1024 * 1024);
        return;
      case 'huge-gzip': {
        // 300 MB of JSON that compresses to a few hundred KB: the decoded bytes are counted.
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        const gzip = createGzip({ flush: zlib.Z_SYNC_FLUSH });
        gzip.pipe(res);
        gzip.write(`{"keys":[${keys}`);
        res.once('close', () => gzip.destroy());
        pump(gzip, 300 * 1024 * 1024);
        return;
      }
      case 'slow-headers':
        return; // never answers
      case 'slow-body': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const body = JSON.stringify({ keys: this.keys });
        let i = 0;
        const timer = setInterval(() => {
          if (res.destroyed || i >= body.length) {
            clearInterval(timer);
            if (!res.destroyed) res.end();
            return;
          }
          this.sent++;
          res.write(body[i++]!);
        }, 50);
        res.once('close', () => clearInterval(timer));
        return;
      }
    }
  }
}

interface Signer {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signer(kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
}

function token(s: Signer): Promise<string> {
  return new SignJWT({ mercure: { subscribe: ['*'] } })
    .setProtectedHeader({ alg: 'ES256', kid: s.kid })
    .sign(s.privateKey);
}

function bearer(jwt: string): AuthRequest {
  return { method: 'GET', headers: { authorization: `Bearer ${jwt}` }, url: '/' };
}

function assert401(result: AuthResult, reason: RegExp): void {
  assert.equal(result.ok, false, 'expected a 401');
  if (result.ok) return;
  assert.equal(result.status, 401);
  assert.match(result.reason, reason);
}

const config = (jwksUrl: string) => ({
  publisherKey: undefined,
  subscriberKey: undefined,
  jwksUrl,
  anonymous: false,
  publishOrigins: [],
  corsOrigins: [],
});

describe('JWKS bounds: size and time', () => {
  const jwks = new JwksServer();
  let url: string;
  let key: Signer;
  before(async () => {
    key = await signer('ec-1');
    jwks.keys = [key.jwk];
    url = await jwks.start();
  });
  after(() => jwks.stop());

  /** An authenticator with the test's bounds; `failures` collects what it reported. */
  function authenticator(extra: AuthenticatorOptions = {}) {
    const failures: string[] = [];
    const auth = createAuthenticator(config(url), {
      jwksMaxBytes: MAX,
      // Generous: the size cases must never race the timer on a loaded machine (the slow
      // cases set their own).
      jwksTimeoutMs: 10_000,
      jwksCooldownMs: 0,
      onJwksFailure: (problem) => failures.push(problem),
      ...extra,
    });
    return { auth, failures };
  }

  const huge: Array<[Behaviour, RegExp]> = [
    ['huge-announced', /announces 314572800 bytes, more than 65536 \(--jwks-max-bytes\)/],
    ['huge-chunked', /larger than 65536 bytes \(--jwks-max-bytes\)/],
    ['huge-gzip', /larger than 65536 bytes \(--jwks-max-bytes\)/],
  ];
  for (const [behaviour, reason] of huge) {
    it(`${behaviour}: abandoned past --jwks-max-bytes; 401 with the reason`, async () => {
      jwks.behaviour = behaviour;
      const { auth, failures } = authenticator();
      assert401(await auth.subscriber(bearer(await token(key))), reason);
      assert.equal(failures.length, 1);
      assert.match(failures[0]!, reason);
      await jwks.closed;
      assert.ok(jwks.sent < 32 * 1024 * 1024, `the server got to send ${jwks.sent} bytes only`);
      auth.close();
    });
  }

  for (const behaviour of ['slow-headers', 'slow-body'] as const) {
    it(`${behaviour}: abandoned after --jwks-timeout; 401 with the reason`, async () => {
      jwks.behaviour = behaviour;
      const { auth, failures } = authenticator({ jwksTimeoutMs: 300 });
      assert401(
        await auth.subscriber(bearer(await token(key))),
        /cannot get the signing keys from the JWKS at .*no complete answer within 300 ms \(--jwks-timeout\)/,
      );
      assert.deepEqual(failures, ['no complete answer within 300 ms (--jwks-timeout)']);
      await jwks.closed;
      auth.close();
    });
  }

  it('concurrent tokens share one fetch and one report; more within the backoff fetch nothing', async () => {
    jwks.behaviour = 'huge-chunked';
    jwks.fetches = 0;
    const { auth, failures } = authenticator({ jwksCooldownMs: 60_000 });
    const jwt = await token(key);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => auth.subscriber(bearer(jwt))),
    );
    for (const result of results) assert401(result, /larger than 65536 bytes/);
    for (let i = 0; i < 20; i++) {
      assert401(await auth.subscriber(bearer(jwt)), /larger than 65536 bytes/);
    }
    assert.equal(jwks.fetches, 1);
    assert.equal(failures.length, 1);
    auth.close();
  });

  it('a JWKS within the bounds is used again once fixed', async () => {
    jwks.behaviour = 'huge-chunked';
    const { auth } = authenticator();
    assert401(await auth.subscriber(bearer(await token(key))), /larger than/);
    jwks.behaviour = 'good';
    const result = await auth.subscriber(bearer(await token(key)));
    assert.equal(result.ok, true, result.ok ? '' : result.reason);
    auth.close();
  });

  it('the hub logs the refusal and answers the subscriber 401 with the reason', async () => {
    jwks.behaviour = 'huge-chunked';
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const { config: serverConfig } = loadConfig({
      argv: ['--addr', '127.0.0.1:0', '--jwks-url', url, '--jwks-max-bytes', '64KiB'],
      env: {},
    });
    const hub = await startServer(serverConfig, { logger: pino({ level: 'warn' }, sink) });
    try {
      const res = await fetch(`${hub.url}/.well-known/mercure?topic=/a`, {
        headers: { authorization: `Bearer ${await token(key)}` },
      });
      assert.equal(res.status, 401);
      assert.match(await res.text(), /larger than 65536 bytes \(--jwks-max-bytes\)/);
      assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
      const logged = lines.map((l) => JSON.parse(l) as { msg: string; problem?: string });
      assert.ok(
        logged.some(
          (l) => /cannot use the JWKS/.test(l.msg) && /--jwks-max-bytes/.test(l.problem ?? ''),
        ),
        lines.join('\n'),
      );
    } finally {
      await hub.close(500);
    }
  });
});
