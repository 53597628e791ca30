// A real nats-server with JetStream for integration tests: spawned on a free port with its own
// store directory, killed (SIGKILL, like a crash) and restarted on the same port and directory,
// so file-stored streams survive the restart.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, requireBinary } from './binary.js';
import { closeServer, getFreePort, listen } from './net.js';

/** The nats-server binary: on PATH, else Debian's /usr/sbin/nats-server. */
const NATS_SERVER = findBinary('nats-server') ?? '/usr/sbin/nats-server';

/** Skip reason when nats-server is missing (throws under CI=true), else `undefined`. */
export const natsSkip = requireBinary(NATS_SERVER, 'apt-get install nats-server');

/** A nats-server the test owns. */
export interface TestNats {
  readonly port: number;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  /** Kills the server (SIGKILL) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store directory. */
  start(): Promise<void>;
  /** Kills it and removes its store directory. */
  stop(): Promise<void>;
}

async function portOpen(port: number): Promise<boolean> {
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
 * Starts `nats-server -js` on a free port. The server accepts clients only once JetStream has
 * restored its streams, so an open port means a usable server.
 */
export async function startNats(): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-nats-'));
  const port = await getFreePort();
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir];
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    output = '';
    const c = spawn(NATS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr?.setEncoding('utf8');
    c.stderr?.on('data', (chunk: string) => {
      output = (output + chunk).slice(-4096);
    });
    const exited = once(c, 'exit').then(() => {
      throw new Error(`nats-server exited during startup (port ${port}):\n${output}`);
    });
    exited.catch(() => {});
    for (let i = 0; i < 400; i++) {
      if (await portOpen(port)) return;
      await Promise.race([new Promise((r) => setTimeout(r, 25)), exited]);
    }
    throw new Error(`nats-server did not listen on ${port}:\n${output}`);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const gone = once(c, 'exit');
    c.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP proxy in front of a server, to cut one client's network without touching the others. */
export interface CutProxy {
  /** `nats://127.0.0.1:<proxy port>` */
  readonly url: string;
  /** Drops every proxied connection and refuses new ones until {@link CutProxy.restore}. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  /** How many connections it has accepted (and not refused). */
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts a TCP proxy to `127.0.0.1:<port>` on a free port. */
export async function startCutProxy(port: number): Promise<CutProxy> {
  const open = new Set<Socket>();
  let refusing = false;
  let connections = 0;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    connections++;
    const upstream = connect(port, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        open.delete(a);
        b.destroy();
      });
    }
  });
  const proxyPort = await listen(server);
  return {
    url: `nats://127.0.0.1:${proxyPort}`,
    cut() {
      refusing = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    get connections() {
      return connections;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await closeServer(server);
    },
  };
}
