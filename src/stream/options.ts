import { ByteBudget } from './byte-budget.js';
import { HeraldStreamError } from './errors.js';
import type {
  CloseReason,
  EventStreamOptions,
  HeaderValue,
  OverflowInfo,
  OverflowPolicy,
} from './types.js';

/** Default idle time before a heartbeat comment: 15 s. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Default bound of a stream's queue: 1 MiB. */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;
/**
 * Default time a stream may stay unable to drain before it is closed: 30 s. Longer than a
 * mobile handover or TCP's own recovery from a short outage (its retransmissions back off to
 * ~25 s in all after 7 tries), far shorter than the minutes TCP takes to give up on a peer that
 * vanished, and the time a client that never reads holds its buffers and connection slot.
 */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/** setTimeout's largest delay; anything longer fires after 1 ms instead. */
const MAX_TIMER_MS = 2_147_483_647;

/** Options with defaults applied and values checked. @internal */
export interface ResolvedOptions {
  heartbeatMs: number;
  queueBytes: number;
  overflow: OverflowPolicy;
  budget: ByteBudget | undefined;
  stallTimeoutMs: number;
  onOverflow: ((info: OverflowInfo) => void) | undefined;
  onClose: ((reason: CloseReason) => void) | undefined;
  signal: AbortSignal | undefined;
  headers: Readonly<Record<string, HeaderValue>> | undefined;
  retry: number | undefined;
  initialComment: string | false;
}

function invalid(option: string, message: string): HeraldStreamError {
  return new HeraldStreamError('INVALID_OPTION', `${option} ${message}`, option);
}

function integer(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(
      option,
      `must be an integer from ${min} to ${max} (got ${typeof value === 'number' ? value : typeof value})`,
    );
  }
  return value;
}

function callback<F>(option: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw invalid(option, `must be a function (got ${typeof value})`);
  }
  return value;
}

/**
 * Applies defaults and checks every option, so a mistake surfaces as a
 * {@link HeraldStreamError} before the response is touched.
 * @internal
 */
export function resolveOptions(options: EventStreamOptions | undefined): ResolvedOptions {
  const o = options ?? {};
  if (typeof o !== 'object') throw invalid('options', `must be an object (got ${typeof o})`);
  const overflow = o.overflow ?? 'close';
  if (overflow !== 'close' && overflow !== 'drop-oldest') {
    throw invalid('overflow', `must be 'close' or 'drop-oldest' (got ${JSON.stringify(overflow)})`);
  }
  if (o.budget !== undefined && !(o.budget instanceof ByteBudget)) {
    throw invalid('budget', 'must be a ByteBudget');
  }
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalid('signal', 'must be an AbortSignal');
  }
  const initialComment = o.initialComment ?? 'ok';
  if (initialComment !== false && typeof initialComment !== 'string') {
    throw invalid('initialComment', `must be a string or false (got ${typeof initialComment})`);
  }
  if (o.headers !== undefined && (typeof o.headers !== 'object' || o.headers === null)) {
    throw invalid('headers', 'must be an object of header names to values');
  }
  return {
    heartbeatMs: integer('heartbeatMs', o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, 0, MAX_TIMER_MS),
    queueBytes: integer(
      'queueBytes',
      o.queueBytes ?? DEFAULT_QUEUE_BYTES,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    overflow,
    budget: o.budget,
    stallTimeoutMs: integer(
      'stallTimeoutMs',
      o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
      0,
      MAX_TIMER_MS,
    ),
    onOverflow: callback('onOverflow', o.onOverflow),
    onClose: callback('onClose', o.onClose),
    signal,
    headers: o.headers,
    retry:
      o.retry === undefined ? undefined : integer('retry', o.retry, 0, Number.MAX_SAFE_INTEGER),
    initialComment,
  };
}
