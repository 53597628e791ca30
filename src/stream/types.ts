import type { EventFields } from '../protocol/index.js';
import type { ByteBudget } from './byte-budget.js';

/**
 * What to do when a client reads slower than events arrive and the stream's queue is full.
 *
 * - `'close'`: end the stream. The client reconnects with `Last-Event-ID` and resumes from the
 *   hub's history, so it loses nothing and the server holds no unbounded backlog.
 * - `'drop-oldest'`: drop whole queued events, oldest first, until the new one fits. The stream
 *   stays open; the client sees a gap. Suits "latest value wins" feeds (tickers, gauges).
 */
export type OverflowPolicy = 'close' | 'drop-oldest';

/**
 * Why a stream closed.
 *
 * - `'server'`: {@link EventStream.close} was called, or the `signal` option aborted.
 * - `'client'`: the client went away (connection closed, request aborted, body cancelled).
 * - `'overflow'`: the queue overflowed under the `'close'` policy.
 * - `'error'`: the transport reported an error (a reset HTTP/2 stream, a socket error).
 * - `'stalled'`: the transport did not drain for {@link EventStreamOptions.stallTimeoutMs}: the
 *   client stopped reading (or is gone without a word), live or during a replay.
 * - `'budget'`: an event did not fit in the {@link EventStreamOptions.budget} the stream shares
 *   with others (in `herald serve`, those of its client address: `--queue-bytes-per-ip`), under
 *   the `'close'` policy.
 */
export type CloseReason = 'server' | 'client' | 'overflow' | 'error' | 'stalled' | 'budget';

/** Header values accepted in {@link EventStreamOptions.headers}. */
export type HeaderValue = string | number | readonly string[];

/** What {@link EventStreamOptions.onOverflow} is told about one overflow. */
export interface OverflowInfo {
  /** The policy that was applied. */
  readonly policy: OverflowPolicy;
  /**
   * The bound the event did not fit: the stream's own queue (`queueBytes`), or the
   * {@link EventStreamOptions.budget} it shares with other streams.
   */
  readonly bound: 'queue' | 'budget';
  /** The configured bound, {@link EventStreamOptions.queueBytes}. */
  readonly queueBytes: number;
  /** Size of the event that did not fit. */
  readonly incomingBytes: number;
  /** Bytes in the stream's own queue after the policy was applied. */
  readonly queuedBytes: number;
  /** Events discarded by this overflow (queued events, plus the incoming one when it was not kept). */
  readonly droppedEvents: number;
  /** Bytes discarded by this overflow. */
  readonly droppedBytes: number;
}

/** Options of `createEventStream` and `createEventStreamResponse`. Every option is optional. */
export interface EventStreamOptions {
  /**
   * Send a comment line when nothing was written for this many milliseconds, so proxies and
   * load balancers do not time the connection out and dead clients are detected. Any write
   * resets the idle time. Default `15000`; `0` turns heartbeats off.
   */
  heartbeatMs?: number;
  /**
   * Upper bound, in bytes, of events held by the stream while the client is not reading fast
   * enough (the transport's `write()` returned `false` and `'drain'` has not come yet). Whole
   * events are queued, never parts. Default 1 MiB.
   */
  queueBytes?: number;
  /** What to do when an event does not fit in the queue. Default `'close'`. */
  overflow?: OverflowPolicy;
  /**
   * Bytes this stream shares with others: what all of them hold while their clients are behind
   * (queues and transport buffers) stays within it. An event that would take them past it is
   * an overflow of this stream (`OverflowInfo.bound` `'budget'`; under the `'close'` policy the
   * stream closes with reason `'budget'`). `herald serve` gives every stream of one client
   * address the same budget (`--queue-bytes-per-ip`). Default: none.
   */
  budget?: ByteBudget;
  /**
   * Close the stream (reason `'stalled'`, torn down like an overflow) when its transport asked
   * to wait (a write returned `false`) and has not drained for this many milliseconds: a client
   * that stopped reading holds its buffers only this long, whether it is behind on live events
   * or in a history replay waiting for room. Any drain restarts the clock, so a slow reader that
   * makes progress is never cut by it. Checked by the heartbeat timer, so a stall is noticed
   * within `stallTimeoutMs` plus at most one heartbeat interval. Default `30000`; `0` turns it
   * off.
   */
  stallTimeoutMs?: number;
  /** Called on every overflow, after the policy was applied. */
  onOverflow?: (info: OverflowInfo) => void;
  /** Called exactly once, when the stream closes for any reason. */
  onClose?: (reason: CloseReason) => void;
  /** Closes the stream (gracefully, reason `'server'`) when it aborts. */
  signal?: AbortSignal;
  /**
   * Extra response headers (CORS, `Vary`, …). They may replace the defaults, except
   * `Content-Type`, which is always `text/event-stream; charset=utf-8`. Connection-specific
   * headers (`Connection`, `Keep-Alive`, `Transfer-Encoding`, …) are left out on HTTP/2, where
   * they are illegal.
   */
  headers?: Readonly<Record<string, HeaderValue>>;
  /** A reconnection time (`retry:` field, in ms) sent to the client when the stream opens. */
  retry?: number;
  /**
   * Text of the comment written as soon as the stream opens, so that proxies and clients see
   * the response start at once. Default `'ok'`; `false` writes no comment (headers are still
   * flushed immediately).
   */
  initialComment?: string | false;
}

/**
 * One open Server-Sent Events response.
 *
 * Writes never throw because the stream closed: they return `false`. A write that returns
 * `true` was either handed to the transport or queued behind earlier events.
 */
export interface EventStream {
  /**
   * The id the client last saw: the `Last-Event-ID` request header, else the `lastEventID` query
   * parameter (Mercure's name, for clients that cannot set headers), else `''`.
   */
  readonly lastEventId: string;
  /** `true` once the stream closed, for whatever reason. */
  readonly closed: boolean;
  /** Why the stream closed, or `undefined` while it is open. */
  readonly closeReason: CloseReason | undefined;
  /** Aborts when the stream closes, for whatever reason. */
  readonly signal: AbortSignal;
  /** Bytes held in the stream's own queue (bounded by `queueBytes`). */
  readonly queuedBytes: number;
  /**
   * Bytes accepted but not yet handed to the operating system: the stream's queue plus the
   * transport's own write buffer (`writableLength`). It can exceed `queueBytes` by the
   * transport's high-water mark and one event.
   */
  readonly bufferedBytes: number;
  /** Events discarded by overflows so far. */
  readonly droppedEvents: number;
  /** Bytes discarded by overflows so far. */
  readonly droppedBytes: number;

  /**
   * Encodes and writes one event.
   * @returns `true` if written or queued; `false` if the stream is closed or the event was
   *   dropped (overflow).
   * @throws HeraldProtocolError when a field cannot be encoded (a line break in `id`/`event`, a
   *   bad `retry`) — while the stream is open; a closed stream returns `false` without checking.
   */
  send(event: EventFields): boolean;
  /**
   * Writes bytes that already hold whole encoded events (from `encodeEventBytes`), for
   * encode-once fan-out: the same array may be passed to any number of streams. The stream
   * keeps a reference while the bytes are queued, so never modify them after sending.
   * @returns `true` if written or queued; `false` if closed or dropped.
   */
  sendBytes(bytes: Uint8Array): boolean;
  /**
   * Writes a comment (`: text`), which clients ignore; line breaks make several comment lines.
   * @returns `true` if written or queued; `false` if closed or dropped.
   */
  comment(text?: string): boolean;
  /**
   * Tells the client how long to wait before reconnecting.
   * @param ms - a non-negative integer number of milliseconds
   * @returns `true` if written or queued; `false` if closed or dropped.
   * @throws HeraldProtocolError when `ms` is not a non-negative integer (stream open)
   */
  retry(ms: number): boolean;
  /**
   * Resolves once the client keeps up again: `true` when nothing is queued and the transport
   * accepts writes, `false` when the stream closed first. For writers with much to send at once
   * (a history replay) that should wait instead of filling the bounded queue.
   */
  drained(): Promise<boolean>;
  /**
   * Ends the response gracefully: queued events are handed to the transport, then the response
   * ends. Idempotent; `onClose` and `signal` fire once, synchronously, with reason `'server'`.
   */
  close(): void;
}

/** An {@link EventStream} whose transport is a Fetch-API `Response`. */
export interface FetchEventStream extends EventStream {
  /**
   * The response to return from a Web-standard handler (Hono, Deno-style servers, …). Its body
   * can be read once; cancelling the body closes the stream with reason `'client'`.
   */
  readonly response: Response;
  /** Returns {@link FetchEventStream.response}, for frameworks that call a method. */
  toResponse(): Response;
}
