/** What every scenario gets and gives. */
import type { WorkerPool } from '../generator/pool.js';
import type { PeerInstance } from '../peers/types.js';

/** Scenario ids, as in the benchmark issue. */
export type ScenarioId = 'S1' | 'S2' | 'S3' | 'S4';

/** One run of one scenario at one size (the same for every peer). */
export interface ScenarioCase {
  id: ScenarioId;
  /** Short name, e.g. `fan-out`. */
  name: string;
  /** Connections (subscribers) of this case. */
  connections: number;
  /** Seconds of publishing (S1, S2). */
  seconds: number;
  /** Bytes of each event's data. */
  eventBytes: number;
  /** Publish requests in flight (S1) or publishes per second (S2). */
  inflight: number;
  rate: number;
  /** History events each storm connection replays (S4). */
  replay: number;
}

/** What a scenario measured on one peer; every figure a plain number for JSON and tables. */
export type Metrics = Record<string, number>;

/** Everything a scenario needs. */
export interface ScenarioContext {
  pool: WorkerPool;
  peer: PeerInstance;
  /** Progress lines for the console. */
  log(message: string): void;
}

/** A scenario: runs one case against one freshly started peer. */
export type Scenario = (ctx: ScenarioContext, c: ScenarioCase) => Promise<Metrics>;
