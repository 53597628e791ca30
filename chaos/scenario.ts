// What a chaos scenario is, for `chaos/run.ts` and for the short variants inside `npm test`.
// Scenarios are plain objects in a list (`chaos/scenarios/index.ts`): a new one (multi-node,
// engine restarts) is a new file and one more entry.
import type { HubHandle } from './lib/hub.js';

/** How big a run is: `full` for `npm run chaos`, `quick` for `--quick`, `test` for `npm test`. */
export type Size = 'full' | 'quick' | 'test';

/** What a scenario gets from the runner. */
export interface ScenarioContext {
  /** How big to make the run. */
  size: Size;
  /** The seed of every random choice; printed so a run can be replayed. */
  seed: number;
  /** Starts a hub with `herald serve` flags (its own process under `npm run chaos`). */
  startHub(flags: readonly string[]): Promise<HubHandle>;
  /** Progress lines (stderr under the runner; silent in tests). */
  log(line: string): void;
}

/** One pass/fail criterion and the figure behind it. */
export interface Check {
  /** What is checked, e.g. `healthy p99 ≤ 2 × baseline p99`. */
  name: string;
  ok: boolean;
  /** The figures, e.g. `12.1 ms vs 2 × 8.3 ms`. */
  detail: string;
}

/** What a scenario found. */
export interface ScenarioResult {
  /** The criteria; the scenario passes when all hold. */
  checks: Check[];
  /** The report: tables and figures, ready to print. */
  report: string;
  /** Headline figures, for docs/reliability.md and for tests. */
  figures: Record<string, number | string>;
}

/** A chaos scenario. */
export interface Scenario {
  /** Short name used by `--scenario`, e.g. `drops`. */
  name: string;
  /** One line saying what it does. */
  summary: string;
  /**
   * Binaries it needs (e.g. `redis-server`); the runner skips the scenario with a reason when
   * one is missing, and fails under CI=true.
   */
  needs?: readonly string[];
  /** Runs it against hubs it starts through `ctx.startHub`, and stops them before returning. */
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** A check from a condition. */
export function check(name: string, ok: boolean, detail: string): Check {
  return { name, ok, detail };
}
