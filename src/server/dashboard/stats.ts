/**
 * The dashboard's live numbers: a snapshot of the hub (counts, rates, history, the most
 * subscribed selectors) and the event stream at `/dashboard/stats` that sends one every second.
 *
 * Cost: one snapshot per interval for all viewers together — computed once, serialized once,
 * and the same bytes written to every viewer — whose selector list is read from counts kept up
 * to date as subscriptions come and go ({@link SelectorCounts}), O(k) for the top k, not a sort
 * of every selector on the hub.
 * @packageDocumentation
 */

import type { Hub } from '../../hub/hub.js';
import type { HubStats } from '../../hub/types.js';
import { encodeEventBytes } from '../../protocol/index.js';
import {
  createEventStream,
  type EventStream,
  type HeaderValue,
  type NodeRequest,
  type NodeResponse,
} from '../../stream/index.js';
import type { SelectorCount } from './selector-counts.js';

/** How many selectors a snapshot lists, most subscribed first. */
export const DASHBOARD_TOP_SELECTORS = 50;

/**
 * Longest selector a snapshot shows, in UTF-16 code units; a longer one is cut and flagged
 * `truncated`, so that a few subscribers with huge selectors cannot make every snapshot huge.
 */
export const DASHBOARD_SELECTOR_CHARS = 256;

/** Milliseconds between two `stats` events on `/dashboard/stats`. */
export const DASHBOARD_STATS_INTERVAL_MS = 1000;

/** The SSE event type of the snapshots on `/dashboard/stats`. */
export const DASHBOARD_STATS_EVENT = 'stats';

/** Bound of a viewer's queue: a viewer that stops reading skips snapshots, then is cut. */
const VIEWER_QUEUE_BYTES = 256 * 1024;

/** What a snapshot reads from the hub: its stats. */
export type DashboardHub = Pick<Hub, 'stats'>;

/** What a snapshot reads about selectors: their number and the most used ones. */
export interface DashboardSelectors {
  /** Distinct selectors of the open subscriptions. */
  readonly size: number;
  /** The `k` most used selectors, most used first. */
  top(k: number): SelectorCount[];
}

/** Numbers only the server knows (the hub does not): open connections and process uptime. */
export interface DashboardExtra {
  /** Open client streams (subscribers and dashboard viewers) as the server counts them. */
  connections: number;
  /** Seconds since the server started. */
  uptimeSeconds: number;
}

/** One topic selector and how many open subscriptions use it. */
export interface DashboardSelector {
  /** The selector as subscribers gave it (its first {@link DASHBOARD_SELECTOR_CHARS} characters). */
  selector: string;
  /** Open subscriptions that include this selector (each subscription counts once). */
  subscribers: number;
  /** `true` when `selector` was cut to {@link DASHBOARD_SELECTOR_CHARS} characters. */
  truncated?: true;
}

/** One `stats` event on `/dashboard/stats`: `hub.stats()` plus the server's own numbers. */
export interface DashboardSnapshot extends HubStats, DashboardExtra {
  /**
   * The most subscribed selectors (at most {@link DASHBOARD_TOP_SELECTORS}), by subscriber count
   * descending; among equal counts, the one that reached the count first comes first. Named
   * `selectors` because `topics` is already the count of distinct exact topics.
   */
  selectors: DashboardSelector[];
  /** Distinct selectors across all open subscriptions (may exceed `selectors.length`). */
  selectorCount: number;
  /** Dashboard streams open (each gets this same snapshot). */
  viewers: number;
  /** The snapshot's number: one per interval, the same for every viewer. */
  tick: number;
}

/**
 * Takes one snapshot: the hub's stats, the top {@link DASHBOARD_TOP_SELECTORS} selectors and
 * `extra`'s numbers. Pure apart from reading its inputs; no clock, no I/O. Cost: `hub.stats()`
 * plus O(k) for the selectors.
 *
 * @param hub - the hub (only `stats()` is used)
 * @param selectors - the selector counts
 * @param extra - the server's connection count and uptime
 * @param feed - the viewers and the tick number
 */
export function snapshot(
  hub: DashboardHub,
  selectors: DashboardSelectors,
  extra: DashboardExtra,
  feed: { viewers: number; tick: number } = { viewers: 0, tick: 0 },
): DashboardSnapshot {
  return {
    ...hub.stats(),
    ...extra,
    selectors: selectors
      .top(DASHBOARD_TOP_SELECTORS)
      .map(({ selector, subscribers }) =>
        selector.length > DASHBOARD_SELECTOR_CHARS
          ? { selector: selector.slice(0, DASHBOARD_SELECTOR_CHARS), subscribers, truncated: true }
          : { selector, subscribers },
      ),
    selectorCount: selectors.size,
    viewers: feed.viewers,
    tick: feed.tick,
  };
}

/** Options of {@link DashboardFeed.serve}. */
export interface DashboardViewerOptions {
  /** Extra response headers (CORS). */
  headers?: Readonly<Record<string, HeaderValue>>;
  /** Closes the stream when it aborts, e.g. when the server shuts down. */
  signal?: AbortSignal;
  /** Closes a viewer that stopped reading after this long (the stream's default otherwise). */
  stallTimeoutMs?: number;
  /** Called once when the stream closes (gives the connection slot back). */
  onClose?: () => void;
}

/**
 * The `stats` event stream of every dashboard viewer: one timer for all of them (running only
 * while someone watches), one snapshot per interval, encoded once, the same bytes written to
 * each viewer. A viewer that is behind skips a beat rather than queue; a new viewer gets the
 * current snapshot at once, and a snapshot is never computed twice within one interval however
 * viewers come and go.
 */
export class DashboardFeed {
  readonly #compute: (feed: { viewers: number; tick: number }) => DashboardSnapshot;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #viewers = new Set<EventStream>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #bytes: Uint8Array | undefined;
  #at = Number.NEGATIVE_INFINITY;
  #ticks = 0;

  /**
   * @param compute - takes a snapshot (called at most once per interval)
   * @param intervalMs - ms between snapshots, default {@link DASHBOARD_STATS_INTERVAL_MS}
   * @param now - the clock, ms
   */
  constructor(
    compute: (feed: { viewers: number; tick: number }) => DashboardSnapshot,
    intervalMs = DASHBOARD_STATS_INTERVAL_MS,
    now: () => number = () => performance.now(),
  ) {
    this.#compute = compute;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Open viewer streams. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** Snapshots computed so far (each shared by every viewer of its interval). */
  get ticks(): number {
    return this.#ticks;
  }

  /**
   * Answers `GET /dashboard/stats`: an event stream that carries a `stats` event (a
   * {@link DashboardSnapshot} as JSON) at once and then every interval, until the client goes
   * away, the stream is closed, or `options.signal` aborts.
   *
   * @param req - the request
   * @param res - its response; nothing may have been written to it yet
   * @returns the stream, already sending
   */
  serve(req: NodeRequest, res: NodeResponse, options: DashboardViewerOptions = {}): EventStream {
    const stream = createEventStream(req, res, {
      // A snapshot every interval keeps the connection busy: no heartbeat needed.
      heartbeatMs: 0,
      queueBytes: VIEWER_QUEUE_BYTES,
      // HTML standard: "retry" sets the reconnection time; a dashboard may come back quickly.
      retry: 1000,
      ...(options.headers !== undefined && { headers: options.headers }),
      ...(options.signal !== undefined && { signal: options.signal }),
      ...(options.stallTimeoutMs !== undefined && { stallTimeoutMs: options.stallTimeoutMs }),
      onClose: () => {
        this.#viewers.delete(stream);
        if (this.#viewers.size === 0) this.#stop();
        options.onClose?.();
      },
    });
    if (stream.closed) return stream;
    this.#viewers.add(stream);
    if (this.#bytes !== undefined && this.#now() - this.#at < this.#intervalMs) {
      stream.sendBytes(this.#bytes);
    } else {
      this.#tick();
    }
    if (this.#timer === undefined && this.#viewers.size > 0) {
      this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
      this.#timer.unref();
    }
    return stream;
  }

  /** Ends every viewer's stream and the timer. */
  close(): void {
    for (const stream of [...this.#viewers]) stream.close();
    this.#stop();
  }

  #tick(): void {
    this.#ticks++;
    const data = JSON.stringify(this.#compute({ viewers: this.#viewers.size, tick: this.#ticks }));
    this.#bytes = encodeEventBytes({ event: DASHBOARD_STATS_EVENT, data });
    this.#at = this.#now();
    for (const stream of this.#viewers) {
      // A slow dashboard only needs the newest numbers: skip a beat rather than queue.
      if (stream.queuedBytes === 0) stream.sendBytes(this.#bytes);
    }
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
