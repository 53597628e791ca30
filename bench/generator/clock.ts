/**
 * The one clock every bench process shares, and the payload format that carries it.
 *
 * Latency is measured across processes: the publisher (the orchestrator) stamps the send time
 * into the event's data, and a generator worker reads it back on arrival. `process.hrtime()` and
 * `performance.now()` alone are relative to each process's own start, so they cannot be
 * compared. `performance.timeOrigin + performance.now()` can: `timeOrigin` is the wall clock
 * (CLOCK_REALTIME) read once when the process started, and `now()` the monotonic time since
 * then. Two processes on one machine agree to within the precision of that one wall-clock read
 * (microseconds), and later steps of the wall clock (NTP) do not move either, because only the
 * monotonic part advances. A double holds it with ~0.25 µs resolution at today's epoch.
 */

/** Microseconds since the Unix epoch, comparable across processes on this machine. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** The first byte of the stamp in an event's data: `T` then 16 decimal digits (µs). */
export const STAMP_MARK = 0x54; // 'T'
/** Digits of the stamp. */
export const STAMP_DIGITS = 16;

/**
 * Event data of exactly `size` bytes (at least 18): `T<16-digit µs send time>` then `x` padding.
 * ASCII only, no line breaks, so every peer sends it as one `data:` line unchanged.
 */
export function stampedPayload(size: number, micros = nowMicros()): string {
  const stamp = `T${String(micros).padStart(STAMP_DIGITS, '0')}`;
  return size > stamp.length ? stamp + 'x'.repeat(size - stamp.length) : stamp;
}
