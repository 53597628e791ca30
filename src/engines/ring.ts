/**
 * A growable ring buffer (FIFO with indexed access), the storage of the memory engine's
 * retention classes and of the NATS engine's per-class index: O(1) push at the back, shift at
 * the front and access by index; capacity doubles when full (a power of two, so an index is a
 * mask away).
 *
 * @packageDocumentation
 */

/** A FIFO with O(1) push, shift and indexed access. */
export class Ring<T> {
  #buf: (T | undefined)[] = new Array(16);
  #mask = 15;
  #head = 0;
  #count = 0;

  /** How many items it holds. */
  get length(): number {
    return this.#count;
  }

  /** The item at `i` (0 = oldest); `i` must be in `[0, length)`. */
  at(i: number): T {
    return this.#buf[(this.#head + i) & this.#mask]!;
  }

  /** The oldest item, if any. */
  first(): T | undefined {
    return this.#count === 0 ? undefined : this.#buf[this.#head];
  }

  /** The newest item, if any. */
  last(): T | undefined {
    return this.#count === 0 ? undefined : this.at(this.#count - 1);
  }

  /** Adds `item` at the back. */
  push(item: T): void {
    if (this.#count === this.#buf.length) {
      // Grow ×2, unrolling the ring so the oldest item lands at index 0.
      const grown: (T | undefined)[] = new Array(this.#buf.length * 2);
      for (let i = 0; i < this.#count; i++) grown[i] = this.at(i);
      this.#buf = grown;
      this.#mask = grown.length - 1;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#count) & this.#mask] = item;
    this.#count++;
  }

  /** Removes and returns the oldest item; the ring must not be empty. */
  shift(): T {
    const item = this.#buf[this.#head]!;
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#count--;
    return item;
  }

  /**
   * The index of the first item for which `before` is false, given that `before` holds for a
   * prefix of the ring and not after it (binary search); `length` when it holds for all.
   */
  partition(before: (item: T) => boolean): number {
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.at(mid))) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drops every item. */
  clear(): void {
    this.#buf = new Array(16);
    this.#mask = 15;
    this.#head = 0;
    this.#count = 0;
  }
}
