/**
 * The scenarios of the benchmark issue and their sizes: the full run, and `--quick` for a
 * developer's loop (under two minutes with every peer).
 */
import { fanout } from './fanout.js';
import { idle } from './idle.js';
import { latency } from './latency.js';
import { storm } from './storm.js';
import type { Scenario, ScenarioCase, ScenarioId } from './types.js';

/** Each scenario's code, name and what its headline figure is. */
export const SCENARIOS: Record<
  ScenarioId,
  { run: Scenario; name: string; title: (c: ScenarioCase) => string }
> = {
  S1: {
    run: fanout,
    name: 'fan-out',
    title: (c) =>
      `S1 fan-out: ${c.connections} subscribers, one topic, ${c.eventBytes}-byte events, ${c.inflight} publishes in flight for ${c.seconds} s`,
  },
  S2: {
    run: latency,
    name: 'latency',
    title: (c) =>
      `S2 latency: ${c.connections} subscribers, ${c.rate} publishes/s for ${c.seconds} s, publish → receive`,
  },
  S3: {
    run: idle,
    name: 'idle',
    title: (c) => `S3 idle: ${c.connections} idle subscribers, server RSS per connection`,
  },
  S4: {
    run: storm,
    name: 'connect storm',
    title: (c) =>
      `S4 connect storm: ${c.connections} new subscribers, each replays ${c.replay} history events`,
  },
};

/** Knobs the command line may change. */
export interface PlanOptions {
  quick: boolean;
  /** Only these scenarios. */
  scenarios: readonly ScenarioId[];
  /** Override every case's connection count. */
  connections: number | undefined;
  /** Override every case's publishing seconds. */
  seconds: number | undefined;
  eventBytes: number;
  inflight: number;
  rate: number;
  /** The most connections one server process can hold here (open-file limit − margin). */
  maxConnections: number;
}

/** The cases to run, in order. */
export function plan(options: PlanOptions): ScenarioCase[] {
  const { quick } = options;
  const sizes: Record<ScenarioId, number[]> = quick
    ? { S1: [500], S2: [500], S3: [2000], S4: [1000] }
    : { S1: [2000, 5000], S2: [2000, 5000], S3: [2000, options.maxConnections], S4: [5000] };
  const seconds = options.seconds ?? (quick ? 2 : 10);
  const cases: ScenarioCase[] = [];
  for (const id of options.scenarios) {
    const counts = options.connections !== undefined ? [options.connections] : sizes[id];
    for (const connections of counts) {
      cases.push({
        id,
        name: SCENARIOS[id].name,
        connections: Math.min(connections, options.maxConnections),
        seconds,
        eventBytes: options.eventBytes,
        inflight: options.inflight,
        rate: options.rate,
        replay: 10,
      });
    }
  }
  return cases;
}
