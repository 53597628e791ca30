/**
 * Bytes that a group of event streams may hold together while their clients are behind — in
 * `herald serve`, every stream of one client address (`--queue-bytes-per-ip`).
 *
 * Each stream's own queue is bounded by `queueBytes`; a budget bounds their sum. A stream
 * charges it with what it holds while its transport asks to wait (its queue and the transport's
 * write buffer) and gives it back as it drains or closes. A write that would take the group
 * past the limit is an overflow of the stream it was for: under the `'close'` policy that
 * stream closes with reason `'budget'` (its client resumes with `Last-Event-ID`), under
 * `'drop-oldest'` the event is dropped. A hub replay waits for the budget before it reads and
 * writes history, instead.
 *
 * What a stream holds while it keeps up (a write the transport took without asking to wait,
 * at most its high-water mark) is not charged.
 */
export class ByteBudget {
  /** The bound, in bytes. */
  readonly limit: number;
  #used = 0;
  #waiters: Array<() => void> | undefined;

  /** @param limit - the bound, in bytes (a positive integer) */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new RangeError(`a byte budget's limit must be a positive integer (got ${limit})`);
    }
    this.limit = limit;
  }

  /** Bytes charged now, by every stream of the group. */
  get used(): number {
    return this.#used;
  }

  /** Bytes left before the limit (`0` when it is reached or passed). */
  get available(): number {
    return Math.max(0, this.limit - this.#used);
  }

  /** Whether `bytes` more stay within the limit. */
  fits(bytes: number): boolean {
    return this.#used + bytes <= this.limit;
  }

  /**
   * Changes the charge by `delta` bytes (negative: given back). Giving back below the limit
   * wakes whoever waits in {@link ByteBudget.released}.
   * @internal (the streams)
   */
  charge(delta: number): void {
    this.#used += delta;
    if (delta < 0 && this.#used < this.limit) this.wake();
  }

  /**
   * Resolves the next time bytes are given back (or a stream of the group closes).
   * @internal (the hub's replays)
   */
  released(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters ??= [];
      this.#waiters.push(resolve);
    });
  }

  /** Settles every {@link ByteBudget.released} promise. @internal (the streams) */
  wake(): void {
    const waiters = this.#waiters;
    if (waiters === undefined) return;
    this.#waiters = undefined;
    for (const resolve of waiters) resolve();
  }
}
