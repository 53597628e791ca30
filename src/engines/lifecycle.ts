/**
 * What the networked engines (Redis, NATS) share about their life: checking numeric options,
 * the pause between reconnection attempts, and the state of one engine — started, closed, and
 * the calls in flight that closing (or a lost connection) must end at once.
 *
 * @packageDocumentation
 */

import { HeraldEngineError } from './engine.js';

/**
 * Checks an integer option: `fallback` when it is `undefined`, else a safe integer ≥ `min`.
 *
 * @param engine - the factory's name, for the message (`redisEngine`)
 * @param name - the option's name, for the message
 * @param value - what was given
 * @param fallback - the default
 * @param min - the least value accepted
 * @throws {@link HeraldEngineError} `INVALID_OPTIONS`
 */
export function integerOption(
  engine: string,
  name: string,
  value: number | undefined,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new HeraldEngineError(
      'INVALID_OPTIONS',
      `${engine}: ${name} must be an integer ≥ ${min} (got ${String(value)})`,
    );
  }
  return value;
}

/**
 * Checks a byte bound: `fallback` when it is `undefined` or `Infinity` (no bound), else an
 * integer ≥ 1.
 *
 * @throws {@link HeraldEngineError} `INVALID_OPTIONS`
 */
export function byteBoundOption(
  engine: string,
  name: string,
  value: number | undefined,
  fallback: number,
): number {
  return value === undefined || value === Number.POSITIVE_INFINITY
    ? fallback
    : integerOption(engine, name, value, 0, 1);
}

/**
 * The pause before reconnection attempt `attempt` (0 first): 50 ms, doubling, at most
 * `maxMs`.
 */
export function backoffDelay(attempt: number, maxMs: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), maxMs);
}

/** Resolves after `ms` milliseconds; the timer does not keep the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Ends one call in flight with the error given. */
export type Interrupt = (error: HeraldEngineError) => void;

/**
 * The life of one engine: started once its live reader knows where to start, closed for good
 * by `close()`, and the calls in flight meanwhile, which closing ends with `CLOSED` (and a lost
 * connection, with what the engine says).
 */
export class EngineLifecycle {
  readonly #engine: string;
  #started = false;
  #closed = false;
  /**
   * Whom to tell when the engine closes or the connection drops. A set rather than a race
   * against one engine-lifetime promise, which would keep a reaction per call alive until that
   * promise settles (a leak of a few hundred bytes per call).
   */
  readonly #inFlight = new Set<Interrupt>();

  /** @param engine - the engine's name in messages (`redis`, `nats`) */
  constructor(engine: string) {
    this.#engine = engine;
  }

  /** Whether the engine has started (its live reader knows where to start). */
  get started(): boolean {
    return this.#started;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Records that the engine has started. */
  markStarted(): void {
    this.#started = true;
  }

  /**
   * Marks the engine closed. The engine then drops its listeners and ends the calls in flight
   * with `interrupt(closedError())`.
   *
   * @returns `false` when it was closed already (nothing to do)
   */
  close(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    return true;
  }

  /** The error of every call once closed. */
  closedError(): HeraldEngineError {
    return new HeraldEngineError(
      'CLOSED',
      `the ${this.#engine} engine is closed; create a new one`,
    );
  }

  /** @throws {@link HeraldEngineError} `CLOSED` once closed */
  assertOpen(): void {
    if (this.#closed) throw this.closedError();
  }

  /**
   * Counts `interrupt` among the calls in flight until the returned function is called.
   */
  track(interrupt: Interrupt): () => void {
    this.#inFlight.add(interrupt);
    return () => {
      this.#inFlight.delete(interrupt);
    };
  }

  /** Ends every call in flight with `error` (and forgets them). */
  interrupt(error: HeraldEngineError): void {
    const all = [...this.#inFlight];
    this.#inFlight.clear();
    for (const f of all) f(error);
  }

  /**
   * Awaits `promise` as a call in flight: rejects at once with the interrupting error when the
   * engine closes or `interrupt` is called, with `CLOSED` when it settles after the engine
   * closed, and with `translate(error)` when it fails.
   */
  guard<T>(promise: Promise<T>, translate: (error: unknown) => HeraldEngineError): Promise<T> {
    promise.catch(() => {});
    return new Promise<T>((resolve, reject) => {
      const interrupt: Interrupt = (error) => reject(error);
      this.#inFlight.add(interrupt);
      promise.then(
        (value) => {
          this.#inFlight.delete(interrupt);
          if (this.#closed) reject(this.closedError());
          else resolve(value);
        },
        (error: unknown) => {
          this.#inFlight.delete(interrupt);
          reject(translate(error));
        },
      );
    });
  }

  /** Waits `ms`, or less when the engine closes or the calls in flight are interrupted. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#inFlight.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      if (this.#closed) done();
      else this.#inFlight.add(done);
    });
  }
}
