/** What the scenarios need from a peer (a server under test), whatever it is. */
import type { PublishTarget } from '../generator/publisher.js';

/** A request path and headers a subscriber sends. */
export interface SubscribeRequest {
  /** Path with query, e.g. `/sub`. */
  path: string;
  /** Request headers, e.g. `Last-Event-ID`. */
  headers: Record<string, string>;
}

/** A running peer. */
export interface PeerInstance {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** The processes whose CPU counts as the server's (nginx: master and worker). */
  pids(): number[];
  /** The process whose resident memory is the server's (nginx: the worker). */
  readonly memoryPid: number;
  /** How a subscriber joins topic `/bench`, live only. */
  readonly subscribe: SubscribeRequest;
  /** How a subscriber joins and first gets every event the server still holds. */
  readonly replay: SubscribeRequest;
  /** How to publish an event to `/bench`. */
  readonly publish: PublishTarget;
  /** Ends the server and its processes. */
  stop(): Promise<void>;
}

/** Options of {@link PeerDefinition.start}. */
export interface StartOptions {
  /** Extra Node.js flags for peers that are Node processes (ignored by nginx). */
  nodeArgs?: readonly string[];
}

/** A kind of peer the bench can run. */
export interface PeerDefinition {
  /** Short name used in tables, JSON and `--peers`. */
  readonly name: string;
  /** One line for the report: what runs and how. */
  readonly description: string;
  /** Whether this is Herald (the numerator of every ratio). */
  readonly herald: boolean;
  /** Undefined when it can run here, else why not (with the fix). */
  check(): Promise<string | undefined>;
  /** Starts a fresh server; `nodeArgs` go to Node peers' command line (e.g. `--cpu-prof`). */
  start(options?: StartOptions): Promise<PeerInstance>;
}
