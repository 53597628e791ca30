import { type EventFields, encodeEventBytes } from '../protocol/index.js';
import type { ByteBudget } from './byte-budget.js';
import type { ResolvedOptions } from './options.js';
import type { Transport, TransportSink } from './transport.js';
import type { CloseReason, EventStream, OverflowInfo } from './types.js';

/** The heartbeat: one empty comment line, which every client ignores. Shared by all streams. */
const HEARTBEAT = new Uint8Array([0x3a, 0x0a]); // ":\n"

/** Past this many consumed slots (and half the array) the queue array is compacted. */
const COMPACT_AFTER = 1024;

/**
 * Runs a user callback; if it throws, the error is re-thrown from a microtask (surfacing as an
 * uncaught exception, like an event listener's) so the stream's own state stays consistent.
 */
function notify<A>(callback: ((arg: A) => void) | undefined, arg: A): void {
  if (callback === undefined) return;
  try {
    callback(arg);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/**
 * The transport-agnostic core of an event stream: bounded queue and backpressure, heartbeat,
 * close bookkeeping. The transports (node:http, node:http2, Fetch) only move bytes.
 *
 * Users get it typed as {@link EventStream}; the constructor is internal.
 * @internal
 */
export class EventStreamCore implements EventStream {
  /**
   * How the transport reports back: one small object per stream that calls into the core,
   * instead of an object holding two closures. (A class in the class body may use its private
   * members.)
   */
  static readonly #Sink = class implements TransportSink {
    readonly #core: EventStreamCore;
    constructor(core: EventStreamCore) {
      this.#core = core;
    }
    drain(): void {
      this.#core.#drain();
    }
    gone(reason: 'client' | 'error'): void {
      this.#core.#finish(reason, true);
    }
  };

  /** The stream's timer callback, shared by every stream (the stream is the timer's arg). */
  static #tick(stream: EventStreamCore): void {
    stream.#onTimer();
  }

  readonly lastEventId: string;

  readonly #transport: Transport;
  readonly #heartbeatMs: number;
  readonly #stallMs: number;
  readonly #queueBytes: number;
  readonly #dropOldest: boolean;
  /** Shared with other streams (one client address's, in `herald serve`); see ByteBudget. */
  readonly #budget: ByteBudget | undefined;
  /** What this stream has charged to `#budget`: what it holds while the transport waits. */
  #charged = 0;
  readonly #onOverflow: ((info: OverflowInfo) => void) | undefined;
  readonly #onClose: ((reason: CloseReason) => void) | undefined;
  readonly #externalSignal: AbortSignal | undefined;
  /** Listens to `#externalSignal`; created only when there is one. */
  readonly #onExternalAbort: (() => void) | undefined;
  /** Closed when this stream closes (the hub's subscription); see {@link closeWith}. */
  #owner: { close(): void } | undefined;

  /** No more writes are accepted (set at once; `#reason` follows when close is final). */
  #closed = false;
  #reason: CloseReason | undefined;
  /** Created on first use of `signal`: most hub streams never ask for one. */
  #controller: AbortController | undefined;

  /**
   * `true` while the queue is empty and the transport's last `write()` did not ask us to wait.
   * Only then do writes go straight to the transport; otherwise they queue, in order.
   */
  #writable = true;
  /** Whole encoded events waiting for 'drain', consumed from `#head`. */
  #queue: Array<Uint8Array | undefined> = [];
  #head = 0;
  #queuedBytes = 0;
  #droppedEvents = 0;
  #droppedBytes = 0;

  /** `performance.now()` of the last write; the heartbeat timer compares against it. */
  #lastWrite = 0;
  /**
   * `performance.now()` of the transport's last "wait" (a write that returned `false`) since
   * which it has not drained; `0` while it is not waiting. The timer closes the stream when this
   * is older than `#stallMs`.
   */
  #blockedSince = 0;
  /** Resolvers of {@link EventStreamCore.drained} promises, settled on drain or close. */
  #drainWaiters: Array<(drained: boolean) => void> | undefined;
  /** One timer per stream, for heartbeats and stalls alike; `#timerDue` is when it fires. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = 0;

  /**
   * @param transport - carries the bytes; its headers have already been sent
   * @param options - resolved options
   * @param lastEventId - what the request said it last saw
   */
  constructor(transport: Transport, options: ResolvedOptions, lastEventId: string) {
    this.lastEventId = lastEventId;
    this.#transport = transport;
    this.#heartbeatMs = options.heartbeatMs;
    this.#stallMs = options.stallTimeoutMs;
    this.#queueBytes = options.queueBytes;
    this.#dropOldest = options.overflow === 'drop-oldest';
    this.#budget = options.budget;
    this.#onOverflow = options.onOverflow;
    this.#onClose = options.onClose;

    if (!transport.attach(new EventStreamCore.#Sink(this))) {
      // The client left before we were created. Close from a microtask so that listeners the
      // caller adds right after creation (signal, onClose) still hear about it.
      this.#closed = true;
      queueMicrotask(() => this.#finish('client', true));
      return;
    }

    const signal = options.signal;
    if (signal?.aborted) {
      this.#closed = true;
      queueMicrotask(() => this.#finish('server', false));
      return;
    }
    if (signal !== undefined) {
      this.#externalSignal = signal;
      this.#onExternalAbort = () => this.#finish('server', false);
      signal.addEventListener('abort', this.#onExternalAbort, { once: true });
    }

    const comment = options.initialComment === false ? undefined : options.initialComment;
    if (comment !== undefined || options.retry !== undefined) {
      this.#write(encodeEventBytes({ comment, retry: options.retry }), false);
    }
    this.#lastWrite = performance.now();
    if (this.#heartbeatMs > 0 && this.#timer === undefined) this.#arm(this.#heartbeatMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get closeReason(): CloseReason | undefined {
    return this.#reason;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get bufferedBytes(): number {
    return this.#queuedBytes + this.#transport.writableLength;
  }

  get droppedEvents(): number {
    return this.#droppedEvents;
  }

  get droppedBytes(): number {
    return this.#droppedBytes;
  }

  send(event: EventFields): boolean {
    if (this.#closed) return false;
    return this.sendBytes(encodeEventBytes(event));
  }

  // The hot path: the hub calls this once per subscriber per event with shared bytes. No
  // allocation, no timer work — one clock read for the heartbeat and one transport write.
  sendBytes(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    if (bytes.byteLength === 0) return true;
    return this.#write(bytes);
  }

  comment(text = ''): boolean {
    if (this.#closed) return false;
    return this.#write(encodeEventBytes({ comment: text }));
  }

  retry(ms: number): boolean {
    if (this.#closed) return false;
    // A retry field alone still needs the blank line: encodeEvent adds it.
    return this.#write(encodeEventBytes({ retry: ms }));
  }

  close(): void {
    this.#finish('server', false);
  }

  /**
   * Closes `owner` when this stream closes — synchronously, before the `signal` aborts and
   * `onClose` runs — as an `abort` listener on {@link EventStreamCore.signal} would, without
   * creating an AbortController and its EventTarget for every subscriber. One owner per stream.
   * @internal (the hub's subscriptions)
   */
  closeWith(owner: { close(): void }): void {
    this.#owner = owner;
  }

  drained(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#writable) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.#drainWaiters ??= [];
      this.#drainWaiters.push(resolve);
    });
  }

  #settleDrainWaiters(drained: boolean): void {
    const waiters = this.#drainWaiters;
    if (waiters === undefined) return;
    this.#drainWaiters = undefined;
    for (const resolve of waiters) resolve(drained);
  }

  /**
   * Writes to the transport when it is keeping up, else queues. The stream is open. `checked`:
   * the write must fit in the shared budget (all but the stream's own comments and heartbeats).
   */
  #write(bytes: Uint8Array, checked = true): boolean {
    const budget = this.#budget;
    if (this.#writable) {
      // A write the transport may not take at once would be held: it must fit in the budget.
      // (Checked before the write: what the transport holds is known only after it.)
      if (checked && budget !== undefined && !budget.fits(bytes.byteLength)) {
        return this.#overflow(bytes, 'budget');
      }
      if (this.#heartbeatMs !== 0) this.#lastWrite = performance.now();
      if (!this.#transport.write(bytes)) {
        this.#writable = false;
        this.#blocked();
        if (budget !== undefined) this.#charge(this.#transport.writableLength);
      }
      return true;
    }
    const size = bytes.byteLength;
    if (this.#queuedBytes + size <= this.#queueBytes) {
      if (budget !== undefined) {
        if (!budget.fits(size)) return this.#overflow(bytes, 'budget');
        this.#charge(this.#charged + size);
      }
      this.#queue.push(bytes);
      this.#queuedBytes += size;
      return true;
    }
    return this.#overflow(bytes, 'queue');
  }

  /** Sets what this stream has charged to its budget to `bytes`. */
  #charge(bytes: number): void {
    this.#budget!.charge(bytes - this.#charged);
    this.#charged = bytes;
  }

  #overflow(bytes: Uint8Array, bound: 'queue' | 'budget'): boolean {
    const size = bytes.byteLength;
    let droppedEvents = 0;
    let droppedBytes = 0;
    let kept = false;
    if (!this.#dropOldest) {
      droppedEvents = this.#queue.length - this.#head + 1;
      droppedBytes = this.#queuedBytes + size;
    } else if (bound === 'budget' || size > this.#queueBytes) {
      // Dropping every queued event would still not make room (or the room is the budget's,
      // held by other streams too): drop the newcomer instead.
      droppedEvents = 1;
      droppedBytes = size;
    } else {
      const queue = this.#queue;
      while (this.#queuedBytes + size > this.#queueBytes) {
        const oldest = queue[this.#head]!;
        queue[this.#head++] = undefined;
        this.#queuedBytes -= oldest.byteLength;
        droppedEvents++;
        droppedBytes += oldest.byteLength;
      }
      this.#compact();
      queue.push(bytes);
      this.#queuedBytes += size;
      if (this.#budget !== undefined) this.#charge(this.#charged + size - droppedBytes);
      kept = true;
    }
    this.#droppedEvents += droppedEvents;
    this.#droppedBytes += droppedBytes;
    if (!this.#dropOldest) this.#finish(bound === 'budget' ? 'budget' : 'overflow', false);
    notify(this.#onOverflow, {
      policy: this.#dropOldest ? 'drop-oldest' : 'close',
      bound,
      queueBytes: this.#queueBytes,
      incomingBytes: size,
      queuedBytes: this.#queuedBytes,
      droppedEvents,
      droppedBytes,
    });
    return kept;
  }

  /** The transport wants more: hand over queued events until it asks us to wait again. */
  #drain(): void {
    if (this.#closed) return;
    this.#blockedSince = 0; // progress: the stall clock starts again at the next "wait"
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const chunk = queue[this.#head]!;
      queue[this.#head++] = undefined;
      this.#queuedBytes -= chunk.byteLength;
      this.#lastWrite = performance.now();
      if (!this.#transport.write(chunk)) {
        this.#compact();
        this.#blocked();
        if (this.#budget !== undefined) {
          this.#charge(this.#queuedBytes + this.#transport.writableLength);
        }
        return;
      }
      if (this.#closed) return;
    }
    queue.length = 0;
    this.#head = 0;
    this.#writable = true;
    if (this.#budget !== undefined) this.#charge(0);
    this.#settleDrainWaiters(true);
  }

  #compact(): void {
    if (this.#head > COMPACT_AFTER && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #arm(delay: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerDue = performance.now() + delay;
    this.#timer = setTimeout(EventStreamCore.#tick, delay, this);
  }

  /**
   * The transport asked to wait: start the stall clock. The timer already running (heartbeats)
   * usually fires before the stall could be due and checks then; it is re-armed only when it
   * would fire too late (no heartbeat, or one longer than the stall timeout) — once per "wait",
   * never per write.
   */
  #blocked(): void {
    if (this.#stallMs === 0 || this.#blockedSince !== 0) return;
    const now = performance.now();
    this.#blockedSince = now;
    if (this.#timer === undefined || this.#timerDue > now + this.#stallMs) this.#arm(this.#stallMs);
  }

  // Writes never touch the timer. When it fires, it checks how long the transport has been
  // waiting (close it once that is the stall timeout) and how long the stream has really been
  // idle (send a heartbeat if that is a full interval), then sleeps until the next of the two.
  #onTimer(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    if (this.#heartbeatMs > 0) {
      const idle = now - this.#lastWrite;
      if (idle >= this.#heartbeatMs) {
        // While events are queued the client is behind, not idle: a heartbeat would only queue.
        if (this.#writable) this.#write(HEARTBEAT, false);
        next = this.#heartbeatMs;
      } else {
        next = Math.min(this.#heartbeatMs, Math.ceil(this.#heartbeatMs - idle));
      }
    }
    if (this.#blockedSince !== 0) {
      const waited = now - this.#blockedSince;
      if (waited >= this.#stallMs) {
        this.#finish('stalled', false);
        return;
      }
      next = Math.min(next, Math.ceil(this.#stallMs - waited));
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }

  /**
   * Closes once. `transportGone` says the transport already ended (client left, error); else a
   * server close ends it gracefully (queued events first) and an overflow tears it down.
   */
  #finish(reason: CloseReason, transportGone: boolean): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#onExternalAbort !== undefined) {
      this.#externalSignal?.removeEventListener('abort', this.#onExternalAbort);
    }
    const transport = this.#transport;
    if (!transportGone) {
      if (reason === 'server') {
        for (let i = this.#head; i < this.#queue.length; i++) transport.write(this.#queue[i]!);
        transport.end();
      } else {
        transport.abort();
      }
    }
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    if (this.#budget !== undefined) {
      this.#charge(0);
      this.#budget.wake(); // a replay waiting for the budget sees this stream closed
    }
    transport.detach();
    this.#settleDrainWaiters(false);
    const owner = this.#owner;
    this.#owner = undefined;
    owner?.close();
    this.#controller?.abort();
    notify(this.#onClose, reason);
  }
}
