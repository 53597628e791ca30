import { Counter, Gauge, Registry } from 'prom-client';
import type { Hub, HubStats } from '../hub/index.js';
import type { CloseReason } from '../stream/index.js';
import type { ConnectionLimiter } from './limits.js';

/**
 * The hub server's Prometheus metrics, in a registry of its own (so several servers in one
 * process do not collide). Gauges are read from the hub when scraped; counters are bumped by
 * the handlers.
 */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
  readonly #published: Counter;
  readonly #replays: Counter;
  readonly #authFailures: Counter<'role' | 'status'>;
  readonly #overflows: Counter;
  readonly #requests: Counter<'route' | 'status'>;
  readonly #streams: Gauge<'transport'>;
  readonly #closes: Counter<'reason'>;
  readonly #socketsRefused: Counter<'limit'>;
  readonly #idleClosed: Counter;
  #sockets: { readonly open: number; readonly sessions: number } | undefined;
  readonly #hub: Hub;
  /** One hub snapshot per scrape: every gauge reads it instead of walking the hub again. */
  #snapshot: HubStats | undefined;

  /**
   * @param hub - the hub whose stats the gauges read
   * @param connections - the subscriber connection counter
   */
  constructor(hub: Hub, connections: ConnectionLimiter) {
    this.#hub = hub;
    const registers = [this.registry];
    new Gauge({
      name: 'herald_connections',
      help: 'Open subscriber connections.',
      registers,
      collect() {
        this.set(connections.open);
      },
    });
    const stats = (): HubStats => this.#snapshot ?? hub.stats();
    const stat = (
      name: string,
      help: string,
      read: (s: HubStats) => number,
      counter = false,
    ): void => {
      new Gauge({
        name: counter ? `${name}_total` : name,
        help,
        registers,
        collect() {
          this.set(read(stats()));
        },
      });
    };
    stat('herald_subscriptions', 'Open hub subscriptions.', (s) => s.subscribers);
    stat('herald_topics', 'Distinct exact topics with subscribers.', (s) => s.topics);
    stat(
      'herald_events_delivered',
      'Events handed to subscribers, counted once per subscriber.',
      (s) => s.eventsDelivered,
      true,
    );
    stat(
      'herald_bytes_written',
      'Bytes of live events written to subscriber streams.',
      (s) => s.bytesWritten,
      true,
    );
    stat(
      'herald_bytes_queued',
      'Bytes accepted for subscribers, not yet handed to the OS.',
      (s) => s.bytesQueued,
    );
    stat('herald_history_events', 'Events retained in history.', (s) => s.history.events);
    this.#published = new Counter({
      name: 'herald_events_published_total',
      help: 'Updates accepted from publishers over HTTP.',
      registers,
    });
    this.#replays = new Counter({
      name: 'herald_replays_total',
      help: 'Subscriptions that asked to resume after a last event id.',
      registers,
    });
    this.#authFailures = new Counter({
      name: 'herald_auth_failures_total',
      help: 'Refused authentications, by role and status (401 invalid/missing, 403 not allowed).',
      labelNames: ['role', 'status'],
      registers,
    });
    this.#overflows = new Counter({
      name: 'herald_queue_overflows_total',
      help: "Subscriber queue overflows: an event did not fit in its queue (--queue-bytes) or in its address's budget (--queue-bytes-per-ip).",
      registers,
    });
    this.#requests = new Counter({
      name: 'herald_http_errors_total',
      help: 'Requests answered with an error status, by route.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.#streams = new Gauge({
      name: 'herald_subscriber_streams',
      help: 'Open subscriber streams by transport (h1 = HTTP/1.x, h2 = HTTP/2).',
      labelNames: ['transport'],
      registers,
    });
    this.#streams.set({ transport: 'h1' }, 0);
    this.#streams.set({ transport: 'h2' }, 0);
    this.#closes = new Counter({
      name: 'herald_stream_closes_total',
      help: 'Subscriber streams closed, by reason: client (went away), server (hub shutdown, token expiry), overflow (fell --queue-bytes behind), stalled (did not drain for --stall-timeout), budget (the streams of its address held --queue-bytes-per-ip), error.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['client', 'server', 'overflow', 'stalled', 'budget', 'error'] as const) {
      this.#closes.inc({ reason }, 0);
    }
    hub.on('overflow', () => this.#overflows.inc());
    const liveGaps = new Counter({
      name: 'herald_live_gaps_total',
      help: 'Times the engine evicted events before this node delivered them (subscriptions they may concern resume from history).',
      registers,
    });
    hub.on('gap', () => liveGaps.inc());
    const sockets = (): { readonly open: number; readonly sessions: number } | undefined =>
      this.#sockets;
    new Gauge({
      name: 'herald_sockets',
      help: 'Open client connections of every kind (--max-sockets).',
      registers,
      collect() {
        this.set(sockets()?.open ?? 0);
      },
    });
    new Gauge({
      name: 'herald_http2_sessions',
      help: 'Open HTTP/2 sessions.',
      registers,
      collect() {
        this.set(sockets()?.sessions ?? 0);
      },
    });
    this.#socketsRefused = new Counter({
      name: 'herald_sockets_refused_total',
      help: 'Connections closed by a bound: max-sockets-per-ip and max-sockets (the newcomer), evicted-idle (the longest idle, to make room at max-sockets).',
      labelNames: ['limit'],
      registers,
    });
    this.#idleClosed = new Counter({
      name: 'herald_idle_sessions_closed_total',
      help: 'HTTP/2 sessions closed after --idle-timeout without an open stream.',
      registers,
    });
  }

  /** Reads the open connections and sessions from `guard` when scraped. */
  watchSockets(guard: { readonly open: number; readonly sessions: number }): void {
    this.#sockets = guard;
  }

  /** A connection was closed by `limit` (see `connections.ts`). */
  socketRefused(limit: 'max-sockets' | 'max-sockets-per-ip' | 'evicted-idle'): void {
    this.#socketsRefused.inc({ limit });
  }

  /** An HTTP/2 session was closed for being idle. */
  idleSessionClosed(): void {
    this.#idleClosed.inc();
  }

  /** An update was accepted. */
  published(): void {
    this.#published.inc();
  }

  /** A subscriber stream opened over `transport`. */
  streamOpened(transport: 'h1' | 'h2'): void {
    this.#streams.inc({ transport });
  }

  /** A subscriber stream over `transport` closed. */
  streamClosed(transport: 'h1' | 'h2'): void {
    this.#streams.dec({ transport });
  }

  /** A subscriber stream closed for `reason`. */
  streamClosedFor(reason: CloseReason): void {
    this.#closes.inc({ reason });
  }

  /** A subscription asked for a replay. */
  replay(): void {
    this.#replays.inc();
  }

  /** An authentication was refused. */
  authFailure(role: 'publisher' | 'subscriber', status: number): void {
    this.#authFailures.inc({ role, status: String(status) });
  }

  /** A request was answered with an error status. */
  httpError(route: string, status: number): void {
    this.#requests.inc({ route, status: String(status) });
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    // hub.stats() walks every subscription: take it once for the whole scrape.
    this.#snapshot = this.#hub.stats();
    try {
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    } finally {
      this.#snapshot = undefined;
    }
  }
}
