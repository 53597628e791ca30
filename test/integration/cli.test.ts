import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { subscribeHub } from '../../src/client/index.js';
import { cliEnv } from '../helpers/cli-env.js';

// The `herald` command as a user runs it: a real process, real exit codes, real output.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Polls `check` every 20 ms for up to 15 s; fails with `describe()`. */
async function waitUntil(check: () => boolean, describe: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`gave up waiting: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function herald(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `herald args` to completion. */
async function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = herald(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

const CONTRACT = [
  ['--addr', 'HERALD_ADDR'],
  ['--port', 'HERALD_PORT'],
  ['--jwt-key', 'HERALD_JWT_KEY'],
  ['--publisher-jwt-key', 'HERALD_PUBLISHER_JWT_KEY'],
  ['--subscriber-jwt-key', 'HERALD_SUBSCRIBER_JWT_KEY'],
  ['--jwt-alg', 'HERALD_JWT_ALG'],
  ['--anonymous', 'HERALD_ANONYMOUS'],
  ['--subscriptions', 'HERALD_SUBSCRIPTIONS'],
  ['--cors-origins', 'HERALD_CORS_ORIGINS'],
  ['--engine', 'HERALD_ENGINE'],
  ['--history-size', 'HERALD_HISTORY_SIZE'],
  ['--dev', 'HERALD_DEV'],
  ['--tls-cert', 'HERALD_TLS_CERT'],
  ['--tls-key', 'HERALD_TLS_KEY'],
  ['--h2c', 'HERALD_H2C'],
  ['--history-bytes', 'HERALD_HISTORY_BYTES'],
  ['--history-ttl', 'HERALD_HISTORY_TTL'],
  ['--heartbeat', 'HERALD_HEARTBEAT'],
  ['--queue-bytes', 'HERALD_QUEUE_BYTES'],
  ['--jwks-url', 'HERALD_JWKS_URL'],
  ['--publish-origins', 'HERALD_PUBLISH_ORIGINS'],
  ['--dashboard', 'HERALD_DASHBOARD'],
  ['--log-level', 'HERALD_LOG_LEVEL'],
  ['--shutdown-grace', 'HERALD_SHUTDOWN_GRACE'],
  ['--max-connections', 'HERALD_MAX_CONNECTIONS'],
  ['--max-connections-per-ip', 'HERALD_MAX_CONNECTIONS_PER_IP'],
  ['--max-topics', 'HERALD_MAX_TOPICS'],
  ['--max-body-bytes', 'HERALD_MAX_BODY_BYTES'],
  ['--publish-rate', 'HERALD_PUBLISH_RATE'],
  ['--config', 'HERALD_CONFIG'],
] as const;

describe('herald serve --help', () => {
  it('lists every option with its environment variable and default', async () => {
    const { code, stdout, stderr } = await run(['serve', '--help']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Usage: herald serve \[options\]/);
    for (const [flag, env] of CONTRACT) {
      const block = new RegExp(`^  ${flag}(?:[ ,].*)?\\n(?: {6}.*\\n)*? {6}env ${env} ·`, 'm');
      assert.match(stdout, block, `${flag} with ${env}`);
    }
    assert.match(stdout, /--no-dashboard/);
    assert.match(stdout, /default HS256/);
    assert.match(stdout, /default memory:/);
  });
});

describe('usage errors exit with 2', () => {
  it('an unknown flag', async () => {
    const { code, stdout, stderr } = await run(['serve', '--prot', '8080']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /unknown option --prot \(did you mean --port\?\)/);
    assert.match(stderr, /See herald serve --help/);
  });

  it('a bad value in a flag or in the environment, naming it', async () => {
    let result = await run(['serve', '--port', 'eighty']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--port: expected an integer from 0 to 65535, got "eighty"/);
    result = await run(['serve'], { HERALD_HISTORY_TTL: 'forever' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /HERALD_HISTORY_TTL: expected a duration/);
  });

  it('an unreadable config file', async () => {
    const { code, stderr } = await run(['serve', '--config', '/nonexistent/herald.yaml']);
    assert.equal(code, 2);
    assert.match(stderr, /--config: cannot read config file \/nonexistent\/herald.yaml/);
  });

  it('an unknown command, or none', async () => {
    let result = await run(['serv']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command "serv"/);
    result = await run([]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Usage: herald <command>/);
  });
});

describe('herald --version and --help', () => {
  it('prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const { code, stdout } = await run(['--version']);
    assert.equal(code, 0);
    assert.equal(stdout, `${pkg.version}\n`);
  });

  it('lists the commands', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /serve/);
    assert.match(stdout, /demo/);
  });
});

describe('herald serve --dev', () => {
  it('prints the URL and a publisher token that works, and exits 0 on SIGTERM', async () => {
    const child = herald(['serve', '--dev', '--port', '0', '--log-level', 'warn']);
    let stdout = '';
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no URL in 15 s: ${stdout}${stderr}`)),
          15_000,
        );
        child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          const match = /^Herald hub listening on (\S+)$/m.exec(stdout);
          // Wait for the token too: it is printed right after the URL.
          if (match && /Bearer (\S+)'/.test(stdout)) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      });
      assert.match(url, /^http:\/\/localhost:\d+$/);
      assert.doesNotMatch(url, /:0$/);
      assert.ok(stdout.includes(`${url}/.well-known/mercure`), 'the curl example has the real URL');

      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);

      const token = /Bearer (\S+)'/.exec(stdout)![1]!;
      const published = await fetch(`${url}/.well-known/mercure`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: new URLSearchParams({ topic: '/cli-test', data: 'hello' }),
      });
      assert.equal(published.status, 200, await published.clone().text());
      assert.notEqual((await published.text()).trim(), '');

      // docs/client.md's subscribeHub, with the same token as a subscriber's: private updates
      // reach it, not an anonymous subscriber.
      const received: string[] = [];
      const errors: string[] = [];
      let opened = 0;
      const privateSub = subscribeHub(`${url}/.well-known/mercure`, {
        topics: ['/cli-private'],
        token,
        onOpen: () => opened++,
        onError: (error) => errors.push(error.message),
        onEvent: (event) => received.push(event.data),
      });
      const anonymous: string[] = [];
      const anonymousSub = subscribeHub(`${url}/.well-known/mercure`, {
        topics: ['/cli-private'],
        onOpen: () => opened++,
        onEvent: (event) => anonymous.push(event.data),
      });
      try {
        await waitUntil(
          () => opened === 2 || errors.length > 0,
          () => `opened ${opened}`,
        );
        assert.deepEqual(errors, [], 'the dev token is accepted as a subscriber token');
        for (const [data, priv] of [
          ['secret', true],
          ['public', false],
        ] as const) {
          const update = await fetch(`${url}/.well-known/mercure`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
            body: new URLSearchParams({
              topic: '/cli-private',
              data,
              ...(priv ? { private: 'on' } : {}),
            }),
          });
          assert.equal(update.status, 200, await update.text());
        }
        await waitUntil(
          () => received.length === 2 && anonymous.length === 1,
          () => JSON.stringify({ received, anonymous }),
        );
        assert.deepEqual(received, ['secret', 'public']);
        assert.deepEqual(anonymous, ['public']);
      } finally {
        privateSub.close();
        anonymousSub.close();
      }

      child.kill('SIGTERM');
      const [code, signal] = await exited;
      assert.equal(signal, null);
      assert.equal(code, 0, stderr);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

/** A running `herald serve`: its URL (from the banner, on stdout or stderr) and its output. */
interface Served {
  url: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

/** Spawns `herald serve args` and waits for its banner (and `until`, on stdout). */
async function serve(
  args: string[],
  env: Record<string, string> = {},
  until: (stdout: string) => boolean = () => true,
): Promise<Served> {
  const child = herald(['serve', ...args], env);
  let stdout = '';
  let stderr = '';
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL in 15 s: ${stdout}${stderr}`)), 15_000);
    const check = (): void => {
      const match = /^Herald hub listening on (\S+)$/m.exec(`${stdout}\n${stderr}`);
      if (match && until(stdout)) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      check();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      check();
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stdout}${stderr}`)));
  });
  return {
    url,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = await exited;
      return code;
    },
  };
}

describe('herald serve without --dev', () => {
  it('writes only JSON lines on stdout (| jq works); the human banner goes to stderr', async () => {
    const secret = 'a-publisher-secret-of-at-least-32-bytes!';
    // A notice too (a proxy range that trusts everyone): not on stdout as plain text either.
    const hub = await serve([
      '--addr',
      '127.0.0.1:0',
      '--publisher-jwt-key',
      secret,
      '--anonymous',
      '--trusted-proxies',
      '0.0.0.0/0',
      '--log-level',
      'debug',
    ]);
    try {
      // Some traffic, so that request logs are among the lines.
      const res = await fetch(`${hub.url}/.well-known/mercure?topic=/jq`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const refused = await fetch(`${hub.url}/.well-known/mercure`, {
        method: 'POST',
        body: new URLSearchParams({ topic: '/jq', data: 'x' }),
      });
      assert.equal(refused.status, 401);
    } finally {
      assert.equal(await hub.stop(), 0, hub.stderr());
    }
    const lines = hub
      .stdout()
      .split('\n')
      .filter((line) => line !== '');
    assert.ok(lines.length >= 2, `some log lines: ${hub.stdout()}`);
    const parsed = lines.map((line, i) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return assert.fail(`stdout line ${i + 1} is not JSON: ${line}`);
      }
    });
    const listening = parsed.find((entry) => entry.msg === 'herald hub listening');
    assert.equal(listening?.url, hub.url);
    const notice = parsed.find((entry) => entry.notice === true);
    assert.match(
      String(notice?.msg),
      /trusts every address/,
      `the notice, as JSON: ${hub.stdout()}`,
    );
    assert.equal(notice?.level, 'warn');
    assert.match(hub.stderr(), /^Herald hub listening on http:\/\/127\.0\.0\.1:\d+$/m);
    assert.doesNotMatch(hub.stdout(), /Herald hub listening on/);
  });
});
