/**
 * The dashboard's live numbers: a snapshot of the hub (counts, rates, history, the most
 * subscribed selectors) and the event stream at `/dashboard/stats` that sends one every second.
 * @packageDocumentation
 */

import type { Hub } from '../../hub/hub.js';
import type { HubStats } from '../../hub/types.js';
import {
  createEventStream,
  type EventStream,
  type NodeRequest,
  type NodeResponse,
} from '../../stream/index.js';

/** How many selectors a snapshot lists, most subscribed first. */
export const DASHBOARD_TOP_SELECTORS = 50;

/** Milliseconds between two `stats` events on `/dashboard/stats`. */
export const DASHBOARD_STATS_INTERVAL_MS = 1000;

/** The SSE event type of the snapshots on `/dashboard/stats`. */
export const DASHBOARD_STATS_EVENT = 'stats';

/** What a snapshot reads from the hub: its stats and its open subscriptions. */
export type DashboardHub = Pick<Hub, 'stats' | 'subscriptions'>;

/** Numbers only the server knows (the hub does not): open connections and process uptime. */
export interface DashboardExtra {
  /** Open client connections (subscriber streams and others) as the server counts them. */
  connections: number;
  /** Seconds since the server started. */
  uptimeSeconds: number;
}

/** One topic selector and how many open subscriptions use it. */
export interface DashboardSelector {
  /** The selector as subscribers gave it: an exact topic, `*`, or a URI template. */
  selector: string;
  /** Open subscriptions that include this selector (each subscription counts once). */
  subscribers: number;
}

/** One `stats` event on `/dashboard/stats`: `hub.stats()` plus the server's own numbers. */
export interface DashboardSnapshot extends HubStats, DashboardExtra {
  /**
   * The most subscribed selectors (at most {@link DASHBOARD_TOP_SELECTORS}), by subscriber count
   * descending, then by selector. Named `selectors` because `topics` is already the count of
   * distinct exact topics from `hub.stats()`.
   */
  selectors: DashboardSelector[];
  /** Distinct selectors across all open subscriptions (may exceed `selectors.length`). */
  selectorCount: number;
}

/** Options of {@link serveDashboardStats}. */
export interface DashboardStatsOptions {
  /** Milliseconds between snapshots. Default {@link DASHBOARD_STATS_INTERVAL_MS}. */
  intervalMs?: number;
  /** Closes the stream when it aborts, e.g. when the server shuts down. */
  signal?: AbortSignal;
}

/**
 * Takes one snapshot of the hub: its stats, the selectors of its open subscriptions aggregated
 * into subscriber counts (top {@link DASHBOARD_TOP_SELECTORS}), and `extra()`'s numbers.
 * Pure apart from reading the hub; no clock, no I/O.
 *
 * @param hub - the hub (only `stats()` and `subscriptions()` are used)
 * @param extra - the server's connection count and uptime
 */
export function snapshot(hub: DashboardHub, extra: () => DashboardExtra): DashboardSnapshot {
  const counts = new Map<string, number>();
  for (const subscription of hub.subscriptions()) {
    if (subscription.closed) continue;
    // A subscription that repeats a selector still counts once for it.
    for (const selector of new Set(subscription.topics)) {
      counts.set(selector, (counts.get(selector) ?? 0) + 1);
    }
  }
  const selectors = [...counts]
    .map(([selector, subscribers]) => ({ selector, subscribers }))
    .sort(
      (a, b) =>
        b.subscribers - a.subscribers ||
        (a.selector < b.selector ? -1 : a.selector > b.selector ? 1 : 0),
    )
    .slice(0, DASHBOARD_TOP_SELECTORS);
  const { connections, uptimeSeconds } = extra();
  return {
    ...hub.stats(),
    connections,
    uptimeSeconds,
    selectors,
    selectorCount: counts.size,
  };
}

/**
 * Answers `GET /dashboard/stats`: an event stream that carries a `stats` event (a
 * {@link DashboardSnapshot} as JSON) at once and then every second, until the client goes away,
 * the stream is closed, or `options.signal` aborts. The timer is cleared when the stream closes.
 *
 * The stream is not a hub subscription: `hub.close()` does not end it. Close it on shutdown
 * (pass `options.signal`, or keep the returned stream and call `close()`).
 *
 * @param req - the request
 * @param res - its response; nothing may have been written to it yet
 * @param hub - the hub to report on
 * @param extra - the server's connection count and uptime, read at each snapshot
 * @param options - see {@link DashboardStatsOptions}
 * @returns the stream, already sending
 */
export function serveDashboardStats(
  req: NodeRequest,
  res: NodeResponse,
  hub: DashboardHub,
  extra: () => DashboardExtra,
  options: DashboardStatsOptions = {},
): EventStream {
  // A snapshot every second keeps the connection busy: no heartbeat needed.
  const stream = createEventStream(req, res, { heartbeatMs: 0 });
  const intervalMs = options.intervalMs ?? DASHBOARD_STATS_INTERVAL_MS;
  const send = (): void => {
    // A slow dashboard only needs the newest numbers: skip a beat rather than queue.
    if (stream.queuedBytes > 0) return;
    stream.send({ event: DASHBOARD_STATS_EVENT, data: JSON.stringify(snapshot(hub, extra)) });
  };
  // HTML standard: "retry" sets the reconnection time; a dashboard may come back quickly.
  stream.retry(1000);
  send();
  const timer = setInterval(send, intervalMs);
  timer.unref();
  const stop = (): void => stream.close();
  stream.signal.addEventListener(
    'abort',
    () => {
      clearInterval(timer);
      options.signal?.removeEventListener('abort', stop);
    },
    { once: true },
  );
  if (options.signal?.aborted) stream.close();
  else options.signal?.addEventListener('abort', stop, { once: true });
  return stream;
}
