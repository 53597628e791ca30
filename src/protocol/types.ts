import type { HeraldProtocolError } from './errors.js';

/** One dispatched event, with exactly what a browser's `MessageEvent` would show. */
export interface ParsedEvent {
  /** The event type: the last `event:` field, or `message` when it was absent or empty. */
  type: string;
  /** The data lines joined by `\n` (the final line break removed). */
  data: string;
  /** The stream's last event ID at the time of dispatch (persists across events). */
  lastEventId: string;
}

/** The fields of one event to put on the wire. Every field is optional. */
export interface EventFields {
  /** The payload. Split on CR, LF and CRLF into one `data:` line each; `''` yields one empty line. */
  data?: string;
  /** The event type (`event:`); no CR, LF or NUL allowed. */
  event?: string;
  /** The event id (`id:`); no CR, LF or NUL allowed. `''` resets the client's last event id. */
  id?: string;
  /** The reconnection time in milliseconds (`retry:`); a non-negative integer. */
  retry?: number;
  /** A comment (`:` lines), ignored by clients; line breaks make several comment lines. */
  comment?: string;
}

/** Callbacks of a parser. */
export interface ParserHandlers {
  /** Called once per dispatched event. */
  onEvent(event: ParsedEvent): void;
  /** Called for each valid `retry:` field (ASCII digits only) with its value in milliseconds. */
  onRetry?(ms: number): void;
  /** Called for each comment line with the text after the colon (one leading space removed). */
  onComment?(text: string): void;
  /**
   * Called with a typed error when an event grows past `maxEventBytes`; that event is discarded
   * and parsing resumes at the next event. Without this handler, `feed` (or `end`, whose decoder
   * flush adds to the pending line) throws the error instead, once the whole chunk is parsed.
   */
  onError?(error: HeraldProtocolError): void;
}

/** Options of a parser. */
export interface ParserOptions {
  /**
   * Upper bound, in UTF-16 code units held in memory, for one event's buffered data plus the
   * line being read. Defaults to 16 MiB; `Infinity` turns the bound off.
   */
  maxEventBytes?: number;
}

/** A streaming event-stream parser. */
export interface EventStreamParser {
  /** Feed the next chunk of the stream, as text or as UTF-8 bytes (which may split characters). */
  feed(chunk: string | Uint8Array): void;
  /** The stream ended: flush the decoder and discard an unterminated final event. */
  end(): void;
  /**
   * Forget any partial line and event (not the last event ID), as a reconnect requires; the next
   * chunk is treated as a new stream, so its leading BOM is skipped again.
   */
  reset(): void;
  /**
   * The stream's last event ID string: the last event ID buffer as of the latest blank line, so
   * it includes an `id` sent in a block without data. This is what a client sends as
   * `Last-Event-ID` when it reconnects.
   */
  readonly lastEventId: string;
}
