/**
 * A bound on the bytes of replies asked for at once: each read takes its byte budget before it
 * is sent and gives it back once its reply is in, so that concurrent reads (every replay of a
 * node) never have more than the bound of replies on their way, in the server's output buffer
 * and in this process.
 *
 * @packageDocumentation
 */

import { HeraldEngineError } from './engine.js';

/**
 * Bytes in flight, granted in order of asking. A read that asks for more than the whole bound
 * is given all of it: it waits until nothing else is in flight, then runs alone.
 */
export class BytesInFlight {
  /** The bound, in bytes. */
  readonly limit: number;
  #used = 0;
  readonly #waiters: { bytes: number; grant: () => void }[] = [];

  /** @param limit - most bytes in flight at once (an integer ≥ 1) */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new HeraldEngineError(
        'INVALID_OPTIONS',
        `bytes in flight must be an integer ≥ 1 (got ${String(limit)})`,
      );
    }
    this.limit = limit;
  }

  /** Bytes granted and not yet given back. */
  get used(): number {
    return this.#used;
  }

  /** Reads waiting for their bytes. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Takes `bytes` (at most {@link BytesInFlight.limit}) once they fit next to what is in flight
   * and every earlier caller has had its turn; resolves with the function that gives them back
   * (calling it again does nothing).
   */
  acquire(bytes: number): Promise<() => void> {
    const want = Math.max(0, Math.min(bytes, this.limit));
    return new Promise((resolve) => {
      const grant = (): void => {
        this.#used += want;
        let given = false;
        resolve(() => {
          if (given) return;
          given = true;
          this.#used -= want;
          this.#next();
        });
      };
      if (this.#waiters.length === 0 && this.#used + want <= this.limit) grant();
      else this.#waiters.push({ bytes: want, grant });
    });
  }

  /** Grants the waiters at the head of the line whose bytes now fit. */
  #next(): void {
    while (this.#waiters.length > 0 && this.#used + this.#waiters[0]!.bytes <= this.limit) {
      this.#waiters.shift()!.grant();
    }
  }
}
