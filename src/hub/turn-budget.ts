/**
 * Bytes that writers may put out per turn of the event loop, shared by every replay of a hub.
 *
 * A replay whose client reads fast (or whose socket buffers are still empty) never has to wait
 * for a drain, so without a budget it would write page after page in microtasks, and a hundred
 * replays starting together would hold the loop for the time it takes to copy hundreds of MB into
 * socket buffers. With it, each turn writes at most about `perTurn` bytes of replays; the rest
 * wait for the next turn, first come first served, while publishes, live delivery and health
 * checks get their share of the loop in between.
 * @internal
 */
export class TurnBudget {
  readonly #perTurn: number;
  #spent = 0;
  #waiters: Array<() => void> = [];
  #scheduled = false;

  /** @param perTurn - bytes per turn of the event loop */
  constructor(perTurn: number) {
    this.#perTurn = perTurn;
  }

  /**
   * Spends `bytes` now when this turn has budget left (returns `undefined`), else resolves in a
   * later turn, in order of asking, with the bytes spent there.
   */
  take(bytes: number): Promise<void> | undefined {
    this.#schedule();
    if (this.#waiters.length === 0 && this.#spent < this.#perTurn) {
      this.#spent += bytes;
      return undefined;
    }
    return new Promise((resolve) => {
      this.#waiters.push(() => {
        this.#spent += bytes;
        resolve();
      });
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#turn);
  }

  readonly #turn = (): void => {
    this.#scheduled = false;
    this.#spent = 0;
    const waiters = this.#waiters;
    let i = 0;
    while (i < waiters.length && this.#spent < this.#perTurn) waiters[i++]!();
    this.#waiters = waiters.slice(i);
    if (this.#waiters.length > 0 || this.#spent > 0) this.#schedule();
  };
}
