import { HeraldProtocolError } from './errors.js';
import type { EventFields } from './types.js';

// "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character
// pair, a single U+000A LINE FEED (LF) character, or a single U+000D CARRIAGE RETURN (CR)
// character." — so a value is split on all three before it becomes field lines.
const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_SINGLE_LINE = /[\r\n\0]/;

const utf8 = /* @__PURE__ */ new TextEncoder();

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
    // One join, not a concatenation per line: data of 100 000s of line breaks (7× on the wire)
    // encoded line by line took ~0.4 s of the event loop.
    block += `data: ${multiLine('data', fields.data).join('\ndata: ')}\n`;
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

/**
 * The UTF-8 byte length of the `data:` lines {@link encodeEvent} writes for `data`, without
 * building them: every line costs `data: ` and a line feed on top of its text, so data made of
 * line breaks grows up to 7× on the wire. Lone surrogates count as the 3 bytes of U+FFFD, as
 * the encoder writes them.
 */
export function encodedDataLength(data: string): number {
  let bytes = 0;
  let lines = 1;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0x0a) lines++;
      else if (c === 0x0d) {
        lines++;
        if (data.charCodeAt(i + 1) === 0x0a) i++; // CRLF is one line break
      } else bytes++;
    } else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = data.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes + lines * 7; // "data: " + "\n" per line
}

/**
 * The UTF-8 byte length of what {@link encodeEventBytes} returns for an event's `data`, `event`,
 * `id` and `retry` (valid fields: nothing is checked; a `comment` is not counted), computed
 * without encoding — for bounds that must count what an event costs on the wire.
 */
export function encodedLength(fields: Omit<EventFields, 'comment'>): number {
  let block = 0;
  if (fields.retry !== undefined) block += 8 + String(fields.retry).length;
  if (fields.id !== undefined) block += 5 + utf8Length(fields.id);
  if (fields.event !== undefined) block += 8 + utf8Length(fields.event);
  if (fields.data !== undefined) block += encodedDataLength(fields.data);
  const empty =
    fields.retry === undefined &&
    fields.id === undefined &&
    fields.event === undefined &&
    fields.data === undefined;
  return empty ? 0 : block + 1; // the blank line that dispatches the event
}

/** UTF-8 bytes of a single-line value. */
function utf8Length(text: string): number {
  return encodedDataLength(text) - 7;
}
