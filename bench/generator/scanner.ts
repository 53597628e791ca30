/**
 * The load generator's lean SSE byte scanner: counts dispatched events and, when asked, reads the
 * send stamp (see `clock.ts`) out of each event's data — without decoding text or building event
 * objects, so that one generator core can keep up with a server core.
 *
 * It counts what a browser would dispatch for the streams the peers send: a block of lines ended
 * by an empty line dispatches an event when one of its lines is a `data` field. Comments
 * (`:ok`, heartbeats) and `retry`-only blocks are not events. Lines end with LF (every peer in
 * the bench sends LF); a stray CR is treated as an ordinary byte, which only matters for peers
 * that end lines with CRLF, and none here do.
 */
import { STAMP_DIGITS, STAMP_MARK } from './clock.js';

const LF = 0x0a;
const D = 0x64; // 'd', the first byte of a `data:` line (no other field name starts with it)

/** Receives one latency sample in µs (receive time − stamp). */
export type SampleSink = (micros: number) => void;

/** Per-connection scanner state; feed it the de-chunked response body. */
export class EventScanner {
  /** Events dispatched so far. */
  events = 0;
  /** Body bytes seen so far. */
  bytes = 0;
  #lineStart = true;
  #blockHasData = false;
  readonly #sink: SampleSink | undefined;

  /** @param sink - when given, each event's stamp is read and `receive − stamp` is reported */
  constructor(sink?: SampleSink) {
    this.#sink = sink;
  }

  /**
   * Scans one chunk. `receivedMicros` is the arrival time of the chunk (one clock read per chunk,
   * not per event); it is used only with a sink.
   * @returns the number of events the chunk completed
   */
  feed(chunk: Uint8Array, receivedMicros: number): number {
    const length = chunk.length;
    this.bytes += length;
    const sink = this.#sink;
    let completed = 0;
    let pos = 0;
    let lineStart = this.#lineStart;
    let blockHasData = this.#blockHasData;
    while (pos < length) {
      if (lineStart) {
        const first = chunk[pos]!;
        if (first === LF) {
          // An empty line: dispatch the block if it had data.
          if (blockHasData) completed++;
          blockHasData = false;
          pos++;
          continue;
        }
        if (first === D) {
          blockHasData = true;
          if (sink !== undefined) {
            const micros = readStamp(chunk, pos + 5);
            if (micros > 0) sink(receivedMicros - micros);
          }
        }
        lineStart = false;
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) break;
      pos = lf + 1;
      lineStart = true;
    }
    this.#lineStart = lineStart;
    this.#blockHasData = blockHasData;
    this.events += completed;
    return completed;
  }
}

/**
 * The stamp that starts within a few bytes of `from` (after `data:`, an optional space and an
 * optional JSON quote), or 0 when it is not wholly in this chunk (the sample is skipped then;
 * the event still counts).
 */
function readStamp(chunk: Uint8Array, from: number): number {
  const limit = Math.min(from + 4, chunk.length);
  let at = from;
  while (at < limit && chunk[at] !== STAMP_MARK) at++;
  if (at >= limit || at + STAMP_DIGITS >= chunk.length) return 0;
  let value = 0;
  for (let i = at + 1; i <= at + STAMP_DIGITS; i++) {
    const digit = chunk[i]! - 0x30;
    if (digit < 0 || digit > 9) return 0;
    value = value * 10 + digit;
  }
  return value;
}
