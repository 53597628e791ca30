// A real redis-server for integration tests: spawned on a free port in a temp dir, stopped
// (SIGKILL, like a crash) and restarted on the same port.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './binary.js';
import { getFreePort } from './net.js';

/** Skip reason when redis-server is missing (throws under CI=true), else `undefined`. */
export const redisSkip = requireBinary('redis-server', 'apt-get install redis-server');

/** A redis-server the test owns. */
export interface TestRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Kills the server (SIGKILL) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (data survives only with `persist`). */
  start(): Promise<void>;
  /** Kills it and removes its directory. */
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
 * Starts redis-server on a free port. With `persist`, it writes an append-only file synced on
 * every write, so a restart keeps the stream.
 */
export async function startRedis(options: { persist?: boolean } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-redis-'));
  const port = await getFreePort();
  let child: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    ...(options.persist === true
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
  ];
  const start = async (): Promise<void> => {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child = c;
    const exited = once(c, 'exit').then(() => {
      throw new Error(`redis-server exited during startup (port ${port})`);
    });
    exited.catch(() => {});
    for (let i = 0; i < 200; i++) {
      if (await portOpen(port)) return;
      await Promise.race([new Promise((r) => setTimeout(r, 25)), exited]);
    }
    throw new Error(`redis-server did not listen on ${port}`);
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
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
