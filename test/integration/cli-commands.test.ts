// herald token, herald publish and herald tail as a user runs them: real processes against a
// real `herald serve`, private updates end to end (HMAC, and RS256 / ES256 / EdDSA hubs with
// tokens signed by the private key), a tail that resumes with Last-Event-ID across a dropped
// connection (a TCP proxy in between is cut), and the errors a person meets first.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { waitFor } from '../helpers/async.js';
import { cliEnv } from '../helpers/cli-env.js';
import { closeServer, listen } from '../helpers/net.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'a-shared-hmac-secret-of-at-least-32-bytes';

function herald(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A spawned command and what it wrote so far. */
interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string> = {}, stdin?: string): Running {
  const child = herald(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdin!.end(stdin);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function run(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = start(args, env, stdin);
  const code = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

let hub: Running;
let url = '';
before(async () => {
  hub = start(
    ['serve', '--addr', '127.0.0.1:0', '--jwt-key', SECRET, '--anonymous', '--log-level', 'warn'],
    {},
  );
  await waitFor(
    () => /Herald hub listening on /.test(hub.stderr()),
    'herald serve to listen',
    20_000,
  );
  url = /Herald hub listening on (\S+)/.exec(hub.stderr())![1]!;
});
after(async () => {
  hub.child.kill('SIGTERM');
  await hub.exited;
});

/** JSON lines `herald tail` printed. */
function lines(text: string): Array<{ id: string; type: string; data: string }> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

describe('herald token', () => {
  it('mints HS256 tokens from the configured key (flag or env), with topics, sub, claims and expiry', async () => {
    const publisher = await run(
      ['token', '--publish', '*', '--sub', 'ada', '--claim', 'mercure.payload={"user":1}'],
      { HERALD_JWT_KEY: SECRET },
    );
    assert.equal(publisher.code, 0, publisher.stderr);
    const token = publisher.stdout.trim();
    assert.equal(decodeProtectedHeader(token).alg, 'HS256');
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET));
    assert.deepEqual(payload.mercure, { payload: { user: 1 }, publish: ['*'] });
    assert.equal(payload.sub, 'ada');
    assert.equal(payload.exp! - payload.iat!, 3600, 'an hour by default');
    assert.match(publisher.stderr, /publisher key \(HS256\), expires/);

    const subscriber = await run([
      'token',
      '--jwt-key',
      SECRET,
      '--subscribe',
      '/orders/{id}',
      '--exp',
      '15m',
      '--claim',
      'herald.dashboard=true',
    ]);
    assert.equal(subscriber.code, 0, subscriber.stderr);
    const claims = decodeJwt(subscriber.stdout.trim());
    assert.deepEqual(claims.mercure, { subscribe: ['/orders/{id}'] });
    assert.deepEqual(claims.herald, { dashboard: true });
    assert.equal(claims.exp! - claims.iat!, 900);
    const forever = decodeJwt(
      (await run(['token', '--jwt-key', SECRET, '--exp', 'none'])).stdout.trim(),
    );
    assert.equal(forever.exp, undefined);
  });

  it('says what is missing: no key, a typo in a flag, a bad --exp or --claim (exit 2)', async () => {
    const noKey = await run(['token', '--publish', '*']);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /no publisher key to sign with: set --jwt-key/);
    const typo = await run(['token', '--pubish', '*', '--jwt-key', SECRET]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown option --pubish \(did you mean --publish\?\)/);
    const exp = await run(['token', '--jwt-key', SECRET, '--exp', 'soon']);
    assert.equal(exp.code, 2);
    assert.match(exp.stderr, /--exp takes a duration/);
    const claim = await run(['token', '--jwt-key', SECRET, '--claim', 'nothing']);
    assert.equal(claim.code, 2);
    assert.match(claim.stderr, /--claim takes path=value/);
    const split = await run([
      'token',
      '--publisher-jwt-key',
      SECRET,
      '--subscriber-jwt-key',
      `${SECRET}-2`,
      '--publish',
      '*',
      '--subscribe',
      '*',
    ]);
    assert.equal(split.code, 2);
    assert.match(split.stderr, /keys differ/);
  });
});

/** Files holding the test's keys, removed at the end. */
const keyDir = mkdtempSync(join(tmpdir(), 'herald-token-keys-'));
after(() => rmSync(keyDir, { recursive: true, force: true }));
let keyFiles = 0;

/** Writes `text` to a new file only its owner can read; returns its path. */
function keyFile(text: string): string {
  keyFiles += 1;
  const path = join(keyDir, `key-${keyFiles}`);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

type KeyType = 'rsa' | 'ec' | 'ed25519';

function keyPair(type: KeyType): { publicKey: KeyObject; privateKey: KeyObject } {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (type === 'ec') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return generateKeyPairSync('ed25519');
}

/** PKCS#8 for a private key, SPKI for a public one. */
function pem(key: KeyObject): string {
  return key
    .export(
      key.type === 'private' ? { type: 'pkcs8', format: 'pem' } : { type: 'spki', format: 'pem' },
    )
    .toString();
}

function jwk(key: KeyObject): string {
  return JSON.stringify(key.export({ format: 'jwk' }));
}

/** Nothing of the private key (its JWK "d", any line of its PEM) appears in `output`. */
function assertKeyNotShown(output: string, privateKey: KeyObject): void {
  const d = privateKey.export({ format: 'jwk' }).d!;
  assert.ok(!output.includes(d), 'the private key was printed');
  for (const line of pem(privateKey).split('\n')) {
    if (line.length >= 16 && !line.startsWith('-----')) {
      assert.ok(!output.includes(line), 'the private key was printed');
    }
  }
}

/** A `herald serve` on a free loopback port, configured by `env`. */
async function startHub(env: Record<string, string>): Promise<{ hub: Running; url: string }> {
  const server = start(['serve', '--addr', '127.0.0.1:0', '--log-level', 'warn'], env);
  await waitFor(
    () => /Herald hub listening on /.test(server.stderr()) || server.child.exitCode !== null,
    'herald serve to listen',
    20_000,
  );
  const found = /Herald hub listening on (\S+)/.exec(server.stderr());
  assert.ok(found, server.stderr());
  return { hub: server, url: found[1]! };
}

describe('herald token with a private key', () => {
  for (const { alg, type, form } of [
    { alg: 'RS256', type: 'rsa', form: 'a PEM file' },
    { alg: 'ES256', type: 'ec', form: 'one-line PEM text in HERALD_PRIVATE_KEY' },
    { alg: 'EdDSA', type: 'ed25519', form: 'a JWK file' },
  ] as const) {
    it(`${alg}: a hub holding the public key accepts tokens signed with the private key (${form}); a private update reaches the subscriber`, async () => {
      const { publicKey, privateKey } = keyPair(type);
      // The hub's configuration, as a person would export it for both commands.
      const hubEnv = { HERALD_JWT_KEY: `@${keyFile(pem(publicKey))}`, HERALD_JWT_ALG: alg };
      const signing: { args: string[]; env: Record<string, string> } =
        form === 'a PEM file'
          ? { args: ['--private-key', keyFile(pem(privateKey))], env: {} }
          : form === 'a JWK file'
            ? { args: ['--private-key', keyFile(jwk(privateKey))], env: {} }
            : {
                args: [],
                env: { HERALD_PRIVATE_KEY: pem(privateKey).trim().replaceAll('\n', '\\n') },
              };
      const source = signing.args.length > 0 ? '--private-key' : 'HERALD_PRIVATE_KEY';
      const { hub: server, url: hubUrl } = await startHub(hubEnv);
      try {
        const mint = (claims: string[]) =>
          run(['token', ...signing.args, ...claims], { ...hubEnv, ...signing.env });
        const subscriber = await mint(['--subscribe', '/orders/{id}']);
        const publisher = await mint(['--publish', '/orders/{id}']);
        for (const [minted, role] of [
          [subscriber, 'subscriber'],
          [publisher, 'publisher'],
        ] as const) {
          assert.equal(minted.code, 0, minted.stderr);
          assert.match(minted.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'stdout holds the token alone');
          assert.match(
            minted.stderr,
            new RegExp(
              `^herald token: ${role} token signed with ${alg} by the private key from ${source} \\(.*; it matches the configured public key\\), expires `,
            ),
          );
          assertKeyNotShown(minted.stdout + minted.stderr, privateKey);
          const token = minted.stdout.trim();
          assert.equal(decodeProtectedHeader(token).alg, alg);
          await jwtVerify(token, publicKey, { algorithms: [alg] });
        }

        const tail = start([
          'tail',
          '--url',
          hubUrl,
          '--token',
          subscriber.stdout.trim(),
          '/orders/{id}',
        ]);
        try {
          await waitFor(() => /connected to/.test(tail.stderr()), 'the tail to connect', 20_000);
          const sent = await run([
            'publish',
            '--url',
            hubUrl,
            '--token',
            publisher.stdout.trim(),
            '--private',
            '--id',
            `${alg}-1`,
            '/orders/1',
            `signed with ${alg}`,
          ]);
          assert.equal(sent.code, 0, sent.stderr);
          assert.equal(sent.stdout.trim(), `${alg}-1`);
          await waitFor(() => lines(tail.stdout()).length === 1, 'the private update', 20_000);
          assert.deepEqual(lines(tail.stdout()), [
            { id: `${alg}-1`, type: 'message', data: `signed with ${alg}` },
          ]);
        } finally {
          tail.child.kill('SIGINT');
          assert.equal(await tail.exited, 0, tail.stderr());
        }
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    });
  }

  it('refuses a private key that is not the pair of the configured public key, or does not fit its algorithm (exit 2, nothing on stdout)', async () => {
    const hubKey = keyPair('rsa');
    const other = keyPair('rsa');
    const ec = keyPair('ec');
    const env = { HERALD_JWT_KEY: `@${keyFile(pem(hubKey.publicKey))}`, HERALD_JWT_ALG: 'RS256' };

    const otherFile = keyFile(pem(other.privateKey));
    const wrong = await run(['token', '--private-key', otherFile, '--publish', '*'], env);
    assert.equal(wrong.code, 2);
    assert.equal(wrong.stdout, '');
    assert.match(
      wrong.stderr,
      /--private-key: this private key does not match the configured public key of the publisher \(HERALD_JWT_KEY, RS256\): the hub would refuse its tokens; give the private key that public key was made from, or configure the hub with this key's public half \(openssl pkey -in .* -pubout\)/,
    );
    assertKeyNotShown(wrong.stderr, other.privateKey);
    // The same through HERALD_PRIVATE_KEY, and for a JWK.
    const wrongJwk = await run(['token', '--subscribe', '*'], {
      ...env,
      HERALD_PRIVATE_KEY: keyFile(jwk(other.privateKey)),
    });
    assert.equal(wrongJwk.code, 2);
    assert.equal(wrongJwk.stdout, '');
    assert.match(
      wrongJwk.stderr,
      /HERALD_PRIVATE_KEY: this private key does not match the configured public key of the subscriber \(HERALD_JWT_KEY, RS256\).*\(the JWK without d, p, q, dp, dq and qi\)/,
    );
    assertKeyNotShown(wrongJwk.stderr, other.privateKey);

    const ecFile = keyFile(pem(ec.privateKey));
    const wrongType = await run(['token', '--private-key', ecFile, '--subscribe', '*'], env);
    assert.equal(wrongType.code, 2);
    assert.equal(wrongType.stdout, '');
    assert.match(
      wrongType.stderr,
      /--private-key: this private key does not match the configured public key of the subscriber \(HERALD_JWT_KEY, RS256\): RS256 needs an RSA private key, but this is an EC P-256 key/,
    );

    // Without a public key the algorithm asked for must fit the key.
    const wrongAlg = await run(['token', '--jwt-alg', 'RS256', '--private-key', ecFile]);
    assert.equal(wrongAlg.code, 2);
    assert.equal(wrongAlg.stdout, '');
    assert.match(
      wrongAlg.stderr,
      /--private-key: RS256 needs an RSA private key, but this is an EC P-256 key \(the algorithm from --jwt-alg\); use ES256 for this key, or give a key for RS256/,
    );
    const hmacAlg = await run(['token', '--jwt-alg', 'HS256', '--private-key', ecFile]);
    assert.equal(hmacAlg.code, 2);
    assert.match(hmacAlg.stderr, /HS256 signs with a shared secret, not with a private key/);
    assertKeyNotShown(wrongAlg.stderr + hmacAlg.stderr, ec.privateKey);
  });

  it('refuses what is not a usable private key: a public key, a public JWK, a shared secret, an encrypted key, a missing file; and a private key for an HMAC hub', async () => {
    const { publicKey, privateKey } = keyPair('ec');
    const cases: Array<[string, RegExp]> = [
      [
        keyFile(pem(publicKey)),
        /--private-key: this is a public key \(PUBLIC KEY\), not a private key; give the private half/,
      ],
      [keyFile(jwk(publicKey)), /--private-key: the JWK is a public key \(it has no "d"\)/],
      [
        keyFile('a-shared-hmac-secret-of-at-least-32-bytes'),
        /--private-key: the key is neither a PEM private key nor a JWK \(is it a shared secret\?\); .*a shared secret goes to --jwt-key/,
      ],
      [
        keyFile(JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' })),
        /--private-key: the key is a shared secret \(JWK kty "oct"\), not a private key/,
      ],
      [
        keyFile(
          privateKey
            .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
            .toString(),
        ),
        /--private-key: the private key is encrypted with a passphrase; decrypt it into a file only you can read \(openssl pkey/,
      ],
      [join(keyDir, 'no-such-key.pem'), /--private-key: cannot read .*no-such-key\.pem \(ENOENT\)/],
    ];
    for (const [file, message] of cases) {
      const r = await run(['token', '--private-key', file, '--publish', '*']);
      assert.equal(r.code, 2, file);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
    }
    const hmacHub = await run([
      'token',
      '--jwt-key',
      SECRET,
      '--private-key',
      keyFile(pem(privateKey)),
      '--publish',
      '*',
    ]);
    assert.equal(hmacHub.code, 2);
    assert.match(
      hmacHub.stderr,
      /--private-key: the publisher key \(--jwt-key\) is an HS256 secret, which signs tokens itself; drop --private-key/,
    );
    assertKeyNotShown(hmacHub.stderr, privateKey);
    // A public key without a private one: the message says how to give it.
    const noPrivate = await run(['token', '--publish', '*'], {
      HERALD_JWT_KEY: pem(publicKey),
      HERALD_JWT_ALG: 'ES256',
    });
    assert.equal(noPrivate.code, 2);
    assert.match(
      noPrivate.stderr,
      /the configured key is an ES256 public key: .*give its private key with --private-key <file>/,
    );
  });

  it('without a public key configured, signs with the key’s own algorithm (or its JWK’s "alg") and says which', async () => {
    const ec = keyPair('ec');
    const r = await run(['token', '--private-key', keyFile(pem(ec.privateKey)), '--sub', 'ada']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /herald token: subscriber token signed with ES256 by the private key from --private-key \(EC P-256 key; not checked: no public key is configured; the hub needs its public half\)/,
    );
    const { payload } = await jwtVerify(r.stdout.trim(), ec.publicKey, { algorithms: ['ES256'] });
    assert.equal(payload.sub, 'ada');

    const rsa = keyPair('rsa');
    const ps = await run([
      'token',
      '--private-key',
      keyFile(
        JSON.stringify({ ...rsa.privateKey.export({ format: 'jwk' }), alg: 'PS384', kid: 'k1' }),
      ),
    ]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.deepEqual(decodeProtectedHeader(ps.stdout.trim()), {
      alg: 'PS384',
      typ: 'JWT',
      kid: 'k1',
    });
    await jwtVerify(ps.stdout.trim(), rsa.publicKey, { algorithms: ['PS384'] });

    const help = await run(['token', '--help']);
    assert.match(help.stdout, /--private-key <file> {2,}PEM \(PKCS#8/);
    assert.match(help.stdout, /--subscriber-private-key <file>/);
  });

  it('per-role private keys sign for a hub with separate publisher and subscriber keys', async () => {
    const rsa = keyPair('rsa');
    const ed = keyPair('ed25519');
    const args = [
      '--publisher-jwt-key',
      `@${keyFile(pem(rsa.publicKey))}`,
      '--publisher-jwt-alg',
      'RS256',
      '--subscriber-jwt-key',
      `@${keyFile(pem(ed.publicKey))}`,
      '--subscriber-jwt-alg',
      'EdDSA',
      '--publisher-private-key',
      keyFile(pem(rsa.privateKey)),
    ];
    const env = { HERALD_SUBSCRIBER_PRIVATE_KEY: keyFile(pem(ed.privateKey)) };
    const publisher = await run(['token', ...args, '--publish', '*'], env);
    assert.equal(publisher.code, 0, publisher.stderr);
    assert.match(
      publisher.stderr,
      /publisher token signed with RS256 by the private key from --publisher-private-key/,
    );
    await jwtVerify(publisher.stdout.trim(), rsa.publicKey, { algorithms: ['RS256'] });
    const subscriber = await run(['token', ...args, '--subscribe', '*'], env);
    assert.equal(subscriber.code, 0, subscriber.stderr);
    assert.match(
      subscriber.stderr,
      /subscriber token signed with EdDSA by the private key from HERALD_SUBSCRIBER_PRIVATE_KEY/,
    );
    await jwtVerify(subscriber.stdout.trim(), ed.publicKey, { algorithms: ['EdDSA'] });
    const both = await run(['token', ...args, '--publish', '*', '--subscribe', '*'], env);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /the publisher and subscriber keys differ/);
    // The publisher's private key given for the subscriber's public key.
    const swapped = await run(
      [
        'token',
        ...args,
        '--subscriber-private-key',
        keyFile(pem(rsa.privateKey)),
        '--subscribe',
        '*',
      ],
      env,
    );
    assert.equal(swapped.code, 2);
    assert.match(
      swapped.stderr,
      /--subscriber-private-key: this private key does not match the configured public key of the subscriber \(--subscriber-jwt-key, EdDSA\): EdDSA needs an Ed25519 private key, but this is an RSA 2048-bit key/,
    );
  });
});

describe('herald publish and herald tail', () => {
  it('a private update reaches the tail with a subscriber token, not an anonymous one', async () => {
    const subToken = (
      await run(['token', '--jwt-key', SECRET, '--subscribe', '/orders/{id}'])
    ).stdout.trim();
    const pubToken = (
      await run(['token', '--jwt-key', SECRET, '--publish', '/orders/{id}'])
    ).stdout.trim();
    const authorized = start(['tail', '--url', url, '--token', subToken, '/orders/{id}']);
    const anonymous = start(['tail', '/orders/{id}'], { HERALD_URL: url });
    try {
      await waitFor(
        () => /connected to/.test(authorized.stderr()) && /connected to/.test(anonymous.stderr()),
        'both tails to connect',
        20_000,
      );
      const secret = await run(
        ['publish', '--private', '--type', 'order', '--id', 'order-1', '/orders/1', '{"total":3}'],
        { HERALD_URL: url, HERALD_TOKEN: pubToken },
      );
      assert.equal(secret.code, 0, secret.stderr);
      assert.equal(secret.stdout.trim(), 'order-1');
      // Data from stdin, the token and URL as flags.
      const open = await run(
        ['publish', '--url', url, '--token', pubToken, '/orders/2'],
        {},
        'public news\n',
      );
      assert.equal(open.code, 0, open.stderr);
      const openId = open.stdout.trim();
      assert.notEqual(openId, '');

      await waitFor(
        () => lines(authorized.stdout()).length === 2,
        'two events on the tail',
        20_000,
      );
      await waitFor(
        () => lines(anonymous.stdout()).length === 1,
        'one on the anonymous tail',
        20_000,
      );
      assert.deepEqual(lines(authorized.stdout()), [
        { id: 'order-1', type: 'order', data: '{"total":3}' },
        { id: openId, type: 'message', data: 'public news' },
      ]);
      assert.deepEqual(lines(anonymous.stdout()), [
        { id: openId, type: 'message', data: 'public news' },
      ]);
    } finally {
      authorized.child.kill('SIGINT');
      anonymous.child.kill('SIGINT');
      assert.equal(await authorized.exited, 0, authorized.stderr());
      assert.equal(await anonymous.exited, 0, anonymous.stderr());
    }
  });

  it('herald tail resumes after a dropped connection with Last-Event-ID: every event once, in order', async () => {
    const pubToken = (await run(['token', '--jwt-key', SECRET, '--publish', '*'])).stdout.trim();
    const hubPort = Number(new URL(url).port);
    // A TCP proxy in front of the hub, whose connections the test cuts.
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = createConnection(hubPort, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    const proxyPort = await listen(proxy);
    const tail = start(['tail', '--url', `http://127.0.0.1:${proxyPort}`, '/resume']);
    const publish = async (data: string): Promise<string> => {
      const r = await run(['publish', '--url', url, '--token', pubToken, '/resume', data]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    try {
      await waitFor(() => /connected to/.test(tail.stderr()), 'the tail to connect', 20_000);
      const first = await publish('one');
      await waitFor(() => lines(tail.stdout()).length === 1, 'the first event', 20_000);
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      // Published while the tail is away: it must get both when it comes back.
      await publish('two');
      await publish('three');
      await waitFor(
        () => /reconnected to .* after /.test(tail.stderr()),
        'the tail to resume',
        20_000,
      );
      await waitFor(() => lines(tail.stdout()).length >= 3, 'the missed events', 20_000);
      await publish('four');
      await waitFor(() => lines(tail.stdout()).length >= 4, 'a live event after', 20_000);
      assert.deepEqual(
        lines(tail.stdout()).map((e) => e.data),
        ['one', 'two', 'three', 'four'],
      );
      assert.match(tail.stderr(), new RegExp(`reconnected to .* after ${first}`));
    } finally {
      tail.child.kill('SIGINT');
      await tail.exited;
      for (const socket of sockets) socket.destroy();
      await closeServer(proxy);
    }
  });

  it('refusals carry the hub’s reason; a tail refused for good exits 1', async () => {
    const anonymous = await run(['publish', '--url', url, '/x', 'data']);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /the hub answered 401: .+/);
    assert.match(anonymous.stderr, /pass --token or set HERALD_TOKEN/);
    const noTopic = await run(['publish', '--url', url]);
    assert.equal(noTopic.code, 2);
    assert.match(noTopic.stderr, /herald publish needs a topic/);
    const bad = await run(['tail', '--url', url, '--token', 'not-a-jwt', '/x']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /gave up/);
    const noHub = await run(['publish', '--url', 'http://127.0.0.1:9', '--token', 'x', '/x', 'y']);
    assert.equal(noHub.code, 1);
    assert.match(noHub.stderr, /cannot reach the hub at http:\/\/127\.0\.0\.1:9/);
  });

  it('an unknown command gets the closest one', async () => {
    const r = await run(['tial', '/x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "tial" \(did you mean tail\?\)/);
  });
});
