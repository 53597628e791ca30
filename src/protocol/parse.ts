import { BRIEF, ERRORS_DOC } from './brief.js';
import { HeraldProtocolError } from './errors.js';
import type { EventStreamParser, ParserHandlers, ParserOptions } from './types.js';

// The rules implemented here are those of the HTML standard, §9.2.6 "Interpreting an event
// stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html). Quoted passages are
// from that section.

/** 16 MiB, in UTF-16 code units. */
const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024;

/** The names of the fields the standard acts on; a line naming any other field is ignored. */
const FIELDS = ['data', 'id', 'event', 'retry'];

/** The start of a line that names one of {@link FIELDS}. */
const KNOWN_FIELD = /^(data|id|event|retry):/;

/** A `retry` value the standard takes: ASCII digits only (`\d` is ASCII without the u flag). */
const DIGITS = /^\d+$/;

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
        : `maxEventBytes must be a positive number of UTF-16 code units, or Infinity (got ${String(maxEventBytes)})`,
    );
  }
  // "Streams must be decoded using the UTF-8 decode algorithm." A streaming decoder keeps a
  // character split across chunks; the BOM is stripped below (so text chunks share the rule).
  let decoder: TextDecoder;
  let decoderHasState: boolean;
  // "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM), if any."
  let bomPending: boolean;

  // "When a stream is parsed, a data buffer, an event type buffer, and a last event ID buffer
  // must be associated with it." `data` holds the data buffer without its final LF, and
  // `hasData` says whether it has one (the buffer is not empty); the buffer's length per the
  // standard is `data.length + 1` then.
  let data: string;
  let hasData: boolean;
  let eventType: string;
  let lastEventIdBuffer: string;
  // The "last event ID string of the event source", updated when an event is dispatched.
  let lastEventId = '';

  // The unterminated end of the previous chunk(s), and whether a CR ended the previous chunk
  // (an LF starting the next chunk then belongs to the same CRLF line ending).
  let partial: string;
  let skipLF: boolean;
  // After EVENT_TOO_LARGE: skip lines up to the next blank line. `discardLineStarted` says the
  // line being skipped already has content, so its line ending is not a blank line.
  let discarding: boolean;
  let discardLineStarted: boolean;
  // Skipping the rest of one line that nothing keeps (an unknown field, an unheard comment).
  let skippingLine: boolean;

  // Bumped by reset()/end(), so a handler that calls them stops the current chunk's loop.
  let generation = 0;
  let pendingThrow: HeraldProtocolError | undefined;

  /** The data buffer's length, as the standard counts it (with its final LF). */
  const size = (): number => (hasData ? data.length + 1 : 0);

  /** Empties the event being read: its data and type, and an id it has not dispatched. */
  function clearEvent(): void {
    data = eventType = '';
    hasData = false;
    lastEventIdBuffer = lastEventId;
  }

  /**
   * Reports `what` as too large to onError, or keeps the error to throw at the end of the chunk;
   * `kept` says what was not dropped with it.
   */
  function report(what: string, kept = ''): void {
    const error = new HeraldProtocolError(
      'EVENT_TOO_LARGE',
      BRIEF
        ? `${what} over maxEventBytes (${maxEventBytes}) dropped${ERRORS_DOC}`
        : `${what} exceeded maxEventBytes (${maxEventBytes} UTF-16 code units) and was dropped${kept}; raise maxEventBytes if such sizes are expected (Infinity: no limit).`,
    );
    // Handlers are called as methods of `handlers`, so a class instance can be passed.
    if (handlers.onError !== undefined) handlers.onError(error);
    else pendingThrow ??= error;
  }

  /** Drops the event being read; `midLine` when the rest of the current line is still due. */
  function tooLarge(midLine: boolean): void {
    // The event is dropped as if it had never been sent: its buffers, its id, and the rest of
    // the line being read, which is not buffered.
    clearEvent();
    partial = '';
    discarding = true;
    discardLineStarted = midLine;
    report(BRIEF ? 'An event' : 'An event (its data plus the line being read)');
  }

  /** Drops the rest of a comment longer than maxEventBytes, and only it. */
  function commentTooLarge(): void {
    partial = '';
    skippingLine = true;
    report('A comment line', BRIEF ? '' : ', the event around it is kept');
  }

  /** Processes one complete line (no line ending in it). */
  function processLine(line: string): void {
    // "If the line is empty (a blank line) — Dispatch the event, as defined below."
    if (line === '') {
      // "Set the last event ID string of the event source to the value of the last event ID
      // buffer. The buffer does not get reset, so the last event ID string of the event source
      // remains set to this value until the next time it is set by the server."
      lastEventId = lastEventIdBuffer;
      // "If the data buffer is an empty string, set the data buffer and the event type buffer
      // to the empty string and return." "If the data buffer's last character is a U+000A LINE
      // FEED (LF) character, then remove the last character from the data buffer." "Initialize
      // event's type attribute to "message" […] If the event type buffer has a value other than
      // the empty string, change the type of the newly created event to equal the value of the
      // event type buffer." "Set the data buffer and the event type buffer to the empty string."
      const event = hasData && { type: eventType || 'message', data, lastEventId };
      data = eventType = '';
      hasData = false;
      if (event) handlers.onEvent(event);
      return;
    }
    // "If the line contains a U+003A COLON character (:) — Collect the characters on the line
    // before the first U+003A COLON character (:), and let field be that string. Collect the
    // characters on the line after the first U+003A COLON character (:), and let value be that
    // string. If value starts with a U+0020 SPACE character, remove it from value."
    // "Otherwise, the string is not empty but does not contain a U+003A COLON character (:) —
    // […] using the whole line as the field name, and the empty string as the field value."
    const colon = line.indexOf(':');
    const value =
      colon < 0 ? '' : line.slice(line.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1);
    // "If the line starts with a U+003A COLON character (:) — Ignore the line." Herald reports
    // it to onComment, bounded by maxEventBytes on its own.
    if (colon === 0) {
      if (handlers.onComment === undefined) return;
      if (line.length > maxEventBytes) commentTooLarge();
      else handlers.onComment(value);
      skippingLine = false;
      return;
    }
    // Field names are case-sensitive; any other name: "The field is ignored", whatever its
    // length. A line of a field that is kept counts towards maxEventBytes.
    const field = FIELDS.indexOf(colon < 0 ? line : line.slice(0, colon));
    if (field < 0) return;
    if (size() + line.length > maxEventBytes) {
      tooLarge(false);
    } else if (field === 0) {
      // "Append the field value to the data buffer, then append a single U+000A LINE FEED (LF)
      // character to the data buffer."
      data = hasData ? `${data}\n${value}` : value;
      hasData = true;
    } else if (field === 1) {
      // "If the field value does not contain U+0000 NULL, then set the last event ID buffer to
      // the field value. Otherwise, ignore the field."
      if (!value.includes('\0')) lastEventIdBuffer = value;
    } else if (field === 2) {
      // "Set the event type buffer to field value."
      eventType = value;
    } else if (handlers.onRetry !== undefined && DIGITS.test(value)) {
      // "If the field value consists of only ASCII digits, then interpret the field value as an
      // integer in base ten, and set the event stream's reconnection time to that integer.
      // Otherwise, ignore the field." (An empty value is not a number: ignored, as browsers do.)
      handlers.onRetry(Number.parseInt(value, 10));
    }
  }

  /** Parses one chunk of decoded text. */
  function processText(text: string): void {
    const length = text.length;
    if (length === 0) return;
    let pos = 0;
    if (bomPending) {
      bomPending = false;
      if (text.charCodeAt(0) === 0xfeff) pos = 1;
    }
    // "a single U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN (CR)
    // character" — the LF of a CRLF split across chunks is not a second line ending.
    if (skipLF && pos < length) {
      skipLF = false;
      if (text.charCodeAt(pos) === 0x0a) pos++;
    }
    const gen = generation;
    // Next CR / LF at or after `pos` (`length` when none): each is searched for once per
    // occurrence, so a chunk is scanned in linear time whatever its mix of line endings.
    let nextCR = -1;
    let nextLF = -1;
    while (pos < length) {
      if (nextCR <= pos) nextCR = text.indexOf('\r', pos) + 1 || length + 1;
      if (nextLF <= pos) nextLF = text.indexOf('\n', pos) + 1 || length + 1;
      // (nextCR / nextLF are one past the character found.)
      // "The stream must then be parsed by reading everything line by line, with a U+000D
      // CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE FEED (LF)
      // character not preceded by a U+000D CARRIAGE RETURN (CR) character, and a single U+000D
      // CARRIAGE RETURN (CR) character not followed by a U+000A LINE FEED (LF) character being
      // the ways in which a line can end."
      const next = Math.min(nextCR, nextLF);
      if (next > length) {
        // No line ending: keep the rest for the next chunk, within the event's size bound —
        // unless the line's start already shows that nothing keeps it.
        if (discarding) {
          discardLineStarted = true;
        } else if (!skippingLine) {
          const head = partial.length >= 6 ? partial : partial + text.slice(pos, pos + 6);
          const isComment = head.charCodeAt(0) === 0x3a;
          // A start that may still become a field's name (`da`, `data`: the next character
          // decides) is kept, and not counted yet: whether a line counts cannot depend on where
          // a chunk ends.
          const known = isComment || KNOWN_FIELD.test(head);
          if (
            isComment
              ? handlers.onComment === undefined
              : !known && !FIELDS.some((name) => name.startsWith(head))
          ) {
            // "If the line starts with a U+003A COLON character (:) — Ignore the line." / "The
            // field is ignored." Nothing of it is needed: skip to its end.
            partial = '';
            skippingLine = true;
          } else if (
            known &&
            (isComment ? 0 : size()) + partial.length + length - pos > maxEventBytes
          ) {
            if (isComment) commentTooLarge();
            else tooLarge(true);
          } else {
            partial += text.slice(pos);
          }
        }
        return;
      }
      const lineEnd = next - 1;
      if (skippingLine) {
        // The end of a skipped line (it had content, so this is not a blank line).
        skippingLine = false;
      } else if (discarding) {
        // Skip every line of the oversized event; its blank line ends it without a dispatch.
        if (lineEnd === pos && !discardLineStarted) discarding = false;
        discardLineStarted = false;
      } else {
        const line = partial + text.slice(pos, lineEnd);
        partial = '';
        processLine(line);
      }
      pos = next;
      if (next === nextCR) {
        // A CR ends the line now; an LF right after it is part of the same line ending, also
        // when it arrives with the next chunk.
        if (next === length) skipLF = true;
        else if (next === nextLF - 1) pos++;
      }
      if (generation !== gen) return;
    }
  }

  function clearStream(): void {
    generation++;
    decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    decoderHasState = skipLF = discarding = discardLineStarted = skippingLine = false;
    bomPending = true;
    partial = '';
    // A new stream's last event ID buffer starts from the last event ID string (what a browser
    // sends as Last-Event-ID): an id of the discarded, undispatched event does not count.
    clearEvent();
  }
  clearStream();

  /** Flushes the bytes the decoder holds (as U+FFFD) where text or the end of stream follows. */
  function flush(): void {
    if (decoderHasState) {
      decoderHasState = false;
      processText(decoder.decode());
    }
  }

  function throwPending(): void {
    const error = pendingThrow;
    pendingThrow = undefined;
    if (error !== undefined) throw error;
  }

  return {
    feed(chunk: string | Uint8Array): void {
      // (A size error left over from a feed that a throwing handler cut short is dropped.)
      pendingThrow = undefined;
      if (typeof chunk === 'string') {
        flush();
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
      flush();
      clearStream();
      throwPending();
    },
    reset: clearStream,
    get lastEventId(): string {
      return lastEventId;
    },
  };
}
