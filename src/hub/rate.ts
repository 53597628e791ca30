/** Seconds the moving average of {@link RateMeter} covers. */
const WINDOW_SECONDS = 10;

/**
 * Counts occurrences per second over a sliding window of whole seconds, with no timer: buckets
 * are rolled forward lazily when marked or read.
 * @internal
 */
export class RateMeter {
  readonly #buckets = new Float64Array(WINDOW_SECONDS);
  #second: number;
  #total = 0;
  readonly #now: () => number;

  /** @param now - the clock in milliseconds */
  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#second = Math.floor(now() / 1000);
  }

  /** Everything counted so far. */
  get total(): number {
    return this.#total;
  }

  /** Counts `n` occurrences now. */
  mark(n = 1): void {
    this.#roll();
    this.#buckets[this.#second % WINDOW_SECONDS]! += n;
    this.#total += n;
  }

  /** Occurrences per second over the last complete seconds of the window. */
  rate(): number {
    this.#roll();
    let sum = 0;
    const current = this.#second % WINDOW_SECONDS;
    for (let i = 0; i < WINDOW_SECONDS; i++) if (i !== current) sum += this.#buckets[i]!;
    return sum / (WINDOW_SECONDS - 1);
  }

  #roll(): void {
    const second = Math.floor(this.#now() / 1000);
    const elapsed = second - this.#second;
    if (elapsed <= 0) return;
    if (elapsed >= WINDOW_SECONDS) this.#buckets.fill(0);
    else for (let s = 1; s <= elapsed; s++) this.#buckets[(this.#second + s) % WINDOW_SECONDS] = 0;
    this.#second = second;
  }
}
