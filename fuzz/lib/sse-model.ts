// A reference model of the HTML standard's "interpreting an event stream" (§9.2.6), written as a
// literal transcription of the spec's steps over a whole, already decoded stream: no chunking,
// no buffering tricks, no limits. The fuzzers compare Herald's streaming parser against it.

/** An event as a browser's MessageEvent shows it. */
export interface ModelEvent {
  type: string;
  data: string;
  lastEventId: string;
}

/** Everything a stream tells its reader. */
export interface ModelOutcome {
  events: ModelEvent[];
  retries: number[];
  comments: string[];
  /** The last event ID string after the stream ended. */
  lastEventId: string;
}

/**
 * Decodes bytes to text with replacement characters, keeping a leading BOM: the spec's "UTF-8
 * decode" strips it, and {@link interpretEventStream} does that step itself, so the same text
 * can be fed to a parser that takes text.
 */
export function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}

/**
 * Interprets a whole event stream given as text (decoded, its BOM still there: one leading
 * U+FEFF is stripped here, as "UTF-8 decode" would).
 */
export function interpretEventStream(input: string): ModelOutcome {
  const text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  const out: ModelOutcome = { events: [], retries: [], comments: [], lastEventId: '' };
  let data = '';
  let eventType = '';
  let lastEventIdBuffer = '';

  // "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF)
  // character pair, a single U+000A LINE FEED (LF) character, or a single U+000D CARRIAGE
  // RETURN (CR) character." A last line without its end is never processed: "Once the end of
  // the file is reached, any pending data must be discarded."
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || c === '\r') {
      lines.push(text.slice(start, i));
      if (c === '\r' && text[i + 1] === '\n') i++;
      start = i + 1;
    }
  }

  const dispatch = (): void => {
    // "1. Set the last event ID string of the event source to the value of the last event ID
    // buffer."
    out.lastEventId = lastEventIdBuffer;
    // "2. If the data buffer is an empty string, set the data buffer and the event type buffer
    // to the empty string and return."
    if (data === '') {
      eventType = '';
      return;
    }
    // "3. If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
    // the last character from the data buffer."
    const value = data.endsWith('\n') ? data.slice(0, -1) : data;
    // "…the type attribute initialized to "message" […] If the event type buffer has a value
    // other than the empty string, change the type of the newly created event to equal the
    // value of the event type buffer."
    out.events.push({
      type: eventType === '' ? 'message' : eventType,
      data: value,
      lastEventId: out.lastEventId,
    });
    data = '';
    eventType = '';
  };

  const processField = (field: string, value: string): void => {
    if (field === 'event') {
      eventType = value;
    } else if (field === 'data') {
      data += `${value}\n`;
    } else if (field === 'id') {
      // "If the field value does not contain U+0000 NULL, then set the last event ID buffer to
      // the field value. Otherwise, ignore the field."
      if (!value.includes('\0')) lastEventIdBuffer = value;
    } else if (field === 'retry') {
      // "If the field value consists of only ASCII digits, then interpret the field value as an
      // integer in base ten…"
      if (/^[0-9]+$/.test(value)) out.retries.push(Number(value));
    }
    // "Otherwise: The field is ignored."
  };

  for (const line of lines) {
    if (line === '') {
      // "If the line is empty (a blank line): Dispatch the event."
      dispatch();
    } else if (line.startsWith(':')) {
      // "If the line starts with a U+003A COLON character (:): Ignore the line." (Herald
      // reports the comment text, one leading space removed.)
      const comment = line.slice(1);
      out.comments.push(comment.startsWith(' ') ? comment.slice(1) : comment);
    } else {
      const colon = line.indexOf(':');
      if (colon >= 0) {
        // "Collect the characters on the line before the first U+003A COLON character (:), and
        // let field be that string. Collect the characters on the line after the first U+003A
        // COLON character (:), and let value be that string. If value starts with a U+0020
        // SPACE character, remove it from value."
        const value = line.slice(colon + 1);
        processField(line.slice(0, colon), value.startsWith(' ') ? value.slice(1) : value);
      } else {
        // "…using the whole line as the field name, and the empty string as the field value."
        processField(line, '');
      }
    }
  }
  return out;
}
