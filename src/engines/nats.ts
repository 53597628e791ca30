/**
 * The NATS JetStream engine: every hub node appends to, replays from and listens to one
 * JetStream stream, so all nodes see the same events in the same order.
 *
 * **Positions and ids.** The stream sequence is the position: JetStream orders it across every
 * node and keeps it across server restarts (file storage). A generated SSE id is
 * `<epoch>-<sequence>`, where `<epoch>` comes from the stream's creation time, so a stream that
 * is created again (deleted, or memory-stored across a server restart) never hands out an id
 * that names a different event. Custom ids starting with `<epoch>-` are refused.
 *
 * **Subjects** (see `nats-codec.ts`). Events with a generated id go to `<prefix>.event`; an event
 * with a custom id goes to `<prefix>.id.<sha256 of the id>` with `Nats-Expected-Last-Subject-
 * Sequence: 0`, so the server itself refuses it while an event with that id is retained
 * (`DUPLICATE_ID`), atomically across nodes, and `resolve` is one "last message on that subject"
 * lookup. Each event is stored once, whatever its number of topics; topics are matched by the hub.
 *
 * **Live delivery** is one ordered consumer per node, from the sequence after the last one it
 * delivered, for this node's own appends too (an event is delivered once, by the reader, never by
 * `append`). When the connection drops, the reader stops; after reconnecting (with backoff) it
 * starts a new ordered consumer after the last delivered sequence, so events other nodes
 * published meanwhile arrive late but in order, none twice (sequences at or below the last
 * delivered one are dropped). The reader is `nats-live.ts`.
 *
 * **History and latest** read sequence ranges through a short-lived consumer pulled with
 * `no_wait` (`nats-range.ts`); the stream's first and last sequences come from stream info.
 *
 * **Bounds.** Without retention classes they are the stream's own limits, enforced by the
 * server: `max_msgs` (`maxEvents`), `max_bytes` (`maxBytes`, as NATS counts a stored message:
 * subject, headers and payload) and `max_age` (`ttlMs`, ≥ 100 ms, expired by the server on a
 * timer, also while idle); `discard: old`. An event that alone exceeds `max_bytes` is refused
 * (JetStream would store it and evict everything). At start, an existing stream's limits are set
 * to the engine's options when they differ: the node started last decides.
 *
 * **With retention classes** (`retention`) the server's limits would still evict the oldest
 * events of any class, so the stream has none and the engine bounds each class itself (the
 * default class by `maxEvents` / `maxBytes`, every class by `ttlMs`). Each node indexes what its
 * live reader sees (sequence, size, time, class; at start it reads the stream's subjects and
 * headers once) and, after its own appends or on a timer for the age bound, trims a class that
 * is over its bounds by more than 2 %: it first raises the class's marker — the newest sequence
 * it evicted, in a stream of its own, `<stream>-lost` — then deletes the class's events up to
 * there, one message at a time (a `purge` with a subject filter would also move every unfiltered
 * consumer past the purged sequence: the live reader and history reads would skip other classes'
 * events). Readers read the markers after they read events, so `history` knows which classes
 * lost events after its start point (`found`), and the live reader which classes a sequence
 * jump belongs to (`onGap`).
 *
 * **Faults.** While the connection is down, `append` and reads reject at once with
 * `UNAVAILABLE` and `health()` is not ready; requests in flight when it drops reject
 * `UNAVAILABLE` too (an append among them may still have been stored). Nothing is queued.
 *
 * @packageDocumentation
 */

import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import {
  connect,
  headers,
  type NatsConnection,
  type NodeConnectionOptions,
  nanos,
} from '@nats-io/transport-node';
import {
  checkRetentionClasses,
  compareDecimal,
  DEFAULT_RETENTION_CLASS,
  EARLIEST,
  type Engine,
  type EngineEvent,
  type EngineEventInput,
  type EngineGap,
  type EngineGapListener,
  type EngineHealth,
  type EngineListener,
  EngineListeners,
  type EngineStats,
  eventSize,
  HeraldEngineError,
  type HistoryQuery,
  type HistoryResult,
  type LatestQuery,
  type LatestResult,
  type RetentionClass,
  retentionClassOf,
  validateEventInput,
} from './engine.js';
import {
  backoffDelay,
  byteBoundOption,
  delay,
  EngineLifecycle,
  integerOption,
} from './lifecycle.js';
import {
  ackTime,
  CLASS_HEADER,
  classOfLostSubject,
  classOfSubject,
  decodePayload,
  encodePayload,
  epochOf,
  eventSubject,
  idSubject,
  lostStreamOf,
  lostSubject,
  parseSequence,
  UNATTRIBUTED,
} from './nats-codec.js';
import { type LiveReaderHost, NatsLiveReader } from './nats-live.js';
import { type RangeMessage, readRange } from './nats-range.js';
import { Ring } from './ring.js';

/** Default {@link NatsEngineOptions.stream}. */
export const DEFAULT_NATS_STREAM = 'herald';
/** Default {@link NatsEngineOptions.maxEvents}. */
export const DEFAULT_NATS_MAX_EVENTS = 10_000;

/** Options of {@link natsEngine}. */
export interface NatsEngineOptions {
  /**
   * `nats://[user:password@]host[:port]` of the server, or several `host:port` separated by
   * commas (one cluster). A user without password is sent as a token. Default
   * `nats://127.0.0.1:4222`.
   */
  url?: string;
  /**
   * More connection options for `@nats-io/transport-node`'s `connect` (TLS, credentials, name,
   * inbox prefix…). The engine sets `servers` and the reconnection policy itself.
   */
  connectionOptions?: Omit<
    NodeConnectionOptions,
    'servers' | 'reconnect' | 'maxReconnectAttempts' | 'waitOnFirstConnect' | 'port'
  >;
  /**
   * A connection to use instead of `url`. The engine leaves it open on `close()`. Give it
   * `maxReconnectAttempts: -1` so that it keeps reconnecting.
   */
  connection?: NatsConnection;
  /** The stream's name (no `.`, `*`, `>`, spaces). Default `herald`. */
  stream?: string;
  /**
   * The subject prefix of the stream's subjects (`<prefix>.>`), one or more tokens without
   * wildcards. Default: the stream name.
   */
  subjectPrefix?: string;
  /**
   * Most events kept (≥ 1): the stream's `max_msgs`, or, with retention classes, the default
   * class's bound (which the engine keeps, exceeding it by at most 2 % between two trims).
   * Default 10 000.
   */
  maxEvents?: number;
  /**
   * Most bytes kept in the default class (approximately as NATS counts stored messages:
   * subject, headers and payload). A single event whose `eventSize` is larger is refused with
   * `EVENT_TOO_LARGE`. Default: no byte bound.
   */
  maxBytes?: number;
  /** Events older than this many milliseconds are removed. Default `0`: none. */
  ttlMs?: number;
  /**
   * Retention classes: topics whose history is bounded on its own (see `RetentionClass`;
   * bounds default to `maxEvents` / `maxBytes`). Give every node the same classes. Default: none.
   */
  retention?: readonly RetentionClass[];
  /** Where a newly created stream keeps messages. Default `file` (survives restarts). */
  storage?: 'file' | 'memory';
  /** Replicas of a newly created stream (clustered JetStream). Default 1. */
  replicas?: number;
  /** Messages per pull when reading history. Default 500. */
  pageSize?: number;
  /** How long one JetStream request may take, in milliseconds. Default 5 000. */
  requestTimeoutMs?: number;
  /** Longest pause between reconnection attempts, in milliseconds. Default 2 000. */
  maxBackoffMs?: number;
  /**
   * Client ping period in milliseconds: a silent network cut is noticed after about two of
   * them. Default 10 000.
   */
  pingIntervalMs?: number;
  /**
   * Called when a listener throws; the other listeners still run. Default: rethrow in a
   * microtask, where it surfaces as an uncaught exception.
   */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
  /**
   * Called when the live reader finds that events after the last one it delivered were removed
   * before it could read them (it was disconnected longer than `ttlMs`, or more than
   * `maxEvents` behind; or the stream was created again): those events are not delivered live.
   * Default: a process warning.
   */
  onLiveGap?: (lastDelivered: string, next: string) => void;
}

/** The NATS JetStream {@link Engine}. */
export interface NatsEngine extends Engine {
  /** Resolves once the stream exists and the live reader runs (appends wait for it too). */
  readonly ready: Promise<void>;
}

/**
 * Creates a NATS JetStream engine. It connects at once and creates the stream when missing;
 * `append` waits for the first connection, then fails fast while NATS is unreachable.
 *
 * @param options - connection, stream and bounds
 * @throws {@link HeraldEngineError} `INVALID_OPTIONS`
 */
export function natsEngine(options: NatsEngineOptions = {}): NatsEngine {
  return new JetStreamEngine(options);
}

const STREAM_NAME = /^[^.*>\s/\\]+$/;
const SUBJECT_PREFIX = /^[^.*>\s]+(\.[^.*>\s]+)*$/;

const option = (name: string, value: number | undefined, fallback: number, min = 0): number =>
  integerOption('natsEngine', name, value, fallback, min);

/** Splits a `nats://` URL into servers and credentials. */
function parseUrl(url: string): { servers: string[]; user?: string; pass?: string } {
  const bad = (): never => {
    throw new HeraldEngineError(
      'INVALID_OPTIONS',
      `natsEngine: url must look like nats://[user:password@]host[:port][,host:port…] (got ${JSON.stringify(url)})`,
    );
  };
  const m = /^nats:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/i.exec(url);
  if (m === null) return bad();
  const servers = m[2]!.split(',').map((s) => s.trim());
  if (servers.some((s) => s === '')) bad();
  const out: { servers: string[]; user?: string; pass?: string } = { servers };
  if (m[1] !== undefined && m[1] !== '') {
    const i = m[1].indexOf(':');
    out.user = decodeURIComponent(i === -1 ? m[1] : m[1].slice(0, i));
    if (i !== -1) out.pass = decodeURIComponent(m[1].slice(i + 1));
  }
  return out;
}

/**
 * About what NATS counts for a stored message: subject, headers (~60 bytes for the expected
 * sequence of a custom-id event), payload and up to 30 bytes of record overhead.
 */
function storedSize(subject: string, payloadBytes: number, custom: boolean): number {
  return subject.length + (custom ? 64 : 0) + payloadBytes + 32;
}

interface Deferred {
  promise: Promise<never>;
  reject(error: unknown): void;
}

function rejectable(): Deferred {
  let reject!: (error: unknown) => void;
  const promise = new Promise<never>((_, r) => {
    reject = r;
  });
  promise.catch(() => {});
  return { promise, reject };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The stream state history needs, from one stream info. */
interface Bounds {
  /** First retained sequence (last + 1 when empty). */
  first: number;
  /** Last sequence handed out (0 when none). */
  last: number;
}

/** What a node knows of one retained event, for trimming. */
interface IndexEntry {
  readonly seq: number;
  readonly size: number;
  readonly time: number;
}

/** One retention class as this node indexes and trims it. */
interface Bucket {
  readonly name: string;
  /** Its token in event subjects (`undefined` for the default class). */
  readonly token: string | undefined;
  readonly maxEvents: number;
  readonly maxBytes: number;
  /** How far over its bounds it may go before a trim (a trim costs a few requests). */
  readonly slackEvents: number;
  readonly slackBytes: number;
  readonly entries: Ring<IndexEntry>;
  bytes: number;
  trimming: Promise<void> | undefined;
  again: boolean;
}

/** A JetStream API error that says a message is already gone. */
function isGone(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause ?? error;
  return cause instanceof JetStreamApiError;
}

class JetStreamEngine implements NatsEngine {
  readonly name = 'nats';
  readonly ready: Promise<void>;
  readonly #stream: string;
  readonly #prefix: string;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly retention: readonly RetentionClass[];
  /** Every class this node bounds, by name (the default class's is `default`). */
  readonly #buckets = new Map<string, Bucket>();
  readonly #bucketOf = new Map<RetentionClass, Bucket>();
  readonly #defaultBucket: Bucket;
  /** The stream of the classes' markers (see `nats-codec.ts`). */
  readonly #lostStream: string;
  /** Whether the engine bounds classes itself (with retention classes) or the stream does. */
  readonly #managed: boolean;
  readonly #gapListeners = new Set<EngineGapListener>();
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Sequences this node appended that its live reader has not indexed yet. */
  readonly #own = new Set<number>();
  readonly #storage: 'file' | 'memory';
  readonly #replicas: number;
  readonly #pageSize: number;
  readonly #timeoutMs: number;
  readonly #maxBackoffMs: number;
  readonly #pingIntervalMs: number;
  readonly #url: string;
  readonly #connectionOptions: NatsEngineOptions['connectionOptions'];
  readonly #onLiveGap: (lastDelivered: string, next: string) => void;
  readonly #listeners: EngineListeners;

  #nc: NatsConnection | undefined;
  readonly #ownsNc: boolean;
  #js!: JetStreamClient;
  #jsm!: JetStreamManager;
  /**
   * Started (the stream exists and the live reader knows where to start), closed, and whom to
   * tell when the connection drops or the engine closes: requests in flight (which then
   * reject), reads (aborted), pauses (cut short).
   */
  readonly #life = new EngineLifecycle('nats');
  readonly #closing = rejectable();
  #connected = false;
  #lastError = '';
  /** Rejects when the first connection attempt fails: calls then fail fast, not wait. */
  readonly #firstFailure = rejectable();
  #reconnectAttempts = 0;
  #statusIterator: { stop?: () => void } | undefined;
  #watched: NatsConnection | undefined;
  /** The live reader (`nats-live.ts`). */
  readonly #reader: NatsLiveReader;
  #created = '';
  #idPrefix = '';
  // Best-effort stats, from stream infos and deliveries.
  #events = 0;
  #bytes = 0;
  #oldest: string | null = null;
  #newest: string | null = null;
  #statsAt = 0;
  #loopDone: Promise<void> = Promise.resolve();

  constructor(options: NatsEngineOptions) {
    this.#stream = options.stream ?? DEFAULT_NATS_STREAM;
    if (typeof this.#stream !== 'string' || !STREAM_NAME.test(this.#stream)) {
      throw new HeraldEngineError(
        'INVALID_OPTIONS',
        `natsEngine: stream must be a name without ".", "*", ">", "/", "\\" or spaces (got ${JSON.stringify(this.#stream)})`,
      );
    }
    this.#prefix = options.subjectPrefix ?? this.#stream;
    if (typeof this.#prefix !== 'string' || !SUBJECT_PREFIX.test(this.#prefix)) {
      throw new HeraldEngineError(
        'INVALID_OPTIONS',
        `natsEngine: subjectPrefix must be dot-separated tokens without "*", ">" or spaces (got ${JSON.stringify(this.#prefix)})`,
      );
    }
    const maxEvents = option('maxEvents', options.maxEvents, DEFAULT_NATS_MAX_EVENTS, 1);
    const bytes = (name: string, value: number | undefined, fallback: number): number =>
      byteBoundOption('natsEngine', name, value, fallback);
    this.#maxBytes = bytes('maxBytes', options.maxBytes, Number.POSITIVE_INFINITY);
    this.retention = checkRetentionClasses('natsEngine', options.retention);
    const bucket = (
      name: string,
      token: string | undefined,
      events: number,
      b: number,
    ): Bucket => ({
      name,
      token,
      maxEvents: events,
      maxBytes: b,
      slackEvents: Math.max(1, Math.ceil(events / 50)),
      slackBytes: Number.isFinite(b) ? Math.ceil(b / 50) : 0,
      entries: new Ring(),
      bytes: 0,
      trimming: undefined,
      again: false,
    });
    for (const c of this.retention) {
      const b = bucket(
        c.name,
        c.name,
        option(`retention "${c.name}" maxEvents`, c.maxEvents, maxEvents, 1),
        bytes(`retention "${c.name}" maxBytes`, c.maxBytes, this.#maxBytes),
      );
      this.#buckets.set(c.name, b);
      this.#bucketOf.set(c, b);
    }
    this.#defaultBucket = bucket(DEFAULT_RETENTION_CLASS, undefined, maxEvents, this.#maxBytes);
    this.#buckets.set(DEFAULT_RETENTION_CLASS, this.#defaultBucket);
    this.#ttlMs = option('ttlMs', options.ttlMs, 0);
    this.#managed = this.retention.length > 0;
    this.#lostStream = lostStreamOf(this.#stream);
    this.#maxEvents = maxEvents;
    if (this.#ttlMs > 0 && this.#ttlMs < 100) {
      throw new HeraldEngineError(
        'INVALID_OPTIONS',
        `natsEngine: ttlMs must be 0 (no age bound) or at least 100, the shortest max_age JetStream accepts (got ${this.#ttlMs})`,
      );
    }
    if (
      options.storage !== undefined &&
      options.storage !== 'file' &&
      options.storage !== 'memory'
    ) {
      throw new HeraldEngineError(
        'INVALID_OPTIONS',
        `natsEngine: storage must be "file" or "memory" (got ${JSON.stringify(options.storage)})`,
      );
    }
    this.#storage = options.storage ?? 'file';
    this.#replicas = option('replicas', options.replicas, 1, 1);
    this.#pageSize = option('pageSize', options.pageSize, 500, 1);
    this.#timeoutMs = option('requestTimeoutMs', options.requestTimeoutMs, 5_000, 1);
    this.#maxBackoffMs = option('maxBackoffMs', options.maxBackoffMs, 2_000, 1);
    this.#pingIntervalMs = option('pingIntervalMs', options.pingIntervalMs, 10_000, 1);
    this.#url = options.url ?? 'nats://127.0.0.1:4222';
    if (options.connection === undefined) parseUrl(this.#url); // fail now on a bad URL
    this.#connectionOptions = options.connectionOptions;
    this.#listeners = new EngineListeners(options.onListenerError);
    this.#onLiveGap =
      options.onLiveGap ??
      ((last, next) =>
        process.emitWarning(
          `herald nats engine: events after sequence ${last} and before ${next} were removed before this node read them; raise maxEvents / ttlMs`,
        ));
    this.#nc = options.connection;
    this.#ownsNc = options.connection === undefined;
    this.#reader = new NatsLiveReader(this.#readerHost());
    const started = this.#start();
    this.ready = started.then(() => Promise.race([this.#reader.running, this.#closing.promise]));
    this.ready.catch(() => {});
    this.#loopDone = started.then(
      () => this.#reader.run(),
      () => {},
    );
  }

  /** What the live reader needs of this engine. */
  #readerHost(): LiveReaderHost {
    return {
      life: this.#life,
      stream: this.#stream,
      pageSize: this.#pageSize,
      connected: () => this.#connected,
      js: () => this.#js,
      guard: (promise) => this.#guard(promise),
      ensureStream: () => this.#ensureStream(false),
      adopt: (info) => this.#adopt(info),
      streamReplaced: async () => {
        for (const b of this.#buckets.values()) {
          b.entries.clear();
          b.bytes = 0;
        }
        // Its markers were about the other stream.
        if (this.#managed) await this.#dropStaleMarkers();
      },
      classesLostAfter: (after) => this.#classesLostAfter(after),
      onLiveGap: (last, next) => this.#onLiveGap(last, next),
      reportGap: (gap) => this.#reportGap(gap),
      deliver: (m) => {
        const seq = m.seq;
        if (this.#newest === null || Number(this.#newest) < seq) this.#newest = String(seq);
        if (this.#managed) {
          const time = m.info.timestampNanos / 1e6;
          this.#index(seq, m.subject, m.headers?.get(CLASS_HEADER), m.data.byteLength, time);
        }
        const event = this.#toEvent(seq, m.data);
        if (event !== undefined) this.#listeners.deliver(event);
      },
      noteError: (text) => {
        this.#lastError = text;
      },
      firstFailure: (error) => this.#firstFailure.reject(error),
      backoff: (attempt) => this.#backoff(attempt),
    };
  }

  // -- connection and stream ------------------------------------------------------------------

  #backoff(attempt: number): number {
    return backoffDelay(attempt, this.#maxBackoffMs);
  }

  async #connect(): Promise<NatsConnection> {
    const { servers, user, pass } = parseUrl(this.#url);
    const options: NodeConnectionOptions = {
      name: 'herald',
      timeout: this.#timeoutMs,
      pingInterval: this.#pingIntervalMs,
      maxPingOut: 2,
      ...this.#connectionOptions,
      servers,
      reconnect: true,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: false,
      // Exponential backoff, reset by every successful reconnection (see #watch).
      reconnectDelayHandler: () => this.#backoff(this.#reconnectAttempts++),
    };
    if (user !== undefined && pass !== undefined) Object.assign(options, { user, pass });
    else if (user !== undefined) options.token = user;
    return connect(options);
  }

  /** Connects, makes sure the stream exists, and finds where live delivery starts: now. */
  async #start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.#life.closed) throw this.#life.closedError();
      let nc: NatsConnection | undefined;
      try {
        nc = this.#nc ?? (await this.#connect());
        this.#nc = nc;
        this.#life.assertOpen();
        this.#jsm = await jetstreamManager(nc, { timeout: this.#timeoutMs });
        this.#js = jetstream(nc, { timeout: this.#timeoutMs });
        this.#connected = !nc.isClosed();
        this.#watch(nc);
        const info = await this.#ensureStream(true);
        this.#life.assertOpen();
        this.#adopt(info);
        if (this.#managed) {
          await this.#startLost(info);
          await this.#loadIndex(info);
        }
        this.#life.assertOpen();
        this.#reader.lastSeen = info.state.last_seq;
        this.#life.markStarted();
        if (this.#managed && this.#ttlMs > 0) {
          const period = Math.min(Math.max(this.#ttlMs, 1000), 60_000);
          this.#sweepTimer = setInterval(() => {
            for (const b of this.#buckets.values()) this.#scheduleTrim(b);
          }, period);
          this.#sweepTimer.unref();
        }
        return;
      } catch (error) {
        if (!this.#life.closed) {
          this.#lastError = message(error);
          if (/jetstream is not enabled/i.test(this.#lastError)) {
            this.#lastError += ': start nats-server with JetStream (-js)';
          }
          this.#firstFailure.reject(
            error instanceof HeraldEngineError
              ? error
              : new Error(this.#lastError, { cause: error }),
          );
        }
        // close() does not wait for a start under way: the start cleans up after itself.
        if (this.#ownsNc && nc !== undefined) {
          this.#statusIterator?.stop?.();
          this.#watched = undefined;
          this.#nc = undefined;
          this.#connected = false;
          await nc.close().catch(() => {});
        }
        if (this.#life.closed) throw this.#life.closedError();
        await this.#life.sleep(this.#backoff(attempt));
      }
    }
  }

  /** Follows the connection's status: readiness, fail-fast, restarting the live reader. */
  #watch(nc: NatsConnection): void {
    if (this.#watched === nc) return;
    this.#watched = nc;
    const statuses = nc.status();
    this.#statusIterator = statuses as { stop?: () => void };
    void (async () => {
      try {
        for await (const s of statuses) {
          if (this.#life.closed) return;
          switch (s.type) {
            case 'disconnect':
              this.#lostConnection('disconnected from nats');
              break;
            case 'reconnect':
              this.#reconnectAttempts = 0;
              this.#connected = true;
              this.#reader.wake();
              break;
            case 'staleConnection':
              this.#lostConnection('nats stopped answering pings');
              break;
            case 'error':
              this.#lastError = message(s.error);
              break;
            case 'close':
              this.#lostConnection('the nats connection was closed');
              return;
          }
        }
      } catch {
        // the iterator ends with the connection
      }
    })();
  }

  #lostConnection(reason: string): void {
    this.#lastError = reason;
    const wasConnected = this.#connected;
    this.#connected = false;
    if (wasConnected) this.#life.interrupt(this.#unavailable(reason));
    this.#reader.lost();
  }

  #streamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: this.#stream,
      subjects: [`${this.#prefix}.>`],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      storage: this.#storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: this.#replicas,
      ...this.#limits(),
    };
  }

  /**
   * The stream's own limits: the bounds, or none with retention classes (the server would
   * evict the oldest events of any class, and without a marker: see `#trim`).
   */
  #limits(): Pick<StreamConfig, 'max_msgs' | 'max_bytes' | 'max_age'> {
    if (this.#managed) return { max_msgs: -1, max_bytes: -1, max_age: 0 };
    return {
      max_msgs: this.#maxEvents,
      max_bytes: Number.isFinite(this.#maxBytes) ? this.#maxBytes : -1,
      max_age: nanos(this.#ttlMs),
    };
  }

  /**
   * Creates the stream when missing. At start (`align`), an existing stream's limits are
   * brought in line with the options: the node started last decides.
   */
  async #ensureStream(align: boolean): Promise<StreamInfo> {
    let info: StreamInfo;
    try {
      info = await this.#jsm.streams.info(this.#stream);
    } catch (error) {
      if (
        !(error instanceof JetStreamApiError) ||
        error.code !== JetStreamApiCodes.StreamNotFound
      ) {
        throw error;
      }
      try {
        return await this.#jsm.streams.add(this.#streamConfig());
      } catch (addError) {
        // Another node may have created it at the same moment (with other limits).
        info = await this.#jsm.streams.info(this.#stream).catch(() => {
          throw addError;
        });
      }
    }
    const subject = `${this.#prefix}.>`;
    const subjects = info.config.subjects ?? [];
    if (subjects.length !== 1 || subjects[0] !== subject) {
      throw new HeraldEngineError(
        'INVALID_OPTIONS',
        `the nats stream "${this.#stream}" exists with subjects ${JSON.stringify(subjects)}, but Herald needs a stream of its own with subjects ["${subject}"]: choose another stream name or subject prefix`,
      );
    }
    const limits = this.#limits();
    if (
      align &&
      (info.config.max_msgs !== limits.max_msgs ||
        info.config.max_bytes !== limits.max_bytes ||
        info.config.max_age !== limits.max_age)
    ) {
      info = await this.#jsm.streams.update(this.#stream, limits);
    }
    return info;
  }

  /** Takes the epoch of `info`'s stream; tells whether it is another stream than before. */
  #adopt(info: StreamInfo): boolean {
    const changed = this.#created !== '' && this.#created !== info.created;
    this.#created = info.created;
    this.#idPrefix = `${epochOf(info.created)}-`;
    this.#noteState(info);
    return changed;
  }

  #noteState(info: StreamInfo): void {
    const s = info.state;
    this.#events = s.messages;
    this.#bytes = s.bytes;
    this.#oldest = s.messages > 0 ? String(s.first_seq) : null;
    if (s.last_seq > 0 && (this.#newest === null || Number(this.#newest) < s.last_seq)) {
      this.#newest = String(s.last_seq);
    }
    this.#statsAt = Date.now();
  }

  // -- Engine ---------------------------------------------------------------------------------

  async append(input: EngineEventInput): Promise<EngineEvent> {
    this.#life.assertOpen();
    validateEventInput(input);
    const customId = input.id;
    const cls = retentionClassOf(this.retention, input.topics);
    const bucket = cls === undefined ? this.#defaultBucket : this.#bucketOf.get(cls)!;
    const what =
      cls === undefined ? 'this engine accepts' : `retention class "${bucket.name}" accepts`;
    const probeSize = eventSize(input, customId ?? 'xxxxxxxx-0000000000');
    if (probeSize > bucket.maxBytes) {
      throw new HeraldEngineError(
        'EVENT_TOO_LARGE',
        `the event takes ${probeSize} bytes but ${what} at most ${bucket.maxBytes} (maxBytes); publish smaller events or raise maxBytes`,
      );
    }
    await this.#whenStarted();
    if (customId?.startsWith(this.#idPrefix)) {
      throw new HeraldEngineError(
        'INVALID_EVENT',
        `custom id ${JSON.stringify(customId)} is reserved: ids starting with "${this.#idPrefix}" are generated by this engine; choose another id`,
      );
    }
    const time = Date.now();
    const payload = encodePayload(input, time);
    const subject =
      customId === undefined
        ? eventSubject(this.#prefix, bucket.token)
        : idSubject(this.#prefix, customId);
    const maxPayload = this.#nc?.info?.max_payload;
    if (maxPayload !== undefined && payload.byteLength + 256 > maxPayload) {
      throw new HeraldEngineError(
        'EVENT_TOO_LARGE',
        `the event takes ${payload.byteLength} bytes but the nats server accepts messages of at most ${maxPayload} bytes (max_payload); publish smaller events or raise max_payload`,
      );
    }
    // JetStream stores a message larger than max_bytes, then evicts everything, itself included:
    // refuse it. Stored size: subject, headers (~60 bytes for the expected-sequence header),
    // payload and up to 30 bytes of record overhead.
    const stored = storedSize(subject, payload.byteLength, customId !== undefined);
    if (stored > bucket.maxBytes) {
      throw new HeraldEngineError(
        'EVENT_TOO_LARGE',
        `the event takes ${stored} bytes in the nats stream but ${what} at most ${bucket.maxBytes} (maxBytes); publish smaller events or raise maxBytes`,
      );
    }
    let seq: number;
    try {
      let h: ReturnType<typeof headers> | undefined;
      if (customId !== undefined && bucket.token !== undefined) {
        h = headers();
        h.set(CLASS_HEADER, bucket.token);
      }
      const ack = await this.#guard(
        this.#js.publish(subject, payload, {
          timeout: this.#timeoutMs,
          ...(h === undefined ? {} : { headers: h }),
          // The server refuses the event while one with this id is retained: atomic across nodes.
          ...(customId === undefined ? {} : { expect: { lastSubjectSequence: 0 } }),
        }),
      );
      seq = ack.seq;
    } catch (error) {
      if (error instanceof HeraldEngineError && error.code === 'UNAVAILABLE') {
        const cause = (error as { cause?: unknown }).cause;
        if (
          cause instanceof JetStreamApiError &&
          cause.code === JetStreamApiCodes.StreamWrongLastSequence
        ) {
          throw new HeraldEngineError(
            'DUPLICATE_ID',
            `an event with id ${JSON.stringify(customId)} is still in history; ids identify one event for replay, so use a new id (or omit it to get a generated one)`,
          );
        }
      }
      throw error;
    }
    if (this.#newest === null || Number(this.#newest) < seq) this.#newest = String(seq);
    if (this.#managed) {
      // Trim once the index holds the event: now, or when the live reader brings it.
      if (this.#reader.lastSeen >= seq) this.#scheduleTrim(bucket);
      else this.#own.add(seq);
    }
    const id = customId ?? this.#idPrefix + seq;
    return {
      position: String(seq),
      id,
      customId: customId !== undefined,
      topics: input.topics.slice(),
      data: input.data,
      type: input.type,
      retry: input.retry,
      private: input.private === true,
      time,
      size: eventSize(input, id),
    };
  }

  onEvent(listener: EngineListener): () => void {
    this.#life.assertOpen();
    return this.#listeners.add(listener);
  }

  async history(query: HistoryQuery): Promise<HistoryResult> {
    this.#life.assertOpen();
    const { after, match, concerns, limit = Number.POSITIVE_INFINITY } = query;
    const maxBytes = query.maxBytes ?? Number.POSITIVE_INFINITY;
    let bytes = 0;
    await this.#whenStarted();
    // Locate first, then read the markers: a custom id that no longer resolves was deleted after
    // its class's marker was raised, so the markers read next cover it.
    const located =
      after === EARLIEST
        ? undefined
        : typeof after === 'string'
          ? query.visible === undefined
            ? await this.#locateId(after)
            : await this.#locateVisible(after, query.visible)
          : parseSequence(after.position);
    const bounds = await this.#bounds();
    let start: number; // read strictly after this sequence
    let found: boolean | undefined; // undefined: decided by the markers read after the read
    if (after === EARLIEST) {
      found = true;
      start = bounds.first - 1;
    } else if (
      located !== undefined &&
      located <= bounds.last &&
      (this.#managed || located >= bounds.first - 1)
    ) {
      // A sequence that was handed out: complete unless a class the reader cares about
      // evicted something after it (markers announce every eviction, by class; without
      // classes, the stream's limits evict from the front, so the start must be retained or
      // the newest evicted).
      start = located;
    } else {
      // Unknown: start after everything evicted, so that nothing the client saw comes again.
      found = false;
      start = bounds.first - 1;
      if (this.#managed)
        for (const upTo of (await this.#readLost()).values()) start = Math.max(start, upTo);
    }
    const events: EngineEvent[] = [];
    let cursor = start;
    let more = false;
    // The oldest retained event's id: from the read when it starts there, else looked up.
    let oldest: string | null = null;
    const lookup =
      bounds.first <= bounds.last && start + 1 > bounds.first
        ? this.#oldestId(bounds.first, bounds.last)
        : undefined;
    lookup?.catch(() => {});
    await this.#read(
      start + 1,
      bounds.last,
      (seq, payload) => {
        const e = this.#toEvent(seq, payload);
        if (oldest === null && lookup === undefined && e !== undefined) oldest = e.id;
        if (events.length >= limit) {
          more = true;
          return false;
        }
        if (e !== undefined && (match === undefined || match(e))) {
          // The first event always; then as many as fit in maxBytes (the next read starts here).
          if (events.length > 0 && bytes + e.size > maxBytes) {
            more = true;
            return false;
          }
          bytes += e.size;
          events.push(e);
        }
        cursor = seq;
        return true;
      },
      limit + 1,
      Number.isFinite(maxBytes) ? maxBytes : undefined,
    ); // without a filter, one more than `limit` tells whether there is more
    if (!more && events.length >= limit && cursor < bounds.last) more = true;
    if (found === undefined) {
      found = true;
      // Markers are raised before their events are deleted: read after the events, they cover
      // every deletion the read may have missed. (Nothing after the last sequence: no loss.)
      if (this.#managed && start < bounds.last) {
        for (const [cls, upTo] of await this.#readLost()) {
          if (upTo <= start) continue;
          if (cls === UNATTRIBUTED || concerns === undefined || concerns(cls)) found = false;
        }
      }
    }
    if (lookup !== undefined) oldest = await lookup;
    return { events, found, oldest, cursor: cursor >= 1 ? String(cursor) : null, more };
  }

  async latest(query: LatestQuery): Promise<LatestResult> {
    this.#life.assertOpen();
    const { perTopic, match, limit = Number.POSITIVE_INFINITY } = query;
    await this.#whenStarted();
    const bounds = await this.#bounds();
    const picked: EngineEvent[] = [];
    const counts = new Map<string, number>();
    // Newest first, one page at a time (consumers only read forward).
    let end = bounds.last;
    while (end >= bounds.first && picked.length < limit) {
      const from = Math.max(bounds.first, end - this.#pageSize + 1);
      const page: EngineEvent[] = [];
      await this.#read(from, end, (seq, payload) => {
        const e = this.#toEvent(seq, payload);
        if (e !== undefined) page.push(e);
        return true;
      });
      for (let i = page.length - 1; i >= 0 && picked.length < limit; i--) {
        const e = page[i]!;
        let take = false;
        for (const topic of e.topics) {
          const n = counts.get(topic) ?? 0;
          if (n < perTopic && match(topic, e)) {
            counts.set(topic, n + 1);
            take = true;
          }
        }
        if (take) picked.push(e);
      }
      end = from - 1;
    }
    this.#life.assertOpen();
    return {
      events: picked.reverse(),
      cursor: bounds.last >= bounds.first ? String(bounds.last) : null,
    };
  }

  async resolve(id: string): Promise<string | undefined> {
    this.#life.assertOpen();
    await this.#whenStarted();
    const [bounds, seq] = await Promise.all([this.#bounds(), this.#locateId(id)]);
    return seq !== undefined && seq >= bounds.first && seq <= bounds.last ? String(seq) : undefined;
  }

  compare(a: string, b: string): number {
    return compareDecimal(a, b);
  }

  health(): EngineHealth {
    if (this.#life.closed) return { ready: false, reason: 'engine closed' };
    if (!this.#connected) {
      return { ready: false, reason: `nats unreachable (${this.#lastError || 'connecting'})` };
    }
    // Until the live reader knows where it starts, a subscriber could miss an event appended
    // meanwhile by another node: not ready.
    if (!this.#life.started) {
      return { ready: false, reason: `nats stream starting (${this.#lastError || 'connecting'})` };
    }
    if (!this.#reader.ok) {
      return {
        ready: false,
        reason: `nats live reader disconnected (${this.#lastError || 'starting'})`,
      };
    }
    return { ready: true };
  }

  stats(): EngineStats {
    // No I/O here: refresh in the background, at most once a second.
    if (
      this.#life.started &&
      this.#connected &&
      !this.#life.closed &&
      Date.now() - this.#statsAt > 1_000
    ) {
      this.#statsAt = Date.now();
      this.#jsm.streams.info(this.#stream).then(
        (info) => this.#noteState(info),
        () => {},
      );
    }
    const stats: EngineStats = {
      events: this.#events,
      bytes: this.#bytes,
      oldest: this.#oldest,
      newest: this.#newest,
    };
    if (this.retention.length > 0) {
      stats.classes = {};
      for (const b of this.#buckets.values()) {
        stats.classes[b.name] = { events: b.entries.length, bytes: b.bytes };
      }
    }
    return stats;
  }

  onGap(listener: EngineGapListener): () => void {
    this.#life.assertOpen();
    this.#gapListeners.add(listener);
    return () => {
      this.#gapListeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (!this.#life.close()) return;
    this.#listeners.clear();
    this.#gapListeners.clear();
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#closing.reject(this.#life.closedError());
    // Rejects every request in flight, aborts reads, cuts pauses short.
    this.#life.interrupt(this.#life.closedError());
    this.#reader.stop();
    // A connection attempt still under way closes its connection itself (see #start).
    if (!this.#life.started) return;
    await this.#loopDone;
    this.#statusIterator?.stop?.();
    if (this.#connected) {
      // Leave no consumer behind on the server (best effort, bounded by the request timeout).
      const stale = this.#reader.takeStale().map((c) => c.delete().catch(() => false));
      await Promise.race([Promise.all(stale), delay(this.#timeoutMs)]);
    }
    if (this.#ownsNc) await this.#nc?.close().catch(() => {});
  }

  // -- internals ------------------------------------------------------------------------------

  /**
   * Waits for the engine's start while the first connection attempt is under way; fails fast
   * (`UNAVAILABLE`) once an attempt failed, and whenever the connection is down.
   */
  async #whenStarted(): Promise<void> {
    if (!this.#reader.live) {
      try {
        // Settles on close too (`ready` rejects CLOSED).
        await Promise.race([this.ready, this.#firstFailure.promise]);
      } catch (error) {
        throw this.#translate(error);
      }
    }
    this.#life.assertOpen();
    if (!this.#connected) throw this.#unavailable(this.#lastError || 'disconnected');
  }

  #unavailable(reason: string, cause?: unknown): HeraldEngineError {
    const error = new HeraldEngineError(
      'UNAVAILABLE',
      `nats is unavailable (${reason}); retry once it is reachable`,
    );
    if (cause !== undefined) (error as { cause?: unknown }).cause = cause;
    return error;
  }

  /** `CLOSED` once closed; engine errors as they are; anything else `UNAVAILABLE`. */
  #translate(error: unknown): HeraldEngineError {
    if (this.#life.closed) return this.#life.closedError();
    if (error instanceof HeraldEngineError) return error;
    return this.#unavailable(message(error), error);
  }

  /**
   * Awaits a NATS call of the current connection; rejects `CLOSED` when the engine closes,
   * `UNAVAILABLE` when the connection is down or drops, or when the call fails (with the
   * original error as `cause`).
   */
  #guard<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => {});
    if (this.#life.closed) return Promise.reject(this.#life.closedError());
    if (!this.#connected) {
      return Promise.reject(this.#unavailable(this.#lastError || 'disconnected'));
    }
    return this.#life.guard(promise, (error) => this.#translate(error));
  }

  /** The stream's first and last sequences, now. */
  /** The stream's first and last sequences, now. */
  async #bounds(): Promise<Bounds> {
    const info = await this.#guard(this.#jsm.streams.info(this.#stream));
    this.#noteState(info);
    const { first_seq, last_seq, messages } = info.state;
    // A new stream reports first_seq 0; an emptied one, last_seq + 1.
    return { first: messages === 0 ? last_seq + 1 : first_seq, last: last_seq };
  }

  /** The sequence an SSE id names, if it names a retained event (custom) or any (generated). */
  async #locateId(id: string): Promise<number | undefined> {
    if (id.startsWith(this.#idPrefix)) {
      const seq = parseSequence(id.slice(this.#idPrefix.length));
      if (seq !== undefined) return seq;
    }
    const msg = await this.#guard(
      this.#jsm.streams.getMessage(this.#stream, { last_by_subj: idSubject(this.#prefix, id) }),
    );
    if (msg === null) return undefined;
    // A digest collision is as good as impossible; checking costs nothing.
    return decodePayload(msg.data)?.meta.i === id ? msg.seq : undefined;
  }

  /**
   * Like {@link #locateId}, but `undefined` too when the event is retained and `visible` refuses
   * it (see `HistoryQuery.visible`): what a reader may not know of is as good as unknown.
   */
  async #locateVisible(
    id: string,
    visible: (event: EngineEvent) => boolean,
  ): Promise<number | undefined> {
    let msg: { seq: number; data: Uint8Array } | null;
    const seq = id.startsWith(this.#idPrefix)
      ? parseSequence(id.slice(this.#idPrefix.length))
      : undefined;
    if (seq !== undefined) {
      // A generated id names a sequence whether or not it is retained: check it if it is.
      if (seq < 1) return seq;
      try {
        msg = await this.#guard(this.#jsm.streams.getMessage(this.#stream, { seq }));
      } catch (error) {
        if (isGone(error)) return seq; // evicted (deleted), or past the last sequence
        throw error;
      }
      if (msg === null) return seq;
    } else {
      msg = await this.#guard(
        this.#jsm.streams.getMessage(this.#stream, { last_by_subj: idSubject(this.#prefix, id) }),
      );
      if (msg === null || decodePayload(msg.data)?.meta.i !== id) return undefined;
    }
    const event = this.#toEvent(msg.seq, msg.data);
    return event === undefined || visible(event) ? msg.seq : undefined;
  }

  /**
   * The SSE id of the oldest event from `first` on: deleted sequences at the front
   * are skipped, a few at most; past them, the id the sequence would have.
   */
  async #oldestId(first: number, last: number): Promise<string | null> {
    for (let seq = first; seq <= last && seq < first + 8; seq++) {
      let msg: Awaited<ReturnType<JetStreamManager['streams']['getMessage']>>;
      try {
        msg = await this.#guard(this.#jsm.streams.getMessage(this.#stream, { seq }));
      } catch (error) {
        if (isGone(error)) continue;
        throw error;
      }
      if (msg === null) continue;
      const e = this.#toEvent(msg.seq, msg.data);
      if (e !== undefined) return e.id;
    }
    return this.#idPrefix + first;
  }

  // -- retention: the index, markers and trimming ---------------------------------------------

  /**
   * Makes sure the markers' stream exists. When it is new while the events' stream already
   * evicted (a stream bounded by its own limits, before retention classes), one marker for all
   * classes says so; markers of an events' stream that was created again are dropped.
   */
  async #startLost(info: StreamInfo): Promise<void> {
    const created = await this.#ensureLost();
    if (!created) await this.#dropStaleMarkers();
    else if (info.state.first_seq > 1) {
      await this.#raiseLost(UNATTRIBUTED, info.state.first_seq - 1);
    }
  }

  /** Creates the markers' stream when missing; tells whether it did. */
  async #ensureLost(): Promise<boolean> {
    try {
      await this.#guard(this.#jsm.streams.info(this.#lostStream));
      return false;
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      if (
        !(cause instanceof JetStreamApiError) ||
        cause.code !== JetStreamApiCodes.StreamNotFound
      ) {
        throw error;
      }
    }
    try {
      await this.#guard(
        this.#jsm.streams.add({
          name: this.#lostStream,
          subjects: [lostSubject(this.#prefix, '>')],
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          max_msgs_per_subject: 1,
          storage: this.#storage === 'memory' ? StorageType.Memory : StorageType.File,
          num_replicas: this.#replicas,
        }),
      );
      return true;
    } catch (error) {
      // Another node may have created it at the same moment.
      await this.#guard(this.#jsm.streams.info(this.#lostStream)).catch(() => {
        throw error;
      });
      return false;
    }
  }

  /**
   * Deletes the markers past the events' stream's last sequence: they were about an earlier
   * stream of the same name (created again: sequences start at 1 again) and would only cause
   * gaps. Read before the stream's last sequence, so a marker raised meanwhile is not past it;
   * deleted by its own sequence, so a marker raised meanwhile on the same subject stays.
   */
  async #dropStaleMarkers(): Promise<void> {
    const markers = await this.#markers();
    const { last } = await this.#bounds();
    for (const [, marker] of markers) {
      if (marker.upTo <= last) continue;
      await this.#guard(this.#jsm.streams.deleteMessage(this.#lostStream, marker.seq, false)).catch(
        (error: unknown) => {
          if (!isGone(error)) throw error;
        },
      );
    }
  }

  /** A class's marker: the newest sequence it evicted, and the marker's own sequence. */
  async #lostOf(cls: string): Promise<{ upTo: number; seq: number } | undefined> {
    let msg: Awaited<ReturnType<JetStreamManager['streams']['getMessage']>>;
    try {
      msg = await this.#guard(
        this.#jsm.streams.getMessage(this.#lostStream, {
          last_by_subj: lostSubject(this.#prefix, cls),
        }),
      );
    } catch (error) {
      if (isGone(error)) return undefined;
      throw error;
    }
    if (msg === null) return undefined;
    const upTo = parseSequence(new TextDecoder().decode(msg.data));
    return upTo === undefined ? undefined : { upTo, seq: msg.seq };
  }

  /**
   * Raises class `cls`'s marker to `upTo`, never lowering it: a compare-and-set on the marker's
   * sequence, so that two nodes trimming at once keep the higher value.
   */
  async #raiseLost(cls: string, upTo: number): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.#lostOf(cls);
      if (current !== undefined && current.upTo >= upTo) return;
      try {
        await this.#guard(
          this.#js.publish(lostSubject(this.#prefix, cls), String(upTo), {
            timeout: this.#timeoutMs,
            expect: { lastSubjectSequence: current?.seq ?? 0 },
          }),
        );
        return;
      } catch (error) {
        const cause = (error as { cause?: unknown }).cause;
        if (
          !(cause instanceof JetStreamApiError) ||
          cause.code !== JetStreamApiCodes.StreamWrongLastSequence
        ) {
          throw error;
        }
      }
    }
    throw this.#unavailable(`the marker of retention class "${cls}" kept changing`);
  }

  /** Every class's newest eviction, from the markers' stream. */
  async #readLost(): Promise<Map<string, number>> {
    const lost = new Map<string, number>();
    for (const [cls, marker] of await this.#markers()) lost.set(cls, marker.upTo);
    return lost;
  }

  /** Every class's marker, from the markers' stream. */
  async #markers(): Promise<Map<string, { upTo: number; seq: number }>> {
    let info: StreamInfo;
    try {
      info = await this.#guard(this.#jsm.streams.info(this.#lostStream, { subjects_filter: '>' }));
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      if (
        !(cause instanceof JetStreamApiError) ||
        cause.code !== JetStreamApiCodes.StreamNotFound
      ) {
        throw error;
      }
      // Gone (deleted by hand): whatever it said is unknown now, so everything so far counts
      // as lost, to every class.
      await this.#ensureLost();
      await this.#raiseLost(UNATTRIBUTED, (await this.#bounds()).last);
      return this.#markers();
    }
    const markers = new Map<string, { upTo: number; seq: number }>();
    const classes = Object.keys(info.state.subjects ?? {})
      .map((subject) => classOfLostSubject(this.#prefix, subject))
      .filter((cls): cls is string => cls !== undefined);
    const values = await Promise.all(classes.map((cls) => this.#lostOf(cls)));
    classes.forEach((cls, i) => {
      const v = values[i];
      if (v !== undefined) markers.set(cls, v);
    });
    return markers;
  }

  /** Reads the stream's subjects and headers once, at start, into the index. */
  async #loadIndex(info: StreamInfo): Promise<void> {
    const { first_seq, last_seq, messages } = info.state;
    if (messages === 0) return;
    await this.#read(
      first_seq,
      last_seq,
      (seq, _payload, m: RangeMessage) => {
        const size = Number(m.headers?.get('Nats-Msg-Size') ?? 0);
        this.#index(seq, m.subject, m.headers?.get(CLASS_HEADER), size, ackTime(m.reply) ?? 0);
        return true;
      },
      undefined,
      undefined,
      true,
    );
  }

  /** Adds an event the live reader (or the start) saw to the index of its class. */
  #index(
    seq: number,
    subject: string,
    classHeader: string | undefined,
    payloadBytes: number,
    time: number,
  ): void {
    const cls = classOfSubject(this.#prefix, subject, classHeader);
    if (cls === null) return;
    // A class only another node configured is that node's to bound.
    const b = this.#buckets.get(cls ?? DEFAULT_RETENTION_CLASS);
    if (b === undefined) return;
    const size = storedSize(subject, payloadBytes, subject.startsWith(`${this.#prefix}.id.`));
    b.entries.push({ seq, size, time });
    b.bytes += size;
    // The node that appended an event trims its class (every node would be as right, and
    // N times the requests).
    if (this.#own.delete(seq)) this.#scheduleTrim(b);
  }

  /** Drops `b`'s index entries up to `upTo` (evicted, by this node or another). */
  #forget(b: Bucket, upTo: number): void {
    while (b.entries.length > 0 && b.entries.first()!.seq <= upTo) {
      b.bytes -= b.entries.shift().size;
    }
  }

  /** Runs `#trim(b)` unless one is under way (then once more after it). */
  #scheduleTrim(b: Bucket): void {
    if (this.#life.closed) return;
    if (b.trimming !== undefined) {
      b.again = true;
      return;
    }
    b.again = false;
    b.trimming = this.#trim(b).then(
      () => {
        b.trimming = undefined;
        if (b.again) this.#scheduleTrim(b);
      },
      (error: unknown) => {
        // Retried by the next append or sweep; the index still holds what was not deleted.
        b.trimming = undefined;
        if (!this.#life.closed) this.#lastError = `nats retention trim: ${message(error)}`;
      },
    );
  }

  /** Whether `b` is over its bounds by more than its slack, or holds expired events. */
  #over(b: Bucket, cutoff: number): boolean {
    return (
      b.entries.length - b.maxEvents > b.slackEvents ||
      b.bytes - b.maxBytes > b.slackBytes ||
      (b.entries.length > 0 && b.entries.first()!.time <= cutoff)
    );
  }

  /**
   * Evicts `b`'s oldest events while it is over its bounds (by more than its slack) or they are
   * older than `ttlMs`: marker first, then the deletions, so that no reader misses the loss.
   */
  async #trim(b: Bucket): Promise<void> {
    const cutoff = this.#ttlMs > 0 ? Date.now() - this.#ttlMs : Number.NEGATIVE_INFINITY;
    if (!this.#over(b, cutoff) || !this.#connected) return;
    // What another node already evicted of this class is gone: forget it, do not delete it.
    const current = await this.#lostOf(b.name);
    if (current !== undefined) this.#forget(b, current.upTo);
    if (!this.#over(b, cutoff)) return;
    const entries = b.entries;
    let count = entries.length;
    let bytes = b.bytes;
    const evicted: number[] = [];
    while (evicted.length < entries.length) {
      const e = entries.at(evicted.length);
      if (!(count > b.maxEvents || bytes > b.maxBytes || e.time <= cutoff)) break;
      evicted.push(e.seq);
      count--;
      bytes -= e.size;
    }
    if (evicted.length === 0) return;
    const upTo = evicted[evicted.length - 1]!;
    await this.#raiseLost(b.name, upTo);
    for (let i = 0; i < evicted.length; i += 64) {
      await Promise.all(
        evicted.slice(i, i + 64).map((seq) =>
          this.#guard(this.#jsm.streams.deleteMessage(this.#stream, seq, false)).catch(
            (error: unknown) => {
              // Already deleted (by another node's trim of the same class): fine.
              if (!isGone(error)) throw error;
            },
          ),
        ),
      );
    }
    this.#forget(b, upTo);
  }

  /**
   * The classes whose marker is past `after` (they lost events this reader had not delivered);
   * `undefined` — any class — without retention classes, when an unattributed loss is, when
   * none is (the cause is unknown), or when the markers cannot be read.
   */
  async #classesLostAfter(after: number): Promise<string[] | undefined> {
    if (!this.#managed) return undefined;
    try {
      const classes: string[] = [];
      for (const [cls, upTo] of await this.#readLost()) {
        if (upTo <= after) continue;
        if (cls === UNATTRIBUTED) return undefined;
        classes.push(cls);
      }
      return classes.length === 0 ? undefined : classes;
    } catch {
      return undefined;
    }
  }

  #reportGap(gap: EngineGap): void {
    for (const listener of [...this.#gapListeners]) {
      try {
        listener(gap);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  async #read(
    from: number,
    to: number,
    onMessage: (seq: number, payload: Uint8Array, message: RangeMessage) => boolean,
    firstBatch?: number,
    maxBytes?: number,
    headersOnly?: boolean,
  ): Promise<void> {
    if (to < from) return;
    this.#life.assertOpen();
    if (!this.#connected) throw this.#unavailable(this.#lastError || 'disconnected');
    const abort = new AbortController();
    const interrupt = (error: HeraldEngineError): void => abort.abort(error);
    const untrack = this.#life.track(interrupt);
    try {
      await readRange({
        nc: this.#nc!,
        js: this.#js,
        jsm: this.#jsm,
        stream: this.#stream,
        from,
        to,
        batch: this.#pageSize,
        firstBatch,
        maxBytes,
        timeoutMs: this.#timeoutMs,
        inboxPrefix: this.#connectionOptions?.inboxPrefix,
        headersOnly,
        signal: abort.signal,
        onMessage,
      });
    } catch (error) {
      throw this.#translate(error);
    } finally {
      untrack();
    }
    this.#life.assertOpen();
  }

  #toEvent(seq: number, payload: Uint8Array): EngineEvent | undefined {
    const decoded = decodePayload(payload);
    if (decoded === undefined) return undefined;
    const { meta, data } = decoded;
    const id = meta.i ?? this.#idPrefix + seq;
    return {
      position: String(seq),
      id,
      customId: meta.i !== undefined,
      topics: meta.t,
      data,
      type: meta.y,
      retry: meta.r,
      private: meta.p === 1,
      time: meta.ms,
      size: eventSize({ topics: meta.t, data, type: meta.y }, id),
    };
  }
}
