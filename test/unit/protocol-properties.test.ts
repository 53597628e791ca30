import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeEvent, encodeEventBytes } from '../../src/protocol/encode.js';
import { HeraldProtocolError } from '../../src/protocol/errors.js';
import { createParser } from '../../src/protocol/parse.js';
import type { EventFields, ParsedEvent, ParserOptions } from '../../src/protocol/types.js';

// Bounded so the whole file runs in a few seconds; a failure prints its seed to replay it.
const RUNS = 300;

interface Outcome {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
  errors: number;
  lastEventId: string;
}

/**
 * Feeds `chunks` and ends the stream. Without `collectErrors`, size errors are thrown by `feed`
 * and `end`; only that typed error is tolerated (and counted), anything else fails the property.
 */
function run(
  chunks: ReadonlyArray<string | Uint8Array>,
  options?: ParserOptions,
  collectErrors = true,
): Outcome {
  const outcome: Outcome = { events: [], retries: [], comments: [], errors: 0, lastEventId: '' };
  const parser = createParser(
    {
      onEvent: (event) => outcome.events.push(event),
      onRetry: (ms) => outcome.retries.push(ms),
      onComment: (text) => outcome.comments.push(text),
      ...(collectErrors
        ? {
            onError: (error: HeraldProtocolError) => {
              assert.equal(error.code, 'EVENT_TOO_LARGE');
              outcome.errors++;
            },
          }
        : {}),
    },
    options,
  );
  const step = (action: () => void): void => {
    try {
      action();
    } catch (error) {
      if (!(error instanceof HeraldProtocolError) || error.code !== 'EVENT_TOO_LARGE') throw error;
      outcome.errors++;
    }
  };
  for (const chunk of chunks) step(() => parser.feed(chunk));
  // end() flushes the decoder, whose U+FFFD can still push the pending line over the bound.
  step(() => parser.end());
  outcome.lastEventId = parser.lastEventId;
  // `feed` throws once per chunk however many events in it were too large, so in that mode only
  // "there were size errors" is independent of the chunking.
  if (!collectErrors) outcome.errors = Math.min(outcome.errors, 1);
  return outcome;
}

/** Splits `input` at the given cut points (taken modulo its length, sorted). */
function chunked<T extends string | Uint8Array>(input: T, cuts: readonly number[]): T[] {
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

const codePoint = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
const tricky = fc.constantFrom('\r', '\n', '\r\n', ' ', '  ', ':', '\0', '\uFEFF', 'data: ', '\t');
/** Full-Unicode text (no lone surrogates), rich in line breaks and field-like pieces. */
const text = fc.string({
  unit: fc.oneof({ weight: 3, arbitrary: codePoint }, { weight: 2, arbitrary: tricky }),
  maxLength: 40,
});
/** Any UTF-16 code unit, lone surrogates included (only text input can carry those). */
const utf16Text = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
    tricky,
  ),
  maxLength: 40,
});
const singleLine = (arb: fc.Arbitrary<string>) => arb.filter((value) => !/[\r\n\0]/.test(value));
const retry = fc.oneof(fc.nat(), fc.maxSafeNat());
const cuts = fc.array(fc.nat(), { maxLength: 8 });

const encoder = new TextEncoder();

/** What a client sees for `fields`: data lines re-joined with LF, the first `message` default. */
function expectedEvent(fields: EventFields & { data: string }): ParsedEvent {
  return {
    type: fields.event === undefined || fields.event === '' ? 'message' : fields.event,
    data: fields.data.replace(/\r\n|\r/g, '\n'),
    lastEventId: fields.id ?? '',
  };
}

function expectedComments(comment: string | undefined): string[] {
  return comment === undefined ? [] : comment.split(/\r\n|\r|\n/);
}

describe('property: parse(encode(x)) is x', () => {
  const fields = (data: fc.Arbitrary<string>) =>
    fc.record(
      {
        data,
        event: singleLine(data),
        id: singleLine(data),
        retry,
        comment: data,
      },
      { requiredKeys: ['data'] },
    );

  it('for full-Unicode fields, as text and as bytes in any chunking', () => {
    fc.assert(
      fc.property(fields(text), cuts, (x, byteCuts) => {
        const expected = {
          events: [expectedEvent(x)],
          retries: x.retry === undefined ? [] : [x.retry],
          comments: expectedComments(x.comment),
          errors: 0,
          lastEventId: x.id ?? '',
        };
        assert.deepEqual(run([encodeEvent(x)]), expected);
        assert.deepEqual(run(chunked(encodeEventBytes(x), byteCuts)), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('for any UTF-16 text (lone surrogates included), as text in any chunking', () => {
    fc.assert(
      fc.property(fields(utf16Text), cuts, (x, textCuts) => {
        const outcome = run(chunked(encodeEvent(x), textCuts));
        assert.deepEqual(outcome.events, [expectedEvent(x)]);
        assert.deepEqual(outcome.comments, expectedComments(x.comment));
      }),
      { numRuns: RUNS },
    );
  });

  it('for a sequence of events on one stream', () => {
    fc.assert(
      fc.property(fc.array(fields(text), { maxLength: 6 }), cuts, (xs, byteCuts) => {
        const bytes = encoder.encode(xs.map((x) => encodeEvent(x)).join(''));
        const outcome = run(chunked(bytes, byteCuts));
        // The last event id persists from one event to the next until an `id` changes it.
        let lastEventId = '';
        const expected = xs.map((x) => {
          if (x.id !== undefined) lastEventId = x.id;
          return { ...expectedEvent(x), lastEventId };
        });
        assert.deepEqual(outcome.events, expected);
        assert.equal(outcome.lastEventId, lastEventId);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects id / event with CR, LF or NUL with a typed error naming the field', () => {
    const withBreak = fc
      .tuple(text, fc.constantFrom('\r', '\n', '\0', '\r\n'), text)
      .map(([before, bad, after]) => `${before}${bad}${after}`);
    fc.assert(
      fc.property(fc.constantFrom('id', 'event'), withBreak, text, (field, value, data) => {
        for (const encode of [encodeEvent, encodeEventBytes]) {
          assert.throws(
            () => encode({ data, [field]: value }),
            (error: unknown) =>
              error instanceof HeraldProtocolError &&
              error.code === 'INVALID_FIELD' &&
              error.field === field,
          );
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a retry that is not a non-negative safe integer', () => {
    const badRetry = fc.oneof(
      fc.integer({ max: -1 }),
      fc.double().filter((value) => !Number.isSafeInteger(value) || value < 0),
    );
    fc.assert(
      fc.property(badRetry, (value) => {
        assert.throws(
          () => encodeEvent({ data: 'x', retry: value }),
          (error: unknown) =>
            error instanceof HeraldProtocolError &&
            error.code === 'INVALID_FIELD' &&
            error.field === 'retry',
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('property: parsing arbitrary input', () => {
  const token = fc.constantFrom(
    'data',
    'data:',
    'data: ',
    'id:',
    'id',
    'event:',
    'retry:',
    'retry: 12',
    ':',
    ': c',
    '\r',
    '\n',
    '\r\n',
    '\n\n',
    ' ',
    '\0',
    '\uFEFF',
    '5',
    'x',
    '\u20ac',
    '\u{1f600}',
  );
  /** Byte arrays mixing event-stream-like tokens with arbitrary (often invalid UTF-8) bytes. */
  const input = fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: token.map((piece) => encoder.encode(piece)) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }) },
      ),
      { maxLength: 60 },
    )
    .map((pieces) => {
      const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
      let offset = 0;
      for (const piece of pieces) {
        out.set(piece, offset);
        offset += piece.length;
      }
      return out;
    });
  const anyBytes = fc.oneof(input, fc.uint8Array({ maxLength: 200 }));
  const decode = (bytes: Uint8Array) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);

  it('never throws and is chunking-invariant, for bytes and for the decoded text', () => {
    fc.assert(
      fc.property(anyBytes, cuts, cuts, (bytes, byteCuts, textCuts) => {
        const whole = run([bytes], undefined, false);
        assert.equal(whole.errors, 0);
        assert.deepEqual(run(chunked(bytes, byteCuts), undefined, false), whole);
        assert.deepEqual(run(chunked(decode(bytes), textCuts), undefined, false), whole);
      }),
      { numRuns: RUNS },
    );
  });

  it('with a small maxEventBytes, only the typed size error occurs, the same for any chunking', () => {
    fc.assert(
      fc.property(
        anyBytes,
        cuts,
        cuts,
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        (bytes, byteCuts, textCuts, maxEventBytes, collectErrors) => {
          const options = { maxEventBytes };
          const whole = run([bytes], options, collectErrors);
          assert.deepEqual(run(chunked(bytes, byteCuts), options, collectErrors), whole);
          assert.deepEqual(run(chunked(decode(bytes), textCuts), options, collectErrors), whole);
          // A dispatched event always fits the bound.
          for (const event of whole.events) assert.ok(event.data.length < maxEventBytes);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a one-chunk-per-byte feed equals the whole feed', () => {
    fc.assert(
      fc.property(input, (bytes) => {
        const perByte = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
        assert.deepEqual(run(perByte), run([bytes]));
      }),
      { numRuns: RUNS },
    );
  });
});
