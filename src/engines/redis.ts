/**
 * The Redis Streams engine: every hub node appends to, replays from and listens to one Redis
 * stream, so all nodes see the same events in the same order.
 *
 * **Positions and ids.** The stream entry id (`<ms>-<seq>`) is the position: Redis orders it
 * across every node, and it survives restarts with persistence (and, being time-based, is never
 * handed out twice even without it). A generated SSE id is the entry id itself. A custom id is
 * stored in the entry and indexed in a hash next to the stream (`<key>:ids`, same hash slot) for
 * `resolve` / `Last-Event-ID`; custom ids shaped like an entry id are refused.
 *
 * **Appends** run one Lua script (`redis-scripts.ts`): duplicate-id check (the older event must
 * still be in the stream), `XADD`, then trimming by retention class — each class (the default
 * one included) lists its entry ids, and is trimmed to its own `maxEvents` and to `ttlMs` by
 * popping its list and `XDEL`-ing those entries, so one class never evicts another's events.
 * A meta hash keeps, per class, the newest entry id it evicted: `history` compares the start
 * point with the classes its reader cares about (`found`). Each entry also records the stream's
 * previous last id (`q`), so the live reader can tell when entries vanished before it read them.
 *
 * **Live delivery** is one dedicated connection looping `XREAD BLOCK` from the last id it saw,
 * for this node's own appends too (an event is delivered once, by the loop, never by `append`).
 * After a connection loss it reconnects with backoff and reads on from that id, so events other
 * nodes published meanwhile arrive late but in order, none twice. When an entry's `q` is not the
 * id it delivered last, entries in between were evicted before it read them: it reports a gap
 * (`onGap`) naming the classes whose newest eviction is past that id, before delivering on.
 *
 * **Bounds.** Per retention class, `maxEvents`, `maxBytes` (as `eventSize` counts them) and
 * `ttlMs` are enforced exactly, in the append script: each class lists its entries with their
 * sizes and keeps its byte total, and is trimmed from its oldest entry until it fits; a single
 * event larger than its class's `maxBytes` is refused (`EVENT_TOO_LARGE`). The age bound is
 * applied when events are appended, not while the stream is idle. A safety bound of twice the
 * classes' `maxEvents` trims the stream itself (`MAXLEN ~`) should entries escape every list
 * this node knows (a class only another node configured). Redis's own memory per entry is
 * higher (its encoding, the `q` field, the class lists): leave `maxmemory` room for that.
 *
 * **Reads** are bounded by bytes too (`HistoryQuery.maxBytes`): a script returns a page of
 * entries up to a byte budget, so a replay never pulls a count of large events at once.
 *
 * **Connections.** Three per engine, all to the master (on a cluster, the slot's master): the
 * command connection runs appends; the history connection runs every read of history
 * (`history`, `latest`, `resolve`), so that appends never queue behind megabytes of replayed
 * replies; the live reader blocks in `XREAD`. Reads need not be ordered after appends on one
 * connection: a read sent after an append completed sees it (one server executes both), and an
 * append a read missed reaches the hub through the live reader after the read was sent, that is
 * after the replaying subscriber was registered (see the hub's replay). The page reads of all
 * replays together ask for at most `readBytesInFlight` bytes at once, so the history
 * connection never holds more than that of replies (plus one event a page, a page being at
 * least one event).
 *
 * **Faults.** The connections have no offline queue: while Redis is unreachable, appends and
 * reads reject at once with `UNAVAILABLE` and `health()` is not ready (nor while any one of
 * the three is reconnecting). An append whose reply
 * was lost with the connection also rejects `UNAVAILABLE`, although Redis may have stored it.
 *
 * @packageDocumentation
 */

import { createHash } from 'node:crypto';
import { BytesInFlight } from './bytes-in-flight.js';
import {
  checkRetentionClasses,
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
import { connectRedis, duplicateRedis, type RedisClient } from './redis-connect.js';
import { APPEND_SCRIPT, LOCATE_SCRIPT, RANGE_SCRIPT } from './redis-scripts.js';

/** Default {@link RedisEngineOptions.key}. */
export const DEFAULT_REDIS_KEY = '{herald}:events';
/** Default {@link RedisEngineOptions.maxEvents}. */
export const DEFAULT_REDIS_MAX_EVENTS = 10_000;
/** Default {@link RedisEngineOptions.readBytesInFlight}: 16 MiB. */
export const DEFAULT_REDIS_READ_BYTES_IN_FLIGHT = 16 * 1024 * 1024;
/** Default {@link RedisEngineOptions.blockMs}. */
export const DEFAULT_REDIS_BLOCK_MS = 5_000;

/** Options of {@link redisEngine}. */
export interface RedisEngineOptions {
  /**
   * Where Redis is. Default `redis://127.0.0.1:6379`. One server: `redis://` / `rediss://`;
   * Sentinel: `redis+sentinel://host:port,host:port/<master name>`; Cluster:
   * `redis+cluster://host:port,host:port` (see `redis-connect.ts`).
   */
  url?: string;
  /**
   * A connected ioredis client (`Redis` or `Cluster`) to use for commands instead of `url`. The
   * engine duplicates it for its history reads and its blocking reads (closing those on
   * `close()`) and leaves it open. Give it `enableOfflineQueue: false` so appends fail fast
   * while Redis is down.
   */
  client?: RedisClient;
  /**
   * The stream key. Default `{herald}:events`. The custom-id index lives at `<key>:ids` when the
   * key has a `{hash tag}`, else at `{<key>}:ids` — on Redis Cluster, on the stream's slot.
   */
  key?: string;
  /** Most events kept in the default retention class (≥ 1). Default 10 000. */
  maxEvents?: number;
  /**
   * Retention classes: topics whose history is bounded on its own (see `RetentionClass`; a
   * class's `maxEvents` ≥ 1, default `maxEvents`; its `maxBytes`, default `maxBytes`). Give
   * every node the same classes. Default: none.
   */
  retention?: readonly RetentionClass[];
  /**
   * Most bytes kept in the default retention class, as `eventSize` counts them: older entries
   * are trimmed (exactly) past it, and a single event larger than this is refused with
   * `EVENT_TOO_LARGE`. Default: no byte bound (only `maxEvents`).
   */
  maxBytes?: number;
  /** Events older than this many milliseconds are trimmed on append. Default `0`: none. */
  ttlMs?: number;
  /**
   * Kept for compatibility: the count and age bounds are now exact. Default `false`.
   * @deprecated
   */
  exactTrim?: boolean;
  /** How long one `XREAD BLOCK` waits, in milliseconds. Default 5 000. */
  blockMs?: number;
  /** Longest pause between reconnection attempts, in milliseconds. Default 2 000. */
  maxBackoffMs?: number;
  /** Events read per `XRANGE` / `XREVRANGE` page. Default 500. */
  pageSize?: number;
  /**
   * Most bytes of history pages read at once, over every read of this engine (every replay of
   * the node): a page read asks for its byte budget (`HistoryQuery.maxBytes` left, at most
   * this) before it is sent and waits its turn when the others have taken it all, so the
   * history connection never holds hundreds of megabytes of replies at once. A page still
   * takes at least one event, whatever its size. Default 16 MiB.
   */
  readBytesInFlight?: number;
  /**
   * Called when a listener throws; the other listeners still run. Default: rethrow in a
   * microtask, where it surfaces as an uncaught exception.
   */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
  /**
   * Called when the live reader finds that entries after the last one it delivered were trimmed
   * before it could read them (it fell further behind than a class's `maxEvents`, or was
   * disconnected longer than `ttlMs`): those events are not delivered live. The gap also goes
   * to `onGap` listeners (the hub closes the subscriptions it may concern, which resume with
   * `Last-Event-ID` and are told). Default: a process warning.
   */
  onLiveGap?: (lastDelivered: string, next: string) => void;
}

/** The Redis {@link Engine}. */
export interface RedisEngine extends Engine {
  /** Resolves once the live reader knows where to start (appends wait for it too). */
  readonly ready: Promise<void>;
}

/**
 * Creates a Redis Streams engine. It connects at once; `append` waits for the first connection,
 * then fails fast while Redis is unreachable.
 *
 * @param options - connection, stream key and bounds
 * @throws {@link HeraldEngineError} `INVALID_OPTIONS`
 */
export function redisEngine(options: RedisEngineOptions = {}): RedisEngine {
  return new RedisStreamEngine(options);
}

const ENTRY_ID = /^(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$/;
/** Both parts of a stream entry id are unsigned 64-bit integers. */
const U64_MAX = 2n ** 64n - 1n;

type Entry = [id: string, fields: string[]];

function parseId(id: string): [bigint, bigint] {
  const m = ENTRY_ID.exec(id);
  if (m === null) throw new HeraldEngineError('INVALID_EVENT', `not a Redis stream id: ${id}`);
  return [BigInt(m[1]!), BigInt(m[2]!)];
}

/**
 * Whether `id` is a stream entry id Redis accepts: `<ms>-<seq>`, each part at most 2^64 − 1.
 * A client's `Last-Event-ID` of `99999999999999999999-0` is shaped like one but is not: Redis
 * refuses it in `XRANGE`, so it must be treated as an unknown id before it gets there.
 */
function isEntryId(id: string): boolean {
  const m = ENTRY_ID.exec(id);
  if (m === null || m[1]!.length > 20 || m[2]!.length > 20) return false;
  return BigInt(m[1]!) <= U64_MAX && BigInt(m[2]!) <= U64_MAX;
}

/** Orders two stream entry ids (`ms-seq`), numerically on both parts. */
export function compareEntryIds(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  if (am !== bm) return am < bm ? -1 : 1;
  return as < bs ? -1 : as > bs ? 1 : 0;
}

/** The `q` field of an entry: the stream's last id before it was added. */
function previousOf([, fields]: Entry): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'q') return fields[i + 1];
  return undefined;
}

const option = (name: string, value: number | undefined, fallback: number, min = 0): number =>
  integerOption('redisEngine', name, value, fallback, min);

/** A key next to the stream, on its hash slot: `<key>:<suffix>`, or `{<key>}:<suffix>`. */
function sideKey(key: string, suffix: string): string {
  return /\{[^}]+\}/.test(key) ? `${key}:${suffix}` : `{${key}}:${suffix}`;
}

function idsKeyOf(key: string): string {
  return sideKey(key, 'ids');
}

/** A retention class as the append script needs it. */
interface ClassKeys {
  readonly name: string;
  readonly list: string;
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/** The newest of two entry ids (`null` counts as older than any). */
function newest(a: string | null, b: string): string {
  return a === null || compareEntryIds(a, b) < 0 ? b : a;
}

const SCRIPT_SHA = new Map(
  [APPEND_SCRIPT, LOCATE_SCRIPT, RANGE_SCRIPT].map((s) => [
    s,
    createHash('sha1').update(s).digest('hex'),
  ]),
);

class RedisStreamEngine implements RedisEngine {
  readonly name = 'redis';
  readonly ready: Promise<void>;
  readonly #key: string;
  readonly #idsKey: string;
  readonly #metaKey: string;
  readonly #classBytesKey: string;
  readonly retention: readonly RetentionClass[];
  /** The configured classes' keys (by class object) and the default class's. */
  readonly #classKeys = new Map<RetentionClass, ClassKeys>();
  readonly #defaultKeys: ClassKeys;
  /** Every class list, then every class name: the tail of the append script's KEYS / ARGV. */
  readonly #allLists: string[];
  readonly #allNames: string[];
  /** The stream's own bound, against entries no list of this node holds. */
  readonly #safety: number;
  readonly #ttlMs: number;
  readonly #blockMs: number;
  readonly #maxBackoffMs: number;
  readonly #pageSize: number;
  readonly #onLiveGap: (lastDelivered: string, next: string) => void;
  readonly #cmd: RedisClient;
  readonly #ownsCmd: boolean;
  readonly #reader: RedisClient;
  /** History reads: a connection of their own, so appends never wait behind their replies. */
  readonly #reads: RedisClient;
  readonly #readBytes: BytesInFlight;
  /** Started, closed, and the calls in flight that `close()` ends at once (see #guard). */
  readonly #life = new EngineLifecycle('redis');
  readonly #listeners: EngineListeners;
  readonly #gapListeners = new Set<EngineGapListener>();
  /** The id the live reader reads after. */
  #lastSeen = '0-0';
  #lastError = '';
  #readerOk = false;
  /** Rejects when the first connection attempt fails: calls then fail fast, not wait. */
  readonly #firstFailure: Promise<never>;
  // Best-effort stats, from replies this node got.
  #length = 0;
  #oldest: string | null = null;
  #newest: string | null = null;
  #sizeTotal = 0;
  #sizeCount = 0;
  /** Retained bytes as the last append reported them (`-1`: unknown, estimate instead). */
  #retainedBytes = -1;
  readonly #loopDone: Promise<void>;

  constructor(options: RedisEngineOptions) {
    this.#key = options.key ?? DEFAULT_REDIS_KEY;
    if (typeof this.#key !== 'string' || this.#key === '') {
      throw new HeraldEngineError('INVALID_OPTIONS', 'redisEngine: key must be a non-empty string');
    }
    this.#idsKey = idsKeyOf(this.#key);
    this.#metaKey = sideKey(this.#key, 'meta');
    this.#classBytesKey = sideKey(this.#key, 'cbytes');
    const maxEvents = option('maxEvents', options.maxEvents, DEFAULT_REDIS_MAX_EVENTS, 1);
    const bytes = (name: string, value: number | undefined, fallback: number): number =>
      byteBoundOption('redisEngine', name, value, fallback);
    const maxBytes = bytes('maxBytes', options.maxBytes, Number.POSITIVE_INFINITY);
    this.retention = checkRetentionClasses('redisEngine', options.retention);
    const keys = (name: string, events: number, b: number): ClassKeys => ({
      name,
      list: sideKey(this.#key, `c:${name}`),
      maxEvents: events,
      maxBytes: b,
    });
    for (const c of this.retention) {
      this.#classKeys.set(
        c,
        keys(
          c.name,
          option(`retention "${c.name}" maxEvents`, c.maxEvents, maxEvents, 1),
          bytes(`retention "${c.name}" maxBytes`, c.maxBytes, maxBytes),
        ),
      );
    }
    this.#defaultKeys = keys(DEFAULT_RETENTION_CLASS, maxEvents, maxBytes);
    const all = [...this.#classKeys.values(), this.#defaultKeys];
    this.#allLists = all.map((c) => c.list);
    this.#allNames = all.map((c) => c.name);
    this.#safety = 2 * all.reduce((sum, c) => sum + c.maxEvents, 0);
    this.#ttlMs = option('ttlMs', options.ttlMs, 0);
    this.#blockMs = option('blockMs', options.blockMs, DEFAULT_REDIS_BLOCK_MS, 1);
    this.#maxBackoffMs = option('maxBackoffMs', options.maxBackoffMs, 2_000, 1);
    this.#pageSize = option('pageSize', options.pageSize, 500, 1);
    this.#readBytes = new BytesInFlight(
      option('readBytesInFlight', options.readBytesInFlight, DEFAULT_REDIS_READ_BYTES_IN_FLIGHT, 1),
    );
    this.#listeners = new EngineListeners(options.onListenerError);
    this.#onLiveGap =
      options.onLiveGap ??
      ((last, next) =>
        process.emitWarning(
          `herald redis engine: events after ${last} and before ${next} were trimmed before this node read them; raise maxEvents / ttlMs`,
        ));

    const retryStrategy = (times: number): number => backoffDelay(times, this.#maxBackoffMs);
    if (options.client !== undefined) {
      this.#cmd = options.client;
      this.#ownsCmd = false;
    } else {
      this.#cmd = connectRedis(options.url ?? 'redis://127.0.0.1:6379', { retryStrategy });
      this.#ownsCmd = true;
    }
    // The live reader blocks in XREAD, so it needs a connection of its own (same settings); it
    // retries by itself (see #loop), from the last id it saw. History reads have one too:
    // their replies (megabytes for a replay of big events) would hold up the appends behind
    // them on a shared connection.
    this.#reader = duplicateRedis(this.#cmd, 'herald-reader');
    this.#reads = duplicateRedis(this.#cmd, 'herald-history');
    const onError = (error: Error): void => {
      this.#lastError = error.message;
    };
    this.#cmd.on('error', onError);
    this.#reader.on('error', onError);
    this.#reads.on('error', onError);
    this.#reader.on('close', () => {
      this.#readerOk = false;
    });
    this.#reader.on('ready', () => {
      this.#readerOk = true;
    });

    this.#firstFailure = new Promise<never>((_, reject) => {
      this.#cmd.once('error', reject);
    });
    this.#firstFailure.catch(() => {});
    this.ready = this.#start();
    this.ready.catch(() => {});
    this.#loopDone = this.ready.then(
      () => this.#loop(),
      () => {},
    );
  }

  // -- the live reader ------------------------------------------------------------------------

  /** Finds where live delivery starts: after the stream's last generated id, now. */
  async #start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.#life.closed) throw this.#life.closedError();
      try {
        await this.#cmd.call('PING');
        await this.#reads.call('PING');
        const last = await this.#reader.call('EXISTS', this.#key);
        if (last === 1) {
          const info = (await this.#reader.call('XINFO', 'STREAM', this.#key)) as unknown[];
          for (let i = 0; i < info.length; i += 2) {
            if (info[i] === 'last-generated-id') this.#lastSeen = String(info[i + 1]);
          }
        }
        this.#readerOk = true;
        // Whether the live reader knows where to start (so appends and reads may go ahead).
        this.#life.markStarted();
        return;
      } catch (error) {
        this.#lastError = (error as Error).message;
        await delay(backoffDelay(attempt, this.#maxBackoffMs));
      }
    }
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (!this.#life.closed) {
      let reply: unknown;
      try {
        reply = await this.#reader.call(
          'XREAD',
          'COUNT',
          String(this.#pageSize),
          'BLOCK',
          String(this.#blockMs),
          'STREAMS',
          this.#key,
          this.#lastSeen,
        );
        failures = 0;
        this.#readerOk = true;
      } catch (error) {
        if (this.#life.closed) return;
        this.#readerOk = false;
        this.#lastError = (error as Error).message;
        await delay(backoffDelay(failures++, this.#maxBackoffMs));
        continue;
      }
      if (reply === null || this.#life.closed) continue;
      for (const [, entries] of reply as [string, Entry[]][]) {
        for (const entry of entries) {
          if (this.#life.closed) return;
          const prev = previousOf(entry);
          if (prev !== undefined && prev !== this.#lastSeen) {
            // Entries between the last delivered one and this one are gone: say which classes
            // lost them, before delivering on (a failure to ask means any class may have).
            this.#onLiveGap(this.#lastSeen, entry[0]);
            let classes: string[] | undefined;
            try {
              classes = this.#classesLostAfter(
                this.#lastSeen,
                (await this.#reader.call('HGETALL', this.#metaKey)) as string[],
              );
            } catch {
              classes = undefined;
            }
            if (this.#life.closed) return;
            this.#reportGap({
              after: this.#lastSeen === '0-0' ? null : this.#lastSeen,
              before: entry[0],
              classes,
            });
          }
          const event = this.#toEvent(entry);
          this.#lastSeen = event.position;
          if (this.#newest === null || compareEntryIds(this.#newest, event.position) < 0) {
            this.#newest = event.position;
          }
          this.#listeners.deliver(event);
        }
      }
    }
  }

  // -- Engine ---------------------------------------------------------------------------------

  async append(input: EngineEventInput): Promise<EngineEvent> {
    this.#life.assertOpen();
    validateEventInput(input);
    const customId = input.id;
    if (customId !== undefined && ENTRY_ID.test(customId)) {
      throw new HeraldEngineError(
        'INVALID_EVENT',
        `custom id ${JSON.stringify(customId)} is reserved: ids shaped like "<ms>-<seq>" are Redis stream ids generated by this engine; choose another id`,
      );
    }
    const probeSize = eventSize(input, customId ?? '0000000000000-0');
    const cls = retentionClassOf(this.retention, input.topics);
    const keys = cls === undefined ? this.#defaultKeys : this.#classKeys.get(cls)!;
    if (probeSize > keys.maxBytes) {
      const what =
        cls === undefined ? 'this engine accepts' : `retention class "${keys.name}" accepts`;
      throw new HeraldEngineError(
        'EVENT_TOO_LARGE',
        `the event takes ${probeSize} bytes but ${what} at most ${keys.maxBytes} (maxBytes); publish smaller events or raise maxBytes`,
      );
    }
    await this.#whenStarted();
    const fields = ['t', JSON.stringify(input.topics), 'd', input.data];
    if (input.type !== undefined) fields.push('y', input.type);
    if (customId !== undefined) fields.push('i', customId);
    if (input.retry !== undefined) fields.push('r', String(input.retry));
    if (input.private === true) fields.push('p', '1');
    const reply = (await this.#guard(
      this.#script(
        this.#cmd,
        APPEND_SCRIPT,
        [this.#key, this.#idsKey, this.#metaKey, this.#classBytesKey, keys.list, ...this.#allLists],
        [
          customId ?? '',
          keys.name,
          String(keys.maxEvents),
          Number.isFinite(keys.maxBytes) ? String(keys.maxBytes) : '0',
          String(this.#ttlMs),
          String(this.#safety),
          // The size as `eventSize` counts it once the id is known: a generated one is added by
          // the script (the probe above assumed 15 characters).
          String(customId === undefined ? eventSize(input, '') : probeSize),
          String(this.#allNames.length),
          ...this.#allNames,
          ...fields,
        ],
      ),
    )) as [string, string, number?, string?, number?];
    if (reply[0] === 'dup') {
      throw new HeraldEngineError(
        'DUPLICATE_ID',
        `an event with id ${JSON.stringify(customId)} is still in history; ids identify one event for replay, so use a new id (or omit it to get a generated one)`,
      );
    }
    const position = reply[1];
    this.#length = Number(reply[2] ?? 0);
    this.#oldest = reply[3] === '' || reply[3] === undefined ? null : reply[3];
    this.#retainedBytes = reply[4] === undefined || reply[4] === 0 ? -1 : Number(reply[4]);
    if (this.#newest === null || compareEntryIds(this.#newest, position) < 0) {
      this.#newest = position;
    }
    const id = customId ?? position;
    const size = eventSize(input, id);
    this.#sizeTotal += size;
    this.#sizeCount++;
    return {
      position,
      id,
      customId: customId !== undefined,
      topics: input.topics.slice(),
      data: input.data,
      type: input.type,
      retry: input.retry,
      private: input.private === true,
      time: Number(parseId(position)[0]),
      size,
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
    await this.#whenStarted();
    // A client's id (not a read's cursor, nor `earliest`) is checked against what the reader
    // may know of (HistoryQuery.visible): the locate script returns the start entry's fields.
    const visible = typeof after === 'string' && after !== EARLIEST ? query.visible : undefined;
    const locate = await this.#locate(after, visible !== undefined);
    let found: boolean;
    let start: string | null; // read strictly after this entry id; null = from the beginning
    if (after === EARLIEST) {
      found = true;
      start = null;
    } else {
      const s = locate.start;
      // Known: an entry id of this stream's incarnation that was handed out (retained or not);
      // for a client's id, one it may resume after (see #names).
      const known =
        s !== '' &&
        locate.floor !== '' &&
        compareEntryIds(locate.floor, s) <= 0 &&
        compareEntryIds(s, locate.last) <= 0 &&
        (typeof after !== 'string' || this.#names(after, s, locate, visible));
      if (known) {
        // Complete unless a class the reader cares about evicted something after it (losses
        // without a class, `*`, concern everyone).
        found = true;
        for (const [cls, id] of locate.lost) {
          if (compareEntryIds(id, s) <= 0) continue;
          if (cls === '*' || concerns === undefined || concerns(cls)) found = false;
        }
        start = s;
      } else {
        // Unknown: start after everything evicted, so that nothing the client saw comes again.
        found = false;
        start = null;
        for (const [, id] of locate.lost) start = newest(start, id);
      }
    }
    if (start === null && locate.first === '' && locate.last !== '0-0') start = locate.last;
    const events: EngineEvent[] = [];
    let cursor = start;
    let more = false;
    let from = start === null ? '-' : `(${start}`;
    // Bytes of the entries examined: every one was transferred, matching or not.
    let spent = 0;
    outer: for (;;) {
      if (spent >= maxBytes) {
        more = true;
        break;
      }
      // The page asks for the budget left, at most what may be in flight. Cut by the latter, it
      // still takes one event (else it could take none): one past the budget left is dropped
      // below, as the script would have.
      const capped = maxBytes - spent > this.#readBytes.limit;
      const budget = capped ? this.#readBytes.limit : maxBytes - spent;
      const release = await this.#guard(this.#readBytes.acquire(budget));
      let page: Entry[];
      let done: number;
      try {
        [page, done] = (await this.#guard(
          this.#script(
            this.#reads,
            RANGE_SCRIPT,
            [this.#key],
            [
              from,
              String(this.#pageSize),
              String(budget),
              events.length === 0 || capped ? '1' : '0',
            ],
          ),
        )) as [Entry[], number];
      } finally {
        release();
      }
      for (let i = 0; i < page.length; i++) {
        if (events.length >= limit) {
          more = true;
          break outer;
        }
        const e = this.#toEvent(page[i]!);
        if (capped && events.length > 0 && spent + e.size > maxBytes) {
          more = true;
          break outer;
        }
        cursor = e.position;
        spent += e.size;
        if (match === undefined || match(e)) events.push(e);
      }
      if (done === 1) break;
      if (page.length === 0) {
        more = true; // the byte budget is spent
        break;
      }
      from = `(${cursor}`;
    }
    this.#life.assertOpen();
    let oldest: string | null = locate.first === '' ? null : locate.first;
    if (oldest === null && events.length > 0) oldest = events[0]!.position;
    return {
      events,
      found,
      oldest: oldest === null ? null : await this.#idOf(oldest, events),
      cursor,
      more,
    };
  }

  async latest(query: LatestQuery): Promise<LatestResult> {
    this.#life.assertOpen();
    const { perTopic, match, limit = Number.POSITIVE_INFINITY } = query;
    await this.#whenStarted();
    const picked: EngineEvent[] = [];
    const counts = new Map<string, number>();
    let cursor: string | null = null;
    let from = '+';
    outer: for (;;) {
      const page = (await this.#guard(
        this.#reads.call('XREVRANGE', this.#key, from, '-', 'COUNT', String(this.#pageSize)),
      )) as Entry[];
      for (const entry of page) {
        if (picked.length >= limit) break outer;
        const e = this.#toEvent(entry);
        cursor ??= e.position;
        let take = false;
        for (const topic of e.topics) {
          const n = counts.get(topic) ?? 0;
          if (n < perTopic && match(topic, e)) {
            counts.set(topic, n + 1);
            take = true;
          }
        }
        if (take) picked.push(e);
        from = `(${e.position}`;
      }
      if (page.length < this.#pageSize) break;
    }
    this.#life.assertOpen();
    return { events: picked.reverse(), cursor };
  }

  async resolve(id: string): Promise<string | undefined> {
    this.#life.assertOpen();
    await this.#whenStarted();
    const locate = await this.#locate(id);
    return locate.exists ? locate.start : undefined;
  }

  onGap(listener: EngineGapListener): () => void {
    this.#life.assertOpen();
    this.#gapListeners.add(listener);
    return () => {
      this.#gapListeners.delete(listener);
    };
  }

  compare(a: string, b: string): number {
    return compareEntryIds(a, b);
  }

  health(): EngineHealth {
    if (this.#life.closed) return { ready: false, reason: 'engine closed' };
    if (this.#cmd.status !== 'ready') {
      return { ready: false, reason: `redis unreachable (${this.#lastError || this.#cmd.status})` };
    }
    // Until the live reader knows where it starts, a subscriber could miss an event appended
    // meanwhile by another node: not ready.
    if (!this.#life.started) return { ready: false, reason: 'redis live reader starting' };
    if (!this.#readerOk || this.#reader.status !== 'ready') {
      return {
        ready: false,
        reason: `redis live reader disconnected (${this.#lastError || this.#reader.status})`,
      };
    }
    if (this.#reads.status !== 'ready') {
      return {
        ready: false,
        reason: `redis history connection disconnected (${this.#lastError || this.#reads.status})`,
      };
    }
    return { ready: true };
  }

  stats(): EngineStats {
    const avg = this.#sizeCount > 0 ? this.#sizeTotal / this.#sizeCount : 0;
    return {
      events: this.#length,
      bytes: this.#retainedBytes >= 0 ? this.#retainedBytes : Math.round(avg * this.#length),
      oldest: this.#oldest,
      newest: this.#newest,
    };
  }

  async close(): Promise<void> {
    if (!this.#life.close()) return;
    this.#listeners.clear();
    this.#gapListeners.clear();
    this.#life.interrupt(this.#life.closedError());
    this.#reader.disconnect();
    this.#reads.disconnect();
    if (this.#ownsCmd) {
      try {
        await this.#cmd.quit();
      } catch {
        this.#cmd.disconnect();
      }
    }
    await this.#loopDone;
  }

  // -- internals ------------------------------------------------------------------------------

  /**
   * Waits for the engine's start while the first connection attempt is under way; fails fast
   * (`UNAVAILABLE`) once an attempt failed and Redis is still unreachable.
   */
  async #whenStarted(): Promise<void> {
    if (this.#life.started) return;
    if (this.#cmd.status === 'reconnecting' || this.#cmd.status === 'end') {
      throw new HeraldEngineError(
        'UNAVAILABLE',
        `redis is unavailable (${this.#lastError || this.#cmd.status}); retry once it is reachable`,
      );
    }
    await this.#guard(Promise.race([this.ready, this.#firstFailure]));
  }

  /**
   * Awaits a Redis call; rejects `CLOSED` when the engine closes, `UNAVAILABLE` on failure
   * (see `EngineLifecycle.guard`).
   */
  #guard<T>(promise: Promise<T>): Promise<T> {
    return this.#life.guard(promise, (error) => {
      if (error instanceof HeraldEngineError) return error;
      if (this.#life.closed) return this.#life.closedError();
      return new HeraldEngineError(
        'UNAVAILABLE',
        `redis is unavailable (${(error as Error).message}); retry once it is reachable`,
      );
    });
  }

  /**
   * Runs a Lua script by its SHA-1, sending the source (`EVAL`) only when the server does not
   * know it yet. `EVAL` goes to the node that owns the keys, so this works on a cluster too,
   * where a `SCRIPT LOAD` would land on an arbitrary node.
   */
  async #script(
    client: RedisClient,
    source: string,
    keys: string[],
    args: string[],
  ): Promise<unknown> {
    const sha = SCRIPT_SHA.get(source)!;
    try {
      return await client.call('EVALSHA', sha, String(keys.length), ...keys, ...args);
    } catch (error) {
      if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
    }
    return client.call('EVAL', source, String(keys.length), ...keys, ...args);
  }

  /**
   * Where a read after `after` starts, and what `found` needs: `after` is a client's id (an
   * entry id, a custom id, `earliest`) or a position. An id shaped like an entry id that Redis
   * would refuse (a part above 2^64 − 1) names nothing: it is looked up as nothing, never sent
   * to Redis as an id. With `withFields`, the start entry's fields too, when it is retained.
   */
  async #locate(
    after: string | { readonly position: string },
    withFields = false,
  ): Promise<{
    start: string;
    exists: boolean;
    first: string;
    last: string;
    floor: string;
    lost: [cls: string, id: string][];
    /** The start entry's fields, when asked for and retained. */
    fields: string[] | undefined;
  }> {
    const text = typeof after === 'string' ? after : after.position;
    const kind = isEntryId(text)
      ? 'pos'
      : typeof after === 'string' && after !== EARLIEST && !ENTRY_ID.test(text)
        ? 'id'
        : 'none';
    const r = (await this.#guard(
      this.#script(
        this.#reads,
        LOCATE_SCRIPT,
        [this.#key, this.#idsKey, this.#metaKey],
        [text, kind, withFields ? '1' : ''],
      ),
    )) as [string, number, string, string, number, string, string[], string[]?];
    this.#length = Number(r[4]);
    this.#oldest = r[2] === '' ? null : r[2];
    const lost: [string, string][] = [];
    const meta = r[6] ?? [];
    for (let i = 0; i + 1 < meta.length; i += 2) {
      if (meta[i] !== '^' && isEntryId(meta[i + 1]!)) lost.push([meta[i]!, meta[i + 1]!]);
    }
    const exists = r[1] === 1;
    return {
      start: r[0],
      exists,
      first: r[2],
      last: r[3],
      floor: r[5],
      lost,
      fields: withFields && exists ? (r[7] ?? []) : undefined,
    };
  }

  /**
   * Whether a client's id `after`, located at entry `s` of this incarnation, names a point the
   * reader may resume after: a retained entry it may see (see `HistoryQuery.visible`; without
   * `visible`, any), or one that may have been evicted.
   *
   * A retained entry the reader may not see is answered as if it were not there, so that
   * resuming cannot tell that an entry exists at that id. Then a custom id is unknown when it
   * cannot be checked (`visible` given: its entry is hidden or gone); otherwise the index still
   * finds an evicted one. An entry id names a point only at or before the newest eviction (of
   * any class, or without one), where an evicted entry could have had it: above every eviction,
   * an entry id that is not retained was never handed out, whatever the stream holds around it.
   * (Entry ids are sparse — they are times — so in-range ids that name nothing are plentiful;
   * memory and NATS ids are a counter.)
   */
  #names(
    after: string,
    s: string,
    locate: { exists: boolean; fields: string[] | undefined; lost: [string, string][] },
    visible: ((event: EngineEvent) => boolean) | undefined,
  ): boolean {
    if (locate.exists) {
      if (visible === undefined || visible(this.#toEvent([s, locate.fields ?? []]))) return true;
    }
    if (!isEntryId(after)) return visible === undefined;
    let evicted: string | null = null;
    for (const [, id] of locate.lost) evicted = newest(evicted, id);
    return evicted !== null && compareEntryIds(s, evicted) <= 0;
  }

  /**
   * The classes whose newest eviction (meta hash, flat) is after `id`; `undefined` (any class)
   * when an eviction without a class is, or when none explains the missing entries.
   */
  #classesLostAfter(id: string, meta: readonly string[]): string[] | undefined {
    const classes: string[] = [];
    for (let i = 0; i + 1 < meta.length; i += 2) {
      const cls = meta[i]!;
      const evicted = meta[i + 1]!;
      if (cls === '^' || !isEntryId(evicted) || compareEntryIds(evicted, id) <= 0) continue;
      if (cls === '*') return undefined;
      classes.push(cls);
    }
    return classes.length === 0 ? undefined : classes;
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

  /** The SSE id of the entry at `position` (from `events` when it is there). */
  async #idOf(position: string, events: readonly EngineEvent[]): Promise<string> {
    const known = events.find((e) => e.position === position);
    if (known !== undefined) return known.id;
    const page = (await this.#guard(
      this.#reads.call('XRANGE', this.#key, position, position),
    )) as Entry[];
    return page.length > 0 ? this.#toEvent(page[0]!).id : position;
  }

  #toEvent([position, fields]: Entry): EngineEvent {
    let topics: string[] = [];
    let data = '';
    let type: string | undefined;
    let id: string | undefined;
    let retry: number | undefined;
    let priv = false;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const v = fields[i + 1]!;
      switch (fields[i]) {
        case 't':
          topics = JSON.parse(v) as string[];
          break;
        case 'd':
          data = v;
          break;
        case 'y':
          type = v;
          break;
        case 'i':
          id = v;
          break;
        case 'r':
          retry = Number(v);
          break;
        case 'p':
          priv = v === '1';
          break;
      }
    }
    const sseId = id ?? position;
    const input = { topics, data, type };
    return {
      position,
      id: sseId,
      customId: id !== undefined,
      topics,
      data,
      type,
      retry,
      private: priv,
      time: Number(parseId(position)[0]),
      size: eventSize(input, sseId),
    };
  }
}
