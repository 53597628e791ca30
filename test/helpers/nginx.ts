// nginx in front of hub nodes, for the multi-node tests: the config docs/scaling.md shows (made
// by `nginxConfig`, so the two cannot drift apart), written to a temp dir and run unprivileged
// from there (`nginx -p <dir>`), in the foreground, on a free port.
//
// nginx runs under a small Node watchdog: when the test process dies, even by SIGKILL, the
// watchdog's stdin closes and it kills nginx, so no nginx outlives its test.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './binary.js';
import { getFreePort } from './net.js';

/** Debian's nginx. */
export const NGINX_PATH = '/usr/sbin/nginx';

/** Skip reason when nginx is missing (throws under CI=true), else `undefined`. */
export function nginxSkipReason(): string | undefined {
  return requireBinary(NGINX_PATH, 'install it with: apt-get install nginx');
}

/** What {@link nginxConfig} fills in. */
export interface NginxConfigOptions {
  /** The `listen` address, e.g. `127.0.0.1:8080` or `8080`. */
  listen: string;
  /** The hub nodes, `host:port` each. */
  upstreams: readonly string[];
  /**
   * `proxy_read_timeout`: must stay above the hub's `--heartbeat` (default 15 s), or nginx
   * cuts idle streams. Default `60s`.
   */
  readTimeout?: string;
}

/**
 * The nginx configuration for Herald hub nodes behind one address, as docs/scaling.md shows it.
 * Every path is relative to nginx's prefix (`-p`), so it runs from a directory of its own, as
 * any user.
 */
export function nginxConfig(options: NginxConfigOptions): string {
  const servers = options.upstreams
    .map((upstream) => `    server ${upstream} max_fails=1 fail_timeout=5s;\n`)
    .join('');
  return `# Herald hub nodes behind nginx (docs/scaling.md). Run it with a directory of its own:
#   nginx -p "$WORK" -c nginx.conf -e stderr
# Paths are relative to that directory (-p); no root is needed.
daemon off;                # foreground: the terminal or a supervisor owns the process
master_process off;        # one process (a system nginx drops these two lines)
pid nginx.pid;
error_log stderr warn;

events {
  worker_connections 4096; # every subscriber takes two: the client's and the upstream one
}

http {
  access_log off;
  client_body_temp_path client_body_temp;
  proxy_temp_path proxy_temp;
  fastcgi_temp_path fastcgi_temp;
  uwsgi_temp_path uwsgi_temp;
  scgi_temp_path scgi_temp;

  upstream herald {
    # Every hub node, all on the same engine. No sticky sessions: a client that lands on
    # another node resumes from the shared stream with Last-Event-ID.
${servers}    keepalive 64;          # idle upstream connections, reused by publishes and reconnects
    keepalive_timeout 4s;  # below Node's 5 s keep-alive, so nginx never reuses a closing one
  }

  server {
    listen ${options.listen};

    location / {
      proxy_pass http://herald;
      proxy_http_version 1.1;          # chunked streams and upstream keepalive need HTTP/1.1
      proxy_set_header Connection "";  # keep upstream connections open
      proxy_set_header Host $host;
      # The client's address, appended to any the client sent: the nodes read it from the
      # right (--trusted-proxies), so what a client writes there itself is never believed.
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;             # pass every event on at once
      proxy_cache off;
${`      proxy_read_timeout ${options.readTimeout ?? '60s'};`.padEnd(39)}# above the hub's --heartbeat (15 s)
      proxy_connect_timeout 2s;        # skip a dead node quickly
      # A node that refuses the connection, or is not ready (503: its engine is down), sends
      # the request to the next one; a publish that reached a node is never sent twice.
      proxy_next_upstream error timeout http_503;
      client_max_body_size 1m;         # = the hub's --max-body-bytes (1 MiB)
    }
  }
}
`;
}

/** A running nginx the test owns. */
export interface TestNginx {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The prefix directory (config, pid, temp files). */
  readonly dir: string;
  /** The configuration it runs. */
  readonly config: string;
  /** What nginx wrote on stdout / stderr (its error log). */
  readonly output: string;
  /** Stops nginx (SIGTERM: fast shutdown), then SIGKILL after a second; removes its directory. */
  stop(): Promise<void>;
}

/** Runs `argv[1…]` and kills it when stdin ends (the parent died); forwards stop signals. */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const child = spawn(process.argv[1], process.argv.slice(2), { stdio: ['ignore', 'inherit', 'inherit'] });
for (const s of ['SIGTERM', 'SIGINT', 'SIGQUIT']) process.on(s, () => child.kill(s));
process.stdin.on('end', () => child.kill('SIGKILL')).on('error', () => child.kill('SIGKILL')).resume();
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGKILL' ? 137 : 1)));
`;

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts nginx in front of `upstreams` (`host:port` each) on a free port, with
 * {@link nginxConfig}, and resolves once it accepts connections.
 *
 * @throws with nginx's output when it exits or does not listen
 */
export async function startNginx(options: {
  upstreams: readonly string[];
  readTimeout?: string;
}): Promise<TestNginx> {
  let lastError: Error | undefined;
  // The port was free a moment ago; another process may take it first: try again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      lastError = error as Error;
      if (!/Address already in use/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError;
}

async function startOnce(options: {
  upstreams: readonly string[];
  readTimeout?: string;
}): Promise<TestNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-nginx-'));
  const port = await getFreePort();
  const config = nginxConfig({
    listen: `127.0.0.1:${port}`,
    upstreams: options.upstreams,
    readTimeout: options.readTimeout,
  });
  writeFileSync(join(dir, 'nginx.conf'), config);
  const child: ChildProcess = spawn(
    process.execPath,
    ['-e', WATCHDOG, NGINX_PATH, '-p', `${dir}/`, '-c', 'nginx.conf', '-e', 'stderr'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  const append = (chunk: Buffer): void => {
    output += chunk.toString();
    if (output.length > 64 * 1024) output = output.slice(-64 * 1024);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  child.stdin!.on('error', () => {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const kill = async (): Promise<void> => {
    if (alive()) child.kill('SIGKILL');
    await exited;
  };
  process.once('exit', () => {
    if (alive()) child.kill('SIGKILL');
  });

  for (let i = 0; ; i++) {
    if (!alive()) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx exited during startup:\n${output}\n--- config ---\n${config}`);
    }
    if (await portOpen(port)) break;
    if (i > 400) {
      await kill();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not listen on ${port} within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    config,
    get output() {
      return output;
    },
    async stop() {
      if (alive()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
