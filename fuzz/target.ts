// What a fuzz target is, and how one is run: a fast-check property (with whatever servers it
// needs) that `npm run fuzz` runs long and `npm test` runs short.
import fc from 'fast-check';

/** A property and the resources behind it. */
export interface FuzzSession {
  /** The property; async ones may use real sockets. */
  property: fc.IRawProperty<unknown>;
  /** Counts worth reporting (statuses seen, events compared…). */
  stats(): Record<string, number>;
  /** Stops the servers and clients the property used. */
  teardown(): Promise<void>;
}

/** One fuzz target. */
export interface FuzzTarget {
  /** Short name for `--target`, e.g. `parser`. */
  name: string;
  /** What is fuzzed and what must hold. */
  summary: string;
  /** Relative cost of one run (1 = a pure function, 100 = several HTTP requests). */
  cost: number;
  /** Starts what the property needs. */
  setup(): Promise<FuzzSession>;
}

/** How long and with what seed to run a target. */
export interface FuzzRunOptions {
  numRuns: number;
  seed?: number;
  /** Stop after this long (the runs done so far count; not a failure). */
  timeLimitMs?: number;
}

/** The result of running a target. */
export interface FuzzOutcome {
  name: string;
  runs: number;
  seed: number;
  ms: number;
  stats: Record<string, number>;
  /** fast-check's report when the property failed (with the seed and path to replay it). */
  failure: string | undefined;
}

/** Runs a target's property; never throws for a property failure (see `failure`). */
export async function runTarget(target: FuzzTarget, options: FuzzRunOptions): Promise<FuzzOutcome> {
  const session = await target.setup();
  const started = performance.now();
  try {
    const params: fc.Parameters<unknown> = {
      numRuns: options.numRuns,
      ...(options.seed !== undefined && { seed: options.seed }),
      ...(options.timeLimitMs !== undefined && {
        interruptAfterTimeLimit: options.timeLimitMs,
        markInterruptAsFailure: false,
      }),
    };
    const details = await fc.check(session.property, params);
    return {
      name: target.name,
      runs: details.numRuns,
      seed: details.seed,
      ms: performance.now() - started,
      stats: session.stats(),
      failure: details.failed
        ? `${fc.defaultReportMessage(details) ?? 'failed'}\n${
            details.errorInstance instanceof Error
              ? details.errorInstance.message
              : String(details.errorInstance ?? '')
          }`
        : undefined,
    };
  } finally {
    await session.teardown();
  }
}
