import { BRIEF, ERRORS_DOC } from './brief.js';
import { HeraldProtocolError } from './errors.js';
import type { EventStreamParser, ParserHandlers, ParserOptions } from './types.js';

// The rules implemented here are those of the HTML standard, §9.2.6 "Interpreting an event
// stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html). Quoted passages are
// from that section.

const LF = 0x0a;
const SPACE = 0x20;
const COLON = 0x3a;
const BOM = 0xfeff;
const LOWER_D = 0x64;
const LOWER_E = 0x65;
const LOWER_I = 0x69;
const LOWER_R = 0x72;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** 16 MiB, in UTF-16 code units. */
const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024;

/**
 * The value of a field whose name ends at `nameEnd` on the line ending at `end`, or `undefined`
 * when the name continues (it is then another, unknown field).
 */
function fieldValue(line: string, nameEnd: number, end: number): string | undefined {
  // "If the line contains a U+003A COLON character (:) […] Collect the characters on the line
  // after the first U+003A COLON character (:), and let value be that string. If value starts
  // with a U+0020 SPACE character, remove it from value."
  // (A match of ": " is inside the line: neither character is a line ending.)
  if (line.startsWith(': ', nameEnd)) return line.slice(nameEnd + 2, end);
  if (nameEnd < end) {
    return line.charCodeAt(nameEnd) === COLON ? line.slice(nameEnd + 1, end) : undefined;
  }
  // "Otherwise, the string is not empty but does not contain a U+003A COLON character (:) —
  // Process the field using the steps described below, using the whole line as the field name,
  // and the empty string as the field value."
  return '';
}

/** The names of the fields the standard acts on; a line naming any other field is ignored. */
const FIELDS = ['data', 'id', 'event', 'retry'];

/** What the start of a line shows: a field the standard acts on. */
const KNOWN = 0;
/** What the start of a line shows: a field it ignores ("The field is ignored"). */
const UNKNOWN = 1;
/** What the start of a line shows: not yet either (`da`, `data`: the next character decides). */
const UNDECIDED = 2;

/**
 * What the start of a line that has not ended (`head`, at least its first 6 code units when it
 * has them) shows about its field: {@link KNOWN}, {@link UNKNOWN} or {@link UNDECIDED}.
 */
function fieldKind(head: string): number {
  let kind = UNKNOWN;
  for (const name of FIELDS) {
    if (head.length <= name.length) {
      if (name.startsWith(head)) kind = UNDECIDED;
    } else if (head.startsWith(name) && head.charCodeAt(name.length) === COLON) {
      return KNOWN;
    }
  }
  return kind;
}

/** True when `value` is non-empty and made of ASCII digits only. */
function isAsciiDigits(value: string): boolean {
  const length = value.length;
  if (length === 0) return false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return false;
  }
  return true;
}

/**
 * Creates a streaming parser for `text/event-stream` bodies that follows the HTML standard's
 * "interpreting an event stream" rules exactly, as a browser's `EventSource` does.
 *
 * - Feed text or UTF-8 bytes in chunks of any size: a multi-byte character, a BOM or a CRLF pair
 *   split across chunks is handled; invalid bytes become U+FFFD.
 * - Lines end at CRLF, LF or CR. A blank line dispatches the event; `onEvent` receives what a
 *   browser's `MessageEvent` shows (`type`, `data`, `lastEventId`). An event without data is not
 *   dispatched, but its `id` still updates the last event ID.
 * - `onRetry` receives each `retry:` value made of ASCII digits only; `onComment` receives each
 *   comment line's text with one leading space removed.
 * - `options.maxEventBytes` (default 16 MiB, `Infinity` for no bound) bounds the memory one event
 *   may hold (its data buffer plus the `data`, `id`, `event` or `retry` line being read, in
 *   UTF-16 code units). A larger event is reported as a {@link HeraldProtocolError} with code
 *   `EVENT_TOO_LARGE` — to `onError` when given, otherwise thrown by `feed` (or `end`) once the
 *   whole chunk has been parsed — and discarded: its id and type are dropped and every line up
 *   to the next blank line is skipped without being buffered, then parsing resumes.
 * - Only what is kept counts: a line of an unknown field, or a comment when there is no
 *   `onComment`, is skipped as soon as its start shows what it is, never buffered, never counted,
 *   whatever its length. A comment for `onComment` is bounded by `maxEventBytes` on its own: a
 *   longer one is reported the same way and dropped alone, the event around it kept.
 * - `lastEventId` is the last event ID string as of the latest blank line (also after an id-only
 *   block); `reset()` keeps it and drops anything not yet dispatched.
 *
 * Handlers run synchronously inside `feed`. Calling `reset()` or `end()` from a handler stops the
 * parsing of the rest of the chunk being fed.
 *
 * @param handlers - callbacks for events, `retry` values, comments and size errors
 * @param options - limits; see {@link ParserOptions}
 * @returns a parser to `feed` chunks to, `end` at end of stream and `reset` on reconnect
 * @throws RangeError when `maxEventBytes` is not a positive number
 */
export function createParser(handlers: ParserHandlers, options?: ParserOptions): EventStreamParser {
  const maxEventBytes = options?.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (typeof maxEventBytes !== 'number' || !(maxEventBytes > 0)) {
    throw new RangeError(
      BRIEF
        ? `maxEventBytes: ${String(maxEventBytes)}, not a number > 0`
        : `maxEventBytes must be a positive number of UTF-16 code units, or Infinity for no limit (got ${String(maxEventBytes)})`,
    );
  }
  // "Streams must be decoded using the UTF-8 decode algorithm." A streaming decoder keeps a
  // character split across chunks; the BOM is stripped below (so text chunks share the rule).
  let decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let decoderHasState = false;
  // "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM), if any."
  let bomPending = true;

  // "When a stream is parsed, a data buffer, an event type buffer, and a last event ID buffer
  // must be associated with it."
  // The data buffer is kept without its final LF: `data` holds the lines joined by LF and
  // `dataLines` counts them, so "the data buffer is an empty string" is `dataLines === 0` and
  // the buffer's length per the standard is `dataSize`.
  let data = '';
  let dataLines = 0;
  let dataSize = 0;
  let eventType = '';
  let lastEventIdBuffer = '';
  // The "last event ID string of the event source", updated when an event is dispatched.
  let lastEventId = '';

  // The unterminated end of the previous chunk(s), and whether a CR ended the previous chunk
  // (an LF starting the next chunk then belongs to the same CRLF line ending).
  let partial = '';
  let skipLF = false;
  // After EVENT_TOO_LARGE: skip lines up to the next blank line. `discardLineStarted` says the
  // line being skipped already has content, so its line ending is not a blank line.
  let discarding = false;
  let discardLineStarted = false;
  // Skipping the rest of one line that nothing keeps (an unknown field, an unheard comment).
  let skippingLine = false;

  // Bumped by reset()/end(), so a handler that calls them stops the current chunk's loop.
  let generation = 0;
  let pendingThrow: HeraldProtocolError | undefined;

  /** Reports a size error to onError, or keeps it to throw at the end of the chunk. */
  function report(message: string): void {
    const error = new HeraldProtocolError(
      'EVENT_TOO_LARGE',
      BRIEF
        ? `${message}${ERRORS_DOC}`
        : `${message} If such large events are expected, raise the maxEventBytes option of createParser (or pass Infinity to remove the limit).`,
    );
    // Handlers are called as methods of `handlers`, so a class instance can be passed.
    if (handlers.onError !== undefined) handlers.onError(error);
    else if (pendingThrow === undefined) pendingThrow = error;
  }

  /** Drops the event being read; `midLine` when the rest of the current line is still due. */
  function tooLarge(midLine: boolean): void {
    // The event is dropped as if it had never been sent: its buffers, its id, and the rest of
    // the line being read, which is not buffered.
    data = '';
    dataLines = 0;
    dataSize = 0;
    eventType = '';
    lastEventIdBuffer = lastEventId;
    partial = '';
    discarding = true;
    discardLineStarted = midLine;
    report(
      BRIEF
        ? `An event over maxEventBytes (${maxEventBytes}) dropped`
        : `An incoming event exceeded maxEventBytes (${maxEventBytes} UTF-16 code units of data plus the line being read) and was discarded.`,
    );
  }

  /** Drops a comment longer than maxEventBytes, and only it. */
  function commentTooLarge(): void {
    report(
      BRIEF
        ? `A comment line over maxEventBytes (${maxEventBytes}) dropped`
        : `A comment line exceeded maxEventBytes (${maxEventBytes} UTF-16 code units) and was not passed to onComment; the event around it is kept.`,
    );
  }

  function dispatch(): void {
    // "Set the last event ID string of the event source to the value of the last event ID
    // buffer. The buffer does not get reset, so the last event ID string of the event source
    // remains set to this value until the next time it is set by the server."
    lastEventId = lastEventIdBuffer;
    // "If the data buffer is an empty string, set the data buffer and the event type buffer to
    // the empty string and return."
    if (dataLines === 0) {
      eventType = '';
      return;
    }
    // "If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
    // the last character from the data buffer." (`data` never holds that final LF.)
    // "Initialize event's type attribute to "message" […] If the event type buffer has a value
    // other than the empty string, change the type of the newly created event to equal the
    // value of the event type buffer."
    const event = {
      type: eventType === '' ? 'message' : eventType,
      data,
      lastEventId,
    };
    // "Set the data buffer and the event type buffer to the empty string."
    data = '';
    dataLines = 0;
    dataSize = 0;
    eventType = '';
    handlers.onEvent(event);
  }

  /** Processes the complete line `line.slice(start, end)` (no line ending in it). */
  function processLine(line: string, start: number, end: number): void {
    // "If the line is empty (a blank line) — Dispatch the event, as defined below."
    if (start === end) {
      dispatch();
      return;
    }
    // Only a line that is kept counts towards maxEventBytes: each branch checks it once the
    // field name is known (an unknown field is ignored, whatever its length).
    const tooLong = dataSize + (end - start) > maxEventBytes;
    // "Collect the characters on the line before the first U+003A COLON character (:), and let
    // field be that string." Only four field names mean anything, so the line's start is matched
    // against them directly (field names are case-sensitive); any other name "is ignored".
    // A name's letters are not line endings, so a match never runs past `end`. (One charCodeAt
    // and one startsWith per line: fewer string accesses stay fast when the optimized code has
    // seen both one-byte and two-byte strings.)
    const first = line.charCodeAt(start);
    if (first === LOWER_D) {
      if (line.startsWith('ata', start + 1)) {
        const value = fieldValue(line, start + 4, end);
        if (value === undefined) return;
        if (tooLong) {
          tooLarge(false);
          return;
        }
        // "Append the field value to the data buffer, then append a single U+000A LINE FEED
        // (LF) character to the data buffer."
        data = dataLines === 0 ? value : `${data}\n${value}`;
        dataLines++;
        dataSize += value.length + 1;
      }
      return;
    }
    if (first === LOWER_I) {
      if (line.charCodeAt(start + 1) === LOWER_D) {
        const value = fieldValue(line, start + 2, end);
        if (value !== undefined && tooLong) {
          tooLarge(false);
          return;
        }
        // "If the field value does not contain U+0000 NULL, then set the last event ID buffer
        // to the field value. Otherwise, ignore the field."
        if (value !== undefined && value.indexOf('\0') === -1) lastEventIdBuffer = value;
      }
      return;
    }
    if (first === LOWER_E) {
      if (line.startsWith('vent', start + 1)) {
        const value = fieldValue(line, start + 5, end);
        if (value !== undefined && tooLong) {
          tooLarge(false);
          return;
        }
        // "Set the event type buffer to field value."
        if (value !== undefined) eventType = value;
      }
      return;
    }
    // "If the line starts with a U+003A COLON character (:) — Ignore the line."
    if (first === COLON) comment(line, start, end);
    else if (first === LOWER_R) retry(line, start, end, tooLong);
  }

  /** A comment line: Herald reports it to onComment, one leading space removed like a value. */
  function comment(line: string, start: number, end: number): void {
    if (handlers.onComment !== undefined) {
      if (end - start > maxEventBytes) {
        commentTooLarge();
        return;
      }
      let from = start + 1;
      if (from < end && line.charCodeAt(from) === SPACE) from++;
      handlers.onComment(line.slice(from, end));
    }
  }

  /** A line starting with `r`: a `retry` field, or an unknown one. */
  function retry(line: string, start: number, end: number, tooLong: boolean): void {
    if (line.startsWith('etry', start + 1)) {
      const value = fieldValue(line, start + 5, end);
      if (value !== undefined && tooLong) {
        tooLarge(false);
        return;
      }
      // "If the field value consists of only ASCII digits, then interpret the field value as an
      // integer in base ten, and set the event stream's reconnection time to that integer.
      // Otherwise, ignore the field." (An empty value is not a number: ignored, as browsers do.)
      if (value !== undefined && handlers.onRetry !== undefined && isAsciiDigits(value)) {
        handlers.onRetry(Number.parseInt(value, 10));
      }
    }
  }

  /** Parses one chunk of decoded text. */
  function processText(text: string): void {
    const length = text.length;
    if (length === 0) return;
    let pos = 0;
    if (bomPending) {
      bomPending = false;
      if (text.charCodeAt(0) === BOM) pos = 1;
    }
    // "a single U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN (CR)
    // character" — the LF of a CRLF split across chunks is not a second line ending.
    if (skipLF && pos < length) {
      skipLF = false;
      if (text.charCodeAt(pos) === LF) pos++;
    }
    const gen = generation;
    // Next CR / LF at or after `pos` (`length` when none): each is searched for once per
    // occurrence, so a chunk is scanned in linear time whatever its mix of line endings.
    let nextCR = -1;
    let nextLF = -1;
    while (pos < length) {
      if (nextCR < pos) {
        nextCR = text.indexOf('\r', pos);
        if (nextCR === -1) nextCR = length;
      }
      if (nextLF < pos) {
        nextLF = text.indexOf('\n', pos);
        if (nextLF === -1) nextLF = length;
      }
      // "The stream must then be parsed by reading everything line by line, with a U+000D
      // CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE FEED (LF)
      // character not preceded by a U+000D CARRIAGE RETURN (CR) character, and a single U+000D
      // CARRIAGE RETURN (CR) character not followed by a U+000A LINE FEED (LF) character being
      // the ways in which a line can end."
      const lineEnd = Math.min(nextCR, nextLF);
      if (lineEnd === length) {
        // No line ending: keep the rest for the next chunk, within the event's size bound —
        // unless the line's start already shows that nothing keeps it.
        if (discarding) {
          discardLineStarted = true;
        } else if (!skippingLine) {
          const head = partial.length >= 6 ? partial : partial + text.slice(pos, pos + 6);
          const isComment = head.charCodeAt(0) === COLON;
          const kind = isComment ? KNOWN : fieldKind(head);
          if (isComment ? handlers.onComment === undefined : kind === UNKNOWN) {
            // "If the line starts with a U+003A COLON character (:) — Ignore the line." / "The
            // field is ignored." Nothing of it is needed: skip to its end.
            partial = '';
            skippingLine = true;
          } else if (
            // (An undecided start, at most 5 code units, is not counted yet: whether a line
            // counts cannot depend on where a chunk ends.)
            kind === KNOWN &&
            (isComment ? 0 : dataSize) + partial.length + (length - pos) > maxEventBytes
          ) {
            if (isComment) {
              partial = '';
              skippingLine = true;
              commentTooLarge();
            } else {
              tooLarge(true);
            }
          } else {
            partial = partial === '' ? text.slice(pos) : partial + text.slice(pos);
          }
        }
        return;
      }
      if (skippingLine) {
        // The end of a skipped line (it had content, so this is not a blank line).
        skippingLine = false;
      } else if (discarding) {
        // Skip every line of the oversized event; its blank line ends it without a dispatch.
        if (lineEnd === pos && !discardLineStarted) discarding = false;
        discardLineStarted = false;
      } else if (partial === '') {
        processLine(text, pos, lineEnd);
      } else {
        const line = partial + text.slice(pos, lineEnd);
        partial = '';
        processLine(line, 0, line.length);
      }
      if (lineEnd === nextCR) {
        // A CR ends the line now; an LF right after it is part of the same line ending, also
        // when it arrives with the next chunk.
        const after = lineEnd + 1;
        if (after === length) {
          skipLF = true;
          pos = length;
        } else {
          pos = text.charCodeAt(after) === LF ? after + 1 : after;
        }
      } else {
        pos = lineEnd + 1;
      }
      if (generation !== gen) return;
    }
  }

  function clearStream(): void {
    generation++;
    decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    decoderHasState = false;
    bomPending = true;
    partial = '';
    skipLF = false;
    discarding = false;
    discardLineStarted = false;
    skippingLine = false;
    data = '';
    dataLines = 0;
    dataSize = 0;
    eventType = '';
    // A new stream's last event ID buffer starts from the last event ID string (what a browser
    // sends as Last-Event-ID): an id of the discarded, undispatched event does not count.
    lastEventIdBuffer = lastEventId;
  }

  function throwPending(): void {
    const error = pendingThrow;
    if (error !== undefined) {
      pendingThrow = undefined;
      throw error;
    }
  }

  return {
    feed(chunk: string | Uint8Array): void {
      // (A size error left over from a feed that a throwing handler cut short is dropped.)
      pendingThrow = undefined;
      if (typeof chunk === 'string') {
        // Bytes still held by the decoder end where text starts: flush them (as U+FFFD).
        if (decoderHasState) {
          decoderHasState = false;
          processText(decoder.decode());
        }
        processText(chunk);
      } else {
        decoderHasState = true;
        processText(decoder.decode(chunk, { stream: true }));
      }
      throwPending();
    },
    end(): void {
      // "Once the end of the file is reached, any pending data must be discarded. (If the file
      // ends in the middle of an event, before the final empty line, the incomplete event is
      // not dispatched.)" Flushing the decoder can only add U+FFFD to that pending line (which
      // still counts towards maxEventBytes), so no event can come of it.
      if (decoderHasState) {
        decoderHasState = false;
        processText(decoder.decode());
      }
      clearStream();
      throwPending();
    },
    reset(): void {
      clearStream();
    },
    get lastEventId(): string {
      return lastEventId;
    },
  };
}
