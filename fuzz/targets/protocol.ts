// Fuzz targets for herald/protocol. They add to test/unit/protocol-properties.test.ts (which
// checks chunking invariance and parse(encode(x)) with Herald's own parser) what that file does
// not: a reference model of the HTML standard to compare against, adversarial field values
// built to inject lines, and structural checks of the encoder's bytes.
import fc from 'fast-check';
import { encodeEvent, encodeEventBytes } from '../../src/protocol/encode.js';
import { HeraldProtocolError } from '../../src/protocol/errors.js';
import { createParser } from '../../src/protocol/parse.js';
import type { EventFields, ParsedEvent } from '../../src/protocol/types.js';
import { interpretEventStream, type ModelOutcome, utf8Decode } from '../lib/sse-model.js';
import type { FuzzSession, FuzzTarget } from '../target.js';

interface Parsed {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
  lastEventId: string;
  sizeErrors: number;
}

/** Feeds Herald's parser; only the typed size error may surface, and it is counted. */
function heraldParse(chunks: ReadonlyArray<string | Uint8Array>, maxEventBytes?: number): Parsed {
  const out: Parsed = { events: [], retries: [], comments: [], lastEventId: '', sizeErrors: 0 };
  const parser = createParser(
    {
      onEvent: (event) => out.events.push(event),
      onRetry: (ms) => out.retries.push(ms),
      onComment: (text) => out.comments.push(text),
      onError: (error) => {
        if (error.code !== 'EVENT_TOO_LARGE') throw error;
        out.sizeErrors++;
      },
    },
    maxEventBytes === undefined ? undefined : { maxEventBytes },
  );
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  out.lastEventId = parser.lastEventId;
  return out;
}

function sameAsModel(got: Parsed, model: ModelOutcome): boolean {
  return (
    JSON.stringify([got.events, got.retries, got.comments, got.lastEventId]) ===
    JSON.stringify([model.events, model.retries, model.comments, model.lastEventId])
  );
}

/** Splits at the given cut points (modulo the length, sorted, deduplicated). */
export function chunked<T extends string | Uint8Array>(input: T, cuts: readonly number[]): T[] {
  const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: T[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(input.slice(from, point) as T);
    from = point;
  }
  chunks.push(input.slice(from) as T);
  return chunks;
}

const encoder = new TextEncoder();
const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/** Pieces of event streams: field names, separators, line ends, BOMs, NULs, multi-byte text. */
const piece = fc.constantFrom(
  'data',
  'data:',
  'data: ',
  'id:',
  'id: ',
  'id',
  'event:',
  'event: ',
  'retry:',
  'retry: ',
  'retry: 1000',
  'retry:12x',
  ':',
  ': comment',
  '\r',
  '\n',
  '\r\n',
  '\n\n',
  '\r\r',
  ' ',
  '\0',
  '\uFEFF',
  '0123',
  'x',
  'DATA:',
  'data :',
  '\u00e9',
  '\u20ac',
  '\u{1f600}',
);
/** Byte strings that look like event streams, with arbitrary (often invalid UTF-8) bytes. */
const streamBytes = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: piece.map((p) => encoder.encode(p)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }) },
      {
        weight: 1,
        // A multi-byte character cut short, or a lone continuation byte.
        arbitrary: fc.constantFrom(
          new Uint8Array([0xe2, 0x82]),
          new Uint8Array([0xf0, 0x9f]),
          new Uint8Array([0x80]),
          new Uint8Array([0xef, 0xbb, 0xbf]),
        ),
      },
    ),
    { maxLength: 80 },
  )
  .map(concat);
/** Streams made of whole lines: mostly well-formed fields, blank lines, comments. */
const lineStream = fc
  .array(
    fc.tuple(
      fc.constantFrom('data', 'data', 'data', 'id', 'event', 'retry', '', ':', 'x', 'Data'),
      fc.constantFrom(':', ': ', ': ', '', ':  '),
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 6 }),
        fc.constantFrom('', '1500', '12a', 'message', 'a\0b', '\uFEFF', ' '),
      ),
      fc.constantFrom('\n', '\n', '\r\n', '\r', '\n\n', '\r\n\r\n', '\n\n'),
    ),
    { maxLength: 30 },
  )
  .map((lines) => encoder.encode(lines.map(([f, sep, v, end]) => `${f}${sep}${v}${end}`).join('')));
const anyBytes = fc.oneof(
  { weight: 4, arbitrary: lineStream },
  { weight: 3, arbitrary: streamBytes },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);
const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 12 });

/** The parser against the reference model, for bytes and for text, in any chunking. */
export const parserTarget: FuzzTarget = {
  name: 'parser',
  summary:
    'arbitrary bytes in arbitrary chunks: never throws, equals the reference model of the HTML standard (text and bytes), size errors typed',
  cost: 1,
  async setup(): Promise<FuzzSession> {
    let runs = 0;
    let events = 0;
    let sizeErrors = 0;
    const property = fc.property(
      anyBytes,
      cuts,
      cuts,
      fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
      (bytes, byteCuts, textCuts, maxEventBytes) => {
        runs++;
        const text = utf8Decode(bytes);
        const model = interpretEventStream(text);
        if (maxEventBytes === undefined) {
          const fromBytes = heraldParse(chunked(bytes, byteCuts));
          const fromText = heraldParse(chunked(text, textCuts));
          events += fromBytes.events.length;
          return (
            fromBytes.sizeErrors === 0 &&
            sameAsModel(fromBytes, model) &&
            sameAsModel(fromText, model)
          );
        }
        // With a bound: the same outcome whatever the chunking, only typed errors, and every
        // dispatched event is one the model dispatches too (type and data: an id line that
        // was part of a dropped event is dropped with it), within the bound.
        const whole = heraldParse([bytes], maxEventBytes);
        const pieces = heraldParse(chunked(bytes, byteCuts), maxEventBytes);
        sizeErrors += whole.sizeErrors;
        events += whole.events.length;
        const key = (e: { type: string; data: string }): string => JSON.stringify([e.type, e.data]);
        const modelData = new Set(model.events.map(key));
        return (
          JSON.stringify(whole) === JSON.stringify(pieces) &&
          whole.events.every((e) => e.data.length < maxEventBytes && modelData.has(key(e))) &&
          (whole.sizeErrors > 0 || sameAsModel(whole, model))
        );
      },
    );
    return {
      property: property as fc.IRawProperty<unknown>,
      stats: () => ({ runs, events, sizeErrors }),
      teardown: async () => {},
    };
  },
};

/** Field values built to break out of their field: line ends, field names, blank lines. */
const hostile = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          '\n',
          '\r',
          '\r\n',
          '\n\n',
          '\r\r',
          '\n\r',
          'data: injected',
          'id: 666',
          'event: evil',
          'retry: 1',
          ':',
          ' ',
          '\0',
          '\uFEFF',
          '\u2028',
          '\u0085',
        ),
      },
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));
const oneLine = hostile.filter((v) => !/[\r\n\0]/.test(v));

/** What a client must see for `fields`. */
function expected(fields: EventFields & { data: string }): ParsedEvent {
  return {
    type: fields.event === undefined || fields.event === '' ? 'message' : fields.event,
    data: fields.data.replace(/\r\n|\r/g, '\n'),
    lastEventId: fields.id ?? '',
  };
}

const FIELD_LINE = /^(data|event|id|retry)(:|$)|^:/;

/** The encoder: exactly one event equal to its input, and no line it did not mean to write. */
export const encoderTarget: FuzzTarget = {
  name: 'encoder',
  summary:
    'parse(encode(x)) is exactly x (by the reference model too); every output line is one of its fields; CR/LF/NUL in id/event refused with a typed error',
  cost: 1,
  async setup(): Promise<FuzzSession> {
    let runs = 0;
    let refused = 0;
    let events = 0;
    const fields = fc.record(
      {
        data: hostile,
        event: fc.oneof(oneLine, hostile),
        id: fc.oneof(oneLine, hostile),
        retry: fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(-1, 1.5, Number.NaN)),
        comment: hostile,
      },
      { requiredKeys: ['data'] },
    );
    const property = fc.property(
      fc.array(fields, { minLength: 1, maxLength: 4 }),
      cuts,
      (xs, c) => {
        runs++;
        const valid: Array<EventFields & { data: string }> = [];
        for (const x of xs) {
          const bad =
            /[\r\n\0]/.test(x.event ?? '') ||
            /[\r\n\0]/.test(x.id ?? '') ||
            (x.retry !== undefined && !(Number.isSafeInteger(x.retry) && x.retry >= 0));
          let text: string;
          try {
            text = encodeEvent(x);
          } catch (error) {
            // Refusal is right exactly when a field would break the format, and it is typed.
            if (!bad || !(error instanceof HeraldProtocolError) || error.code !== 'INVALID_FIELD') {
              return false;
            }
            refused++;
            continue;
          }
          if (bad) return false;
          // Same bytes as the byte encoder; one blank line, at the very end; every other line a
          // field of this event or a comment.
          if (new TextDecoder().decode(encodeEventBytes(x)) !== text) return false;
          if (!text.endsWith('\n\n') || text.slice(0, -1).includes('\n\n')) return false;
          const lines = text.slice(0, -2).split('\n');
          if (lines.some((line) => line.includes('\r') || !FIELD_LINE.test(line))) return false;
          valid.push(x);
        }
        // The whole sequence, as one stream in random chunks, reads back as exactly these events,
        // by Herald's parser and by the reference model.
        const stream = valid.map((x) => encodeEvent(x)).join('');
        let lastEventId = '';
        const want = valid.map((x) => {
          if (x.id !== undefined) lastEventId = x.id;
          return { ...expected(x), lastEventId };
        });
        const model = interpretEventStream(stream);
        const herald = heraldParse(chunked(encoder.encode(stream), c));
        const retries = valid.flatMap((x) => (x.retry === undefined ? [] : [x.retry]));
        events += want.length;
        return (
          JSON.stringify(model.events) === JSON.stringify(want) &&
          JSON.stringify(herald.events) === JSON.stringify(want) &&
          JSON.stringify(model.retries) === JSON.stringify(retries) &&
          JSON.stringify(herald.retries) === JSON.stringify(retries)
        );
      },
    );
    return {
      property: property as fc.IRawProperty<unknown>,
      stats: () => ({ runs, events, refused }),
      teardown: async () => {},
    };
  },
};
