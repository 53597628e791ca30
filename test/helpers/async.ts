/** A promise with its resolve / reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Rejects with a message naming `what` if `promise` has not settled after `ms`. Only a safety
 * net so a broken test fails instead of hanging: tests wait on events, never on time.
 */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A growing list (received events, chunks, …) that a test can wait on: `until(predicate)`
 * resolves as soon as the predicate holds, checked on every push.
 */
export class Collector<T> {
  readonly items: T[] = [];
  #waiters: Array<{ check: (items: T[]) => boolean; resolve: (items: T[]) => void }> = [];

  push(item: T): void {
    this.items.push(item);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.check(this.items)) return true;
      waiter.resolve(this.items);
      return false;
    });
  }

  /** Resolves with the items once `check` holds (at once if it already does). */
  until(check: (items: T[]) => boolean, what: string, ms?: number): Promise<T[]> {
    if (check(this.items)) return Promise.resolve(this.items);
    const wait = deferred<T[]>();
    this.#waiters.push({ check, resolve: wait.resolve });
    return withTimeout(wait.promise, `${what} (have ${this.items.length})`, ms);
  }

  /** Resolves once at least `count` items arrived. */
  count(count: number, what = `${count} items`, ms?: number): Promise<T[]> {
    return this.until((items) => items.length >= count, what, ms);
  }
}

/**
 * Resolves once `condition()` holds, checking every few milliseconds, for state that has no
 * event of its own (a stream's queue emptying). Rejects after the safety-net timeout.
 */
export function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  let stopped = false;
  const polled = new Promise<void>((resolve) => {
    const check = (): void => {
      if (stopped) return;
      if (condition()) resolve();
      else setTimeout(check, 2);
    };
    check();
  });
  return withTimeout(polled, what, ms).finally(() => {
    stopped = true;
  });
}
