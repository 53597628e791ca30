import { HeraldProtocolError } from './errors.js';
import type { EventFields } from './types.js';

// "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character
// pair, a single U+000A LINE FEED (LF) character, or a single U+000D CARRIAGE RETURN (CR)
// character." — so a value is split on all three before it becomes field lines.
const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_SINGLE_LINE = /[\r\n\0]/;

const utf8 = new TextEncoder();

function singleLine(field: 'id' | 'event', value: unknown): string {
  if (typeof value !== 'string') {
    throw new HeraldProtocolError('INVALID_FIELD', `${field} must be a string`, field);
  }
  // A CR or LF would end the field and start a new one (SSE field injection, cf.
  // GHSA-22cc-p3c6-wpvm); "If the field value does not contain U+0000 NULL, then set the last
  // event ID buffer" — an id with NULL would be silently ignored by every client.
  if (FORBIDDEN_IN_SINGLE_LINE.test(value)) {
    throw new HeraldProtocolError(
      'INVALID_FIELD',
      `${field} must not contain CR, LF or NUL characters (got ${JSON.stringify(value)})`,
      field,
    );
  }
  return value;
}

function multiLine(field: 'data' | 'comment', value: unknown): string[] {
  if (typeof value !== 'string') {
    throw new HeraldProtocolError('INVALID_FIELD', `${field} must be a string`, field);
  }
  // Most values are one line: skip the regex split for them.
  if (value.indexOf('\n') === -1 && value.indexOf('\r') === -1) return [value];
  return value.split(LINE_BREAK);
}

/**
 * Encodes one event as event-stream text, ending with the blank line that dispatches it.
 *
 * - `data` is split on CR, LF and CRLF into one `data:` line each; `''` still yields one `data:`
 *   line, `undefined` yields none.
 * - `id` / `event` with CR, LF or NUL, or a `retry` that is not a non-negative integer, throw a
 *   {@link HeraldProtocolError} naming the field: no input can inject a field or an event.
 * - A `comment` becomes one `:` line per line. A comment-only block has no blank line after it,
 *   so it can be written between events (heartbeats) without touching any client state.
 *
 * @throws HeraldProtocolError when a field cannot be encoded safely
 */
export function encodeEvent(fields: EventFields): string {
  let out = '';
  if (fields.comment !== undefined) {
    for (const line of multiLine('comment', fields.comment))
      out += line === '' ? ':\n' : `: ${line}\n`;
  }
  let block = '';
  if (fields.retry !== undefined) {
    const retry = fields.retry;
    if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
      throw new HeraldProtocolError(
        'INVALID_FIELD',
        `retry must be a non-negative integer number of milliseconds (got ${String(retry)})`,
        'retry',
      );
    }
    block += `retry: ${retry}\n`;
  }
  // Every value is written after "field: " because "if value starts with a U+0020 SPACE
  // character, remove it from value" — one space is always stripped, so a value's own leading
  // space survives.
  if (fields.id !== undefined) block += `id: ${singleLine('id', fields.id)}\n`;
  if (fields.event !== undefined) block += `event: ${singleLine('event', fields.event)}\n`;
  if (fields.data !== undefined) {
    for (const line of multiLine('data', fields.data)) block += `data: ${line}\n`;
  }
  return block === '' ? out : `${out}${block}\n`;
}

/**
 * {@link encodeEvent} to UTF-8 bytes, for encode-once fan-out: encode an event a single time and
 * hand the same bytes to every subscriber's stream.
 *
 * @throws HeraldProtocolError when a field cannot be encoded safely
 */
export function encodeEventBytes(fields: EventFields): Uint8Array {
  return utf8.encode(encodeEvent(fields));
}
