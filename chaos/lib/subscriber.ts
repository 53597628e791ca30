// A subscriber that keeps books: every id it receives, across all its connections, in arrival
// order, and every `herald.gap` the hub told it about. It reconnects the way EventSource does
// (with the last event id it saw) whenever the harness drops it or the hub ends its stream.
// Given several hub addresses (`origins`), it fails over to the next one when its hub goes away
// or refuses it, as a client with a list of hubs does.
// Parsing uses the independent eventsource-parser package, not Herald's own parser.
import { type ClientRequest, get, type IncomingMessage } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** A `herald.gap` as the subscriber saw it. */
export interface GapRecord {
  /** What the gap event said the client asked for. */
  lastEventId: string;
  /** The oldest id the hub still had (`null` when its history was empty). */
  oldestAvailable: string | null;
  /** How many ids the subscriber had received before the gap (index into `received`). */
  at: number;
}

/** Options of an {@link AccountingSubscriber}. */
export interface SubscriberOptions {
  /** Hub base URL. */
  url: string;
  /** Topic selectors. */
  topics: readonly string[];
  /** A subscriber JWT, sent as `Authorization: Bearer`. */
  token?: string;
  /** Keep every received id (default true); off, only counts are kept. */
  record?: boolean;
  /** Called for each event (not for gaps), e.g. to measure latency. */
  onEvent?: (event: EventSourceMessage, receivedAt: number) => void;
  /** Send the last id as the `lastEventID` query parameter instead of the header, sometimes. */
  resumeViaQuery?: () => boolean;
  /**
   * Delay before reconnecting after the hub ended the stream or refused the request (429/503);
   * default 50 ms. The harness's own drops reconnect when the harness says.
   */
  reconnectDelayMs?: number;
  /**
   * The hub addresses, in order of preference, for a client that knows several nodes (how a
   * client with a list of hubs, or DNS round robin, fails over). When given, `url` is unused:
   * a connection goes to the current entry; a refusal, a connection that fails before an
   * answer, or a stream the hub ended moves to the next entry (wrapping around); a
   * {@link AccountingSubscriber.drop} by the harness starts again from the first.
   */
  origins?: () => readonly string[];
  /** Called when a connection got its 200, with where it went and the id it resumed after. */
  onOpen?: (open: OpenRecord) => void;
  /** The local address to connect from (e.g. `127.0.0.5`: the hub counts it as that client). */
  localAddress?: string;
}

/** One connection that got a 200. */
export interface OpenRecord {
  /** The hub address it went to. */
  origin: string;
  /** The Last-Event-ID it sent (`''` for none). */
  lastEventId: string;
  /** `performance.now()` when the answer came. */
  at: number;
  /** Events received before it (over all earlier connections). */
  eventsBefore: number;
}

/**
 * One logical subscriber (what an EventSource is to a page): many connections over time, one
 * record of what arrived.
 */
export class AccountingSubscriber {
  /** Ids received, in arrival order, across connections (empty when `record` is off). */
  readonly received: string[] = [];
  /** `herald.gap` events received. */
  readonly gaps: GapRecord[] = [];
  /** Events received (counted even when not recorded). */
  events = 0;
  /** Connections opened that got a 200. */
  connections = 0;
  /** Streams the hub ended (not dropped by the harness). */
  serverClosed = 0;
  /** Non-200 answers, by status. */
  readonly refused = new Map<number, number>();
  /** The last event id seen, as EventSource keeps it. */
  lastEventId = '';
  /** Every connection that got a 200, in order. */
  readonly opens: OpenRecord[] = [];

  readonly #options: SubscriberOptions;
  #req: ClientRequest | undefined;
  #open = false;
  #stopped = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #waiters: Array<{ check: () => boolean; resolve: () => void }> = [];
  /** Index into `origins()` of the next connection. */
  #originIndex = 0;

  constructor(options: SubscriberOptions) {
    this.#options = options;
  }

  /** Whether a stream is open now. */
  get open(): boolean {
    return this.#open;
  }

  /** Whether a connection is being made or is open. */
  get active(): boolean {
    return this.#req !== undefined;
  }

  /** Where the next (or the open) connection goes. */
  get origin(): string {
    const origins = this.#options.origins?.();
    if (origins === undefined || origins.length === 0) return this.#options.url;
    return origins[this.#originIndex % origins.length]!;
  }

  /** With `origins`: the next connection tries the next hub. */
  #failOver(): void {
    if (this.#options.origins !== undefined) this.#originIndex++;
  }

  /** Whether `id` has been received (needs `record`). */
  has(id: string): boolean {
    return this.received.includes(id);
  }

  /**
   * Opens a connection (resuming after {@link lastEventId}); resolves once the hub answered 200
   * (its subscription is then registered), or after a refusal was scheduled for a retry.
   */
  connect(): Promise<void> {
    if (this.#stopped || this.#req !== undefined) return Promise.resolve();
    if (this.#reconnectTimer !== undefined) {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    }
    const params = new URLSearchParams();
    for (const topic of this.#options.topics) params.append('topic', topic);
    const headers: Record<string, string> = {};
    if (this.#options.token !== undefined) headers.authorization = `Bearer ${this.#options.token}`;
    if (this.lastEventId !== '') {
      if (this.#options.resumeViaQuery?.() === true) params.set('lastEventID', this.lastEventId);
      // As EventSource sends it: "encoded as UTF-8" (node:http takes header bytes as latin1).
      else headers['last-event-id'] = Buffer.from(this.lastEventId, 'utf8').toString('latin1');
    }
    const origin = this.origin;
    const resumeAfter = this.lastEventId;
    return new Promise((resolve) => {
      const req = get(
        `${origin}/.well-known/mercure?${params}`,
        { headers, agent: false, localAddress: this.#options.localAddress },
        (res) => {
          if (req !== this.#req) {
            res.destroy();
            resolve();
            return;
          }
          if (res.statusCode !== 200) {
            this.refused.set(res.statusCode ?? 0, (this.refused.get(res.statusCode ?? 0) ?? 0) + 1);
            res.resume();
            this.#req = undefined;
            req.destroy();
            this.#failOver();
            this.#scheduleReconnect();
            resolve();
            return;
          }
          // A client without a position takes the one the hub says the stream starts after
          // (the response's Last-Event-ID), so a drop before its first event loses nothing.
          const start = res.headers['last-event-id'];
          if (this.lastEventId === '' && typeof start === 'string' && start !== 'earliest') {
            this.lastEventId = start;
          }
          this.#open = true;
          this.connections++;
          const record: OpenRecord = {
            origin,
            lastEventId: resumeAfter,
            at: performance.now(),
            eventsBefore: this.events,
          };
          this.opens.push(record);
          this.#options.onOpen?.(record);
          this.#read(req, res);
          resolve();
        },
      );
      this.#req = req;
      req.on('error', () => {
        // A drop by the harness, or the hub went away: the 'close' handling decides.
        resolve();
      });
      req.on('close', () => {
        if (req !== this.#req) return;
        // Closed before any answer (connection refused or reset).
        this.#req = undefined;
        this.#open = false;
        this.#failOver();
        this.#scheduleReconnect();
        resolve();
      });
    });
  }

  #read(req: ClientRequest, res: IncomingMessage): void {
    const record = this.#options.record !== false;
    const onEvent = this.#options.onEvent;
    const parser = createParser({
      onEvent: (event) => {
        if (event.event === 'herald.gap') {
          const info = JSON.parse(event.data) as {
            lastEventId: string;
            oldestAvailable: string | null;
          };
          this.gaps.push({ ...info, at: this.received.length });
          return;
        }
        if (event.id !== undefined) this.lastEventId = event.id;
        this.events++;
        if (record) this.received.push(event.id ?? '');
        onEvent?.(event, performance.now());
        this.#wake();
      },
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => parser.feed(chunk));
    const ended = (): void => {
      if (req !== this.#req) return;
      // The hub ended the stream (overflow, shutdown): reconnect as EventSource would.
      this.#req = undefined;
      this.#open = false;
      this.serverClosed++;
      this.#failOver();
      this.#scheduleReconnect();
    };
    res.on('end', ended);
    res.on('close', ended);
    res.on('error', () => {});
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#reconnectTimer !== undefined) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.connect();
    }, this.#options.reconnectDelayMs ?? 50);
  }

  /**
   * Drops the connection abruptly, as a network failure would (possibly in the middle of an
   * event). Does not reconnect: call {@link connect} when the harness decides (with `origins`,
   * that connection goes to the first of them again).
   */
  drop(): void {
    const req = this.#req;
    this.#req = undefined;
    this.#open = false;
    this.#originIndex = 0;
    if (this.#reconnectTimer !== undefined) {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    }
    req?.destroy();
  }

  /** Resolves once `check()` holds; checked after every event. */
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.check()) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Stops for good: drops the connection and never reconnects. */
  stop(): void {
    this.#stopped = true;
    this.drop();
  }
}
