// A hub for the chaos, soak and fuzz harnesses to run against: either its own process (what
// `npm run chaos` / `npm run soak` use, so the harness's own work does not count against the
// hub's memory and event loop) or in this process (the short variants inside `npm test`).
// Both are `herald serve` flags through the real `loadConfig` and `startServer`.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type HeraldServer, startServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { type ProcessSample, sampleSelf } from './sample.js';

/** A running hub the harness talks to over HTTP. */
export interface HubHandle {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The hub's process id (this process for an in-process hub). */
  readonly pid: number;
  /** Whether the hub runs in its own process (its samples are then its alone). */
  readonly separate: boolean;
  /** Measures the hub's process; `gc` collects garbage first (heap figures = live objects). */
  sample(gc?: boolean): Promise<ProcessSample>;
  /** The `/metrics` samples, keyed as written (`herald_connections`, `name{label="x"}`). */
  metrics(): Promise<Map<string, number>>;
  /** Graceful shutdown; the process (if any) exits. */
  close(): Promise<void>;
}

/** Flags every harness hub gets first: loopback, a free port. Later flags override. */
const BASE_FLAGS = ['--addr', '127.0.0.1:0', '--log-level', 'silent'];

/** Parses Prometheus text exposition into name{labels} → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

async function fetchMetrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  return parseMetrics(await res.text());
}

/**
 * Starts the hub in a child process (`node --import tsx --expose-gc`), with `herald serve`
 * `flags` after the harness defaults. Resolves once it listens.
 */
export async function spawnHub(flags: readonly string[]): Promise<HubHandle> {
  const entry = fileURLToPath(new URL('./hub-process.ts', import.meta.url));
  const child: ChildProcess = fork(entry, [...BASE_FLAGS, ...flags], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<
    number,
    { resolve: (sample: ProcessSample) => void; reject: (error: Error) => void }
  >();
  let nextId = 0;
  const ready = new Promise<{ url: string; pid: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the hub process exited with ${code}`)));
    child.on('message', (message: { type: string; [key: string]: unknown }) => {
      if (message.type === 'ready') resolve(message as unknown as { url: string; pid: number });
      if (message.type === 'sample') {
        const id = message.id as number;
        pending.get(id)?.resolve(message.sample as ProcessSample);
        pending.delete(id);
      }
    });
  });
  const { url } = await ready;
  const exited = once(child, 'exit');
  let closing = false;
  let gone: string | undefined;
  child.on('error', () => {});
  child.once('exit', (code, signal) => {
    gone = `the hub process exited (code ${code}, signal ${signal})`;
    if (!closing) process.stderr.write(`chaos: ${gone} before the harness closed it\n`);
    for (const [id, waiter] of pending) {
      pending.delete(id);
      waiter.reject(new Error(gone));
    }
  });
  return {
    url,
    pid: child.pid ?? -1,
    separate: true,
    sample(gc = false) {
      if (gone !== undefined) return Promise.reject(new Error(gone));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ type: 'sample', id, gc }, (error) => {
          if (error !== null) {
            pending.delete(id);
            reject(error);
          }
        });
      });
    },
    metrics: () => fetchMetrics(url),
    async close() {
      closing = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Starts the hub in this process (for tests): same flags, same server. `server` is exposed for
 * tests that want the hub object itself.
 */
export async function startLocalHub(
  flags: readonly string[],
): Promise<HubHandle & { server: HeraldServer }> {
  const { config } = loadConfig({ argv: [...BASE_FLAGS, ...flags], env: {} });
  const server = await startServer(config);
  return {
    url: server.url,
    pid: process.pid,
    separate: false,
    server,
    sample: async (gc = false) => sampleSelf(gc),
    metrics: () => fetchMetrics(server.url),
    close: () => server.close(1000),
  };
}
