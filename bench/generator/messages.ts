/**
 * Messages between the orchestrator (`pool.ts`) and the generator workers (`worker.ts`), over
 * the child-process IPC channel. Every request carries a `seq` that its answer repeats.
 */

/** Where and how a worker connects its SSE subscribers. */
export interface ConnectSpec {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Request path with query, e.g. `/.well-known/mercure?topic=%2Fbench`. */
  path: string;
  /** Extra request headers (e.g. `Last-Event-ID`). */
  headers: Record<string, string>;
  /** Loopback source addresses to spread the connections over (127.0.0.1, 127.0.0.2, …). */
  localAddresses: string[];
  /** Connections this worker opens. */
  count: number;
  /** Connection attempts in flight at once. */
  concurrency: number;
  /** Read stamps and record latency on every `sampleEvery`-th connection; 0 = none. */
  sampleEvery: number;
  /**
   * Storm mode: a connection is complete once it has this many events; its connect-to-complete
   * time is recorded. 0 = not a storm (a connection is ready when its headers arrive).
   */
  completeAt: number;
  /** A connection not ready after this many ms counts as failed. */
  timeoutMs: number;
}

/** Orchestrator → worker. */
export type Request =
  | { type: 'connect'; seq: number; spec: ConnectSpec }
  | { type: 'counts'; seq: number }
  | { type: 'reset'; seq: number }
  | { type: 'collect'; seq: number }
  | { type: 'close'; seq: number }
  | { type: 'exit'; seq: number };

/** What a worker counted since the last reset. */
export interface Counts {
  /** Open connections. */
  open: number;
  /** Open connections that have received at least one event (not zeroed by `reset`). */
  primed: number;
  /** Events received. */
  events: number;
  /** Body bytes received. */
  bytes: number;
  /** `nowMicros()` when the last event arrived (0 before any). */
  lastEventMicros: number;
  /** Connections that failed to open (error or non-200 status). */
  failed: number;
  /** Connections that ended while they should have stayed open. */
  dropped: number;
  /** The first failure's message, for the report. */
  firstError: string | undefined;
}

/** Result of a `connect` request. */
export interface ConnectResult {
  /** Connections opened (storm: completed). */
  opened: number;
  /** `nowMicros()` when the first attempt started and when the last one finished. */
  startMicros: number;
  endMicros: number;
}

/** Histograms (hdr-histogram-js compressed base64), µs. */
export interface Collected {
  /** Publish → receive latency of sampled events. */
  latency: string;
  /** Storm: request → last replayed event, per connection. */
  connect: string;
}

/** Worker → orchestrator. */
export type Reply =
  | { type: 'ready' }
  | { type: 'connected'; seq: number; result: ConnectResult; counts: Counts }
  | { type: 'counts'; seq: number; counts: Counts }
  | { type: 'done'; seq: number }
  | { type: 'collected'; seq: number; collected: Collected }
  | { type: 'error'; seq: number; message: string };
