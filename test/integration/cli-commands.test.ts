// herald token, herald publish and herald tail as a user runs them: real processes against a
// real `herald serve`, private updates end to end, a tail that resumes with Last-Event-ID across
// a dropped connection (a TCP proxy in between is cut), and the errors a person meets first.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { waitFor } from '../helpers/async.js';
import { closeServer, listen } from '../helpers/net.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'a-shared-hmac-secret-of-at-least-32-bytes';

/** The environment without HERALD_* variables, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('HERALD_')) env[name] = value;
  }
  return { ...env, ...extra };
}

function herald(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
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
