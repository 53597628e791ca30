// Idle HTTP/2 connections for the attack harness: TCP connections from one local address that
// send the HTTP/2 client preface and an empty SETTINGS frame, then nothing — sessions without a
// single stream. Run in this process (small floods) or in worker processes (chaos/lib/
// idle-flood-worker.ts: each process has its own descriptors, so a flood can be larger than the
// harness's own open-file limit).
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The HTTP/2 connection preface and an empty SETTINGS frame. */
const PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);
const GOAWAY = 7;

/** What a flood saw. */
export interface FloodStats {
  /** Connections attempted. */
  attempted: number;
  /** Connections the hub served (it sent its SETTINGS). */
  accepted: number;
  /** Connections the hub closed without a byte (refused as it accepted them). */
  refused: number;
  /** Connections that failed to connect at all (reset, refused by the kernel). */
  failed: number;
  /** Accepted connections still open. */
  open: number;
  /** The most accepted connections open at once. */
  maxOpen: number;
  /** Accepted connections the hub closed later (GOAWAY and close, or close). */
  closedByHub: number;
  /** Of those, how many got a GOAWAY first. */
  goaways: number;
}

/** Options of a flood. */
export interface FloodOptions {
  /** The hub's base URL (h2c). */
  url: string;
  /** The local address every connection comes from. */
  address: string;
  /** Connections to attempt. */
  count: number;
  /** Connections in flight at once while opening. */
  concurrency?: number;
}

/** Figures of a flood that has not started: every count at zero. */
function noFloodStats(): FloodStats {
  return {
    attempted: 0,
    accepted: 0,
    refused: 0,
    failed: 0,
    open: 0,
    maxOpen: 0,
    closedByHub: 0,
    goaways: 0,
  };
}

/** Idle HTTP/2 connections from one address, opened and held in this process. */
export class IdleFlood {
  readonly stats: FloodStats = noFloodStats();
  readonly #sockets = new Set<Socket>();
  #withdrawn = false;

  /** Opens `count` connections; resolves once each is accepted, refused or failed. */
  async open(options: FloodOptions): Promise<FloodStats> {
    const { hostname, port } = new URL(options.url);
    let next = 0;
    await Promise.all(
      Array.from({ length: options.concurrency ?? 64 }, async () => {
        while (next < options.count) {
          next++;
          await this.#one(hostname, Number(port), options.address);
        }
      }),
    );
    return this.stats;
  }

  #one(host: string, port: number, localAddress: string): Promise<void> {
    const stats = this.stats;
    stats.attempted++;
    return new Promise((resolve) => {
      const socket = connect({ host, port, localAddress });
      this.#sockets.add(socket);
      let connected = false;
      let accepted = false;
      let goaway = false;
      // Frame headers are scanned for GOAWAY; the 9-byte headers may split across chunks.
      let pending = Buffer.alloc(0);
      let skip = 0;
      socket.on('error', () => {});
      socket.on('connect', () => {
        connected = true;
        socket.write(PREFACE);
      });
      socket.on('data', (chunk: Buffer) => {
        if (!accepted) {
          accepted = true;
          stats.accepted++;
          stats.open++;
          stats.maxOpen = Math.max(stats.maxOpen, stats.open);
          resolve();
        }
        let data = Buffer.concat([pending, chunk]);
        while (data.length > 0) {
          if (skip > 0) {
            const n = Math.min(skip, data.length);
            skip -= n;
            data = data.subarray(n);
            continue;
          }
          if (data.length < 9) break;
          const length = data.readUIntBE(0, 3);
          if (data[3] === GOAWAY) goaway = true;
          skip = length;
          data = data.subarray(9);
        }
        pending = Buffer.from(data);
      });
      socket.on('close', () => {
        this.#sockets.delete(socket);
        if (accepted) {
          stats.open--;
          if (!this.#withdrawn) {
            stats.closedByHub++;
            if (goaway) stats.goaways++;
          }
        } else if (connected) {
          stats.refused++;
        } else {
          stats.failed++;
        }
        resolve();
      });
    });
  }

  /** Closes every connection still open. */
  withdraw(): void {
    this.#withdrawn = true;
    for (const socket of this.#sockets) socket.destroy();
  }
}

/** A flood spread over worker processes (one {@link IdleFlood} each). */
export class WorkerFlood {
  readonly #workers: ChildProcess[] = [];
  readonly #latest = new Map<ChildProcess, FloodStats>();

  /**
   * Opens `options.count` connections over `workers` processes; resolves once every worker has
   * opened its share.
   */
  async open(options: FloodOptions, workers: number): Promise<FloodStats> {
    const entry = fileURLToPath(new URL('./idle-flood-worker.ts', import.meta.url));
    const shares = Array.from(
      { length: workers },
      (_, i) => Math.floor(options.count / workers) + (i < options.count % workers ? 1 : 0),
    );
    await Promise.all(
      shares.map(async (count) => {
        const child = fork(entry, [], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        this.#workers.push(child);
        child.on('message', (message: { type: string; stats: FloodStats }) => {
          if (message.type === 'stats') this.#latest.set(child, message.stats);
        });
        const opened = new Promise<void>((resolve) => {
          const onMessage = (message: { type: string }): void => {
            if (message.type !== 'opened') return;
            child.off('message', onMessage);
            resolve();
          };
          child.on('message', onMessage);
        });
        child.send({ type: 'open', options: { ...options, count } });
        await opened;
      }),
    );
    return this.stats();
  }

  /** Asks every worker for its figures; resolves with their sum. */
  async refresh(): Promise<FloodStats> {
    await Promise.all(
      this.#workers.map(async (child) => {
        const got = new Promise<void>((resolve) => {
          const onMessage = (message: { type: string }): void => {
            if (message.type !== 'stats') return;
            child.off('message', onMessage);
            resolve();
          };
          child.on('message', onMessage);
        });
        child.send({ type: 'stats' });
        await got;
      }),
    );
    return this.stats();
  }

  /** The sum of the workers' latest figures (`maxOpen` summed: an upper bound). */
  stats(): FloodStats {
    const sum = noFloodStats();
    for (const s of this.#latest.values()) {
      for (const key of Object.keys(sum) as (keyof FloodStats)[]) sum[key] += s[key];
    }
    return sum;
  }

  /** Closes every connection and ends the workers. */
  async withdraw(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (child) => {
        if (child.exitCode !== null) return;
        const exited = once(child, 'exit');
        child.send({ type: 'withdraw' });
        await exited;
      }),
    );
  }
}
