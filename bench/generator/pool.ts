/**
 * The orchestrator's side of the load generator: forks the worker processes, spreads
 * connections over them and over loopback source addresses, sums their counts and merges their
 * histograms.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Histogram } from 'hdr-histogram-js';
import { mergeHistograms } from './histogram.js';
import type { ConnectResult, ConnectSpec, Counts, Reply, Request } from './messages.js';

/** Most connections one worker holds (the open-file limit is 20 000 per process). */
export const MAX_PER_WORKER = 5000;

/** A request without its sequence number (distributes over the union). */
type Unsequenced<T> = T extends unknown ? Omit<T, 'seq'> : never;

type Pending = { resolve: (reply: Reply) => void; reject: (error: Error) => void };

class Worker {
  readonly child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #exited = false;

  constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (reply: Reply) => {
      if (!('seq' in reply)) return;
      const pending = this.#pending.get(reply.seq);
      if (pending === undefined) return;
      this.#pending.delete(reply.seq);
      if (reply.type === 'error') pending.reject(new Error(`generator worker: ${reply.message}`));
      else pending.resolve(reply);
    });
    child.on('exit', (code) => {
      this.#exited = true;
      for (const pending of this.#pending.values()) {
        pending.reject(new Error(`generator worker ${child.pid} exited with ${code}`));
      }
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  ask<T extends Reply['type']>(
    request: Unsequenced<Request>,
    expect: T,
  ): Promise<Extract<Reply, { type: T }>> {
    if (this.#exited) return Promise.reject(new Error('generator worker has exited'));
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, {
        resolve: (reply) => {
          if (reply.type === expect) resolve(reply as Extract<Reply, { type: T }>);
          else reject(new Error(`generator worker answered ${reply.type}, expected ${expect}`));
        },
        reject,
      });
      this.child.send({ ...request, seq } as Request);
    });
  }
}

/** What a {@link WorkerPool.connect} did, over all workers. */
export interface PoolConnectResult {
  /** Connections ready (storm: completed). */
  opened: number;
  /** Seconds from the first attempt to the last finish, on the shared clock. */
  seconds: number;
  /** Counts right after connecting. */
  counts: Counts;
}

/** Generator worker processes, kept for the whole run. */
export class WorkerPool {
  readonly #workers: Worker[];
  /** Workers used by the current scenario (the first `n`). */
  #active: Worker[] = [];
  readonly localAddresses: string[];

  private constructor(workers: Worker[], localAddresses: string[]) {
    this.#workers = workers;
    this.localAddresses = localAddresses;
  }

  /**
   * Forks `size` workers.
   * @param script - the compiled `worker.ts` (see `build.ts`)
   * @param localAddresses - loopback source addresses, e.g. 127.0.0.1 … 127.0.0.4
   */
  static async start(size: number, script: string, localAddresses: string[]): Promise<WorkerPool> {
    const workers = await Promise.all(
      Array.from({ length: size }, async () => {
        const child = fork(script, [], {
          execArgv: [],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        await new Promise<void>((resolve, reject) => {
          const onMessage = (reply: Reply): void => {
            if (reply.type !== 'ready') return;
            child.off('message', onMessage);
            child.off('exit', onExit);
            resolve();
          };
          const onExit = (code: number | null): void =>
            reject(new Error(`generator worker exited with ${code} before it was ready`));
          child.on('message', onMessage);
          child.once('exit', onExit);
        });
        return new Worker(child);
      }),
    );
    return new WorkerPool(workers, localAddresses);
  }

  /** Pids of every worker, for CPU accounting. */
  get pids(): number[] {
    return this.#workers.map((w) => w.pid);
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Opens `total` connections spread over as many workers as needed (at least two when there
   * are two, so both generator cores' worth of processes share the reading).
   */
  async connect(
    spec: Omit<ConnectSpec, 'count' | 'localAddresses'>,
    total: number,
  ): Promise<PoolConnectResult> {
    const wanted = Math.max(Math.min(2, this.#workers.length), Math.ceil(total / MAX_PER_WORKER));
    if (wanted > this.#workers.length) {
      throw new Error(
        `${total} connections need ${wanted} generator workers (at most ${MAX_PER_WORKER} each), the pool has ${this.#workers.length}; raise --workers`,
      );
    }
    const active = this.#workers.slice(0, wanted);
    for (const w of active) if (!this.#active.includes(w)) this.#active.push(w);
    const shares = active.map((_, i) => Math.floor(total / wanted) + (i < total % wanted ? 1 : 0));
    const replies = await Promise.all(
      active.map((w, i) =>
        w.ask(
          {
            type: 'connect',
            spec: {
              ...spec,
              count: shares[i] ?? 0,
              concurrency: Math.max(1, Math.ceil(spec.concurrency / wanted)),
              // Each worker starts at a different source address.
              localAddresses: rotate(this.localAddresses, i),
            },
          },
          'connected',
        ),
      ),
    );
    const results: ConnectResult[] = replies.map((r) => r.result);
    const start = Math.min(...results.map((r) => r.startMicros));
    const end = Math.max(...results.map((r) => r.endMicros));
    return {
      opened: results.reduce((sum, r) => sum + r.opened, 0),
      seconds: (end - start) / 1e6,
      counts: sumCounts(replies.map((r) => r.counts)),
    };
  }

  /** Counts summed over the active workers. */
  async counts(): Promise<Counts> {
    const replies = await Promise.all(this.#active.map((w) => w.ask({ type: 'counts' }, 'counts')));
    return sumCounts(replies.map((r) => r.counts));
  }

  /** Zeroes counts and histograms (open connections stay). */
  async reset(): Promise<void> {
    await Promise.all(this.#active.map((w) => w.ask({ type: 'reset' }, 'done')));
  }

  /** The merged latency and connect histograms (µs). */
  async collect(): Promise<{ latency: Histogram; connect: Histogram }> {
    const replies = await Promise.all(
      this.#active.map((w) => w.ask({ type: 'collect' }, 'collected')),
    );
    return {
      latency: mergeHistograms(replies.map((r) => r.collected.latency)),
      connect: mergeHistograms(replies.map((r) => r.collected.connect)),
    };
  }

  /** Closes every connection and zeroes the counts. */
  async closeAll(): Promise<void> {
    await Promise.all(this.#active.map((w) => w.ask({ type: 'close' }, 'done')));
    await Promise.all(this.#active.map((w) => w.ask({ type: 'reset' }, 'done')));
    this.#active = [];
  }

  /** Ends every worker. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (w) => {
        const exited = new Promise((resolve) => w.child.once('exit', resolve));
        await w.ask({ type: 'exit' }, 'done').catch(() => undefined);
        const timer = setTimeout(() => w.child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /**
   * Polls the counts until `done(counts)` holds, or nothing changed for `quietMs`, or `maxMs`
   * passed. Returns the last counts and when the last change was seen (`performance.now()`).
   */
  async waitFor(
    done: (counts: Counts) => boolean,
    options: { quietMs: number; maxMs: number; intervalMs?: number },
  ): Promise<{ counts: Counts; lastChange: number; done: boolean }> {
    const started = performance.now();
    let last = await this.counts();
    let lastChange = performance.now();
    for (;;) {
      if (done(last)) return { counts: last, lastChange, done: true };
      const now = performance.now();
      if (now - lastChange > options.quietMs || now - started > options.maxMs) {
        return { counts: last, lastChange, done: false };
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
      const next = await this.counts();
      if (next.events !== last.events || next.open !== last.open) lastChange = performance.now();
      last = next;
    }
  }
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  return items.map((_, i) => items[(i + by) % n]!);
}

function sumCounts(all: readonly Counts[]): Counts {
  const sum: Counts = {
    open: 0,
    primed: 0,
    events: 0,
    bytes: 0,
    lastEventMicros: 0,
    failed: 0,
    dropped: 0,
    firstError: undefined,
  };
  for (const c of all) {
    sum.open += c.open;
    sum.primed += c.primed;
    sum.events += c.events;
    sum.bytes += c.bytes;
    sum.lastEventMicros = Math.max(sum.lastEventMicros, c.lastEventMicros);
    sum.failed += c.failed;
    sum.dropped += c.dropped;
    sum.firstError ??= c.firstError;
  }
  return sum;
}
