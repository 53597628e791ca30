import { randomUUID } from 'node:crypto';
import type { EngineEvent } from '../engines/engine.js';
import type { EventStream } from '../stream/index.js';
import { SelectorSet } from './topics.js';
import type { Subscription } from './types.js';

/**
 * One subscriber's state inside the hub: what it may see, and where its events are between the
 * engine and its stream. While it replays history, live events wait in `pending`; once live,
 * they collect in `batch` (indices into the hub's per-tick batch) until the hub flushes.
 * @internal
 */
export class HubSubscription implements Subscription {
  readonly id = randomUUID();
  readonly topics: readonly string[];
  readonly lastEventId: string;
  stream: EventStream | undefined;

  readonly #selectors: SelectorSet;
  readonly #authorized: SelectorSet | undefined;
  readonly #filter: ((event: EngineEvent) => boolean) | undefined;
  readonly #pendingLimit: number;
  readonly #onClose: (sub: HubSubscription) => void;
  readonly #userOnClose: (() => void) | undefined;
  // `ready` is made on first use: most subscribers never ask, and a promise with its resolver
  // is ~150 bytes each.
  #ready: Promise<void> | undefined;
  #resolveReady: (() => void) | undefined;
  #settled = false;

  /** Replay done: live events go to `batch`. */
  live = false;
  closed = false;
  /** Live events that arrived during the replay, in order. */
  pending: EngineEvent[] = [];
  #pendingBytes = 0;
  /** `pending` outgrew its bound and was dropped: the replay must read history again. */
  pendingOverflowed = false;
  /**
   * The engine position the replay read up to, while the engine's live delivery may still be
   * behind it: live events at or before it were already written by the replay. Cleared by the
   * first live event past it (the engine delivers in order).
   */
  liveAfter: string | undefined;
  /** Indices into the hub's current batch of events for this subscriber. */
  readonly batch: number[] = [];

  /**
   * @param topics - the selectors
   * @param lastEventId - the id the subscriber resumes after, or `''`
   * @param authorized - selectors for private updates
   * @param filter - an extra predicate
   * @param pendingLimit - bytes of live events held during a replay before re-reading history
   * @param onClose - the hub's cleanup, called once
   * @param userOnClose - the subscriber's own `onClose`, called once after the hub's cleanup
   */
  constructor(
    topics: readonly string[],
    lastEventId: string,
    authorized: readonly string[] | undefined,
    filter: ((event: EngineEvent) => boolean) | undefined,
    pendingLimit: number,
    onClose: (sub: HubSubscription) => void,
    userOnClose: (() => void) | undefined,
  ) {
    this.topics = topics;
    this.lastEventId = lastEventId;
    this.#selectors = new SelectorSet(topics);
    this.#authorized = authorized === undefined ? undefined : new SelectorSet(authorized);
    this.#filter = filter;
    this.#pendingLimit = pendingLimit;
    this.#onClose = onClose;
    this.#userOnClose = userOnClose;
  }

  /** Resolves once the replay is done and the subscriber is live, or it closed. */
  get ready(): Promise<void> {
    if (this.#ready === undefined) {
      this.#ready = this.#settled
        ? Promise.resolve()
        : new Promise((resolve) => {
            this.#resolveReady = resolve;
          });
    }
    return this.#ready;
  }

  #settle(): void {
    this.#settled = true;
    this.#resolveReady?.();
    this.#resolveReady = undefined;
  }

  /**
   * Whether this subscriber may receive `event`, its topics aside: a private update needs an
   * authorized selector matching one of its topics, and the filter must accept it.
   */
  accepts(event: EngineEvent): boolean {
    // Mercure: "the hub MUST dispatch a private update only to subscribers authorized to receive
    // it" — authorized when a selector of the subscriber's claim matches one of its topics.
    if (event.private && this.#authorized?.matchesAny(event.topics) !== true) return false;
    if (this.#filter === undefined) return true;
    try {
      return this.#filter(event) === true;
    } catch (error) {
      // A throwing filter must not stop the fan-out to everyone else: end this subscription
      // and surface the error the way an event listener's would.
      queueMicrotask(() => this.close());
      queueMicrotask(() => {
        throw error;
      });
      return false;
    }
  }

  /** Whether one of the selectors matches one of `event`'s topics. */
  selects(event: EngineEvent): boolean {
    return this.#selectors.matchesAny(event.topics);
  }

  /** Whether one of the selectors matches `topic`. */
  selectsTopic(topic: string): boolean {
    return this.#selectors.matches(topic);
  }

  /** Selection and permission together: what replay reads from history. */
  wants(event: EngineEvent): boolean {
    return this.selects(event) && this.accepts(event);
  }

  /** Holds a live event that arrived during the replay. */
  hold(event: EngineEvent): void {
    if (this.pendingOverflowed) return;
    this.#pendingBytes += event.size;
    if (this.#pendingBytes > this.#pendingLimit) {
      this.pending = [];
      this.#pendingBytes = 0;
      this.pendingOverflowed = true;
      return;
    }
    this.pending.push(event);
  }

  /** Takes the held events and resets the buffer. */
  takePending(): EngineEvent[] {
    const pending = this.pending;
    this.pending = [];
    this.#pendingBytes = 0;
    return pending;
  }

  /** Marks the replay done. */
  goLive(): void {
    this.live = true;
    this.#settle();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.live = false;
    this.pending = [];
    this.stream?.close();
    this.#settle();
    this.#onClose(this);
    if (this.#userOnClose !== undefined) {
      try {
        this.#userOnClose();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
