import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeraldProtocolError } from '../../src/protocol/errors.js';
import { createParser } from '../../src/protocol/parse.js';
import type { ParsedEvent, ParserOptions } from '../../src/protocol/types.js';
import { bytes, ev, fixtures } from './protocol-fixtures.js';

interface Outcome {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
  errors: HeraldProtocolError[];
  lastEventId: string;
}

/** Feeds `chunks` then ends the stream, collecting everything the parser reports. */
function run(chunks: Iterable<string | Uint8Array>, options?: ParserOptions): Outcome {
  const outcome: Outcome = { events: [], retries: [], comments: [], errors: [], lastEventId: '' };
  const parser = createParser(
    {
      onEvent: (event) => outcome.events.push(event),
      onRetry: (ms) => outcome.retries.push(ms),
      onComment: (text) => outcome.comments.push(text),
      onError: (error) => outcome.errors.push(error),
    },
    options,
  );
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  outcome.lastEventId = parser.lastEventId;
  return outcome;
}

const encoder = new TextEncoder();

function asBytes(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? encoder.encode(input) : input;
}

function asText(input: string | Uint8Array): string {
  // ignoreBOM keeps a leading U+FEFF in the text, so the parser's own BOM rule is exercised.
  return typeof input === 'string'
    ? input
    : new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
}

function* byteAtATime(data: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < data.length; i++) {
    yield data.subarray(i, i + 1);
    // Empty chunks must change nothing (a CR/LF pair or a split character stays intact).
    yield new Uint8Array(0);
  }
}

function* charAtATime(text: string): Generator<string> {
  for (let i = 0; i < text.length; i++) {
    yield text.slice(i, i + 1);
    yield '';
  }
}

describe('createParser: spec fixtures', () => {
  for (const fixture of fixtures) {
    describe(fixture.name, () => {
      const text = asText(fixture.input);
      const data = asBytes(fixture.input);
      const check = (outcome: Outcome, how: string): void => {
        assert.deepEqual(outcome.events, fixture.expected, `events (${how})`);
        assert.deepEqual(outcome.retries, fixture.retries ?? [], `retries (${how})`);
        assert.deepEqual(outcome.comments, fixture.comments ?? [], `comments (${how})`);
        assert.deepEqual(outcome.errors, [], `errors (${how})`);
        if (fixture.lastEventId !== undefined) {
          assert.equal(outcome.lastEventId, fixture.lastEventId, `lastEventId (${how})`);
        }
      };

      it('whole, as text and as bytes', () => {
        check(run([text]), 'text');
        check(run([data]), 'bytes');
      });

      it('one byte / one UTF-16 unit at a time', () => {
        check(run(byteAtATime(data)), 'bytes');
        check(run(charAtATime(text)), 'text');
      });

      it('split into two byte chunks at every point', () => {
        for (let i = 0; i <= data.length; i++) {
          check(run([data.subarray(0, i), data.subarray(i)]), `bytes split at ${i}`);
        }
      });

      it('split into two text chunks at every point', () => {
        for (let i = 0; i <= text.length; i++) {
          check(run([text.slice(0, i), text.slice(i)]), `text split at ${i}`);
        }
      });
    });
  }
});

describe('createParser: handlers and input kinds', () => {
  it('calls handlers as methods of the handlers object', () => {
    class Collector {
      readonly seen: string[] = [];
      onEvent(event: ParsedEvent): void {
        this.seen.push(event.data);
      }
      onRetry(ms: number): void {
        this.seen.push(`retry ${ms}`);
      }
      onComment(text: string): void {
        this.seen.push(`comment ${text}`);
      }
    }
    const collector = new Collector();
    const parser = createParser(collector);
    parser.feed(': c\nretry: 1\ndata: x\n\n');
    assert.deepEqual(collector.seen, ['comment c', 'retry 1', 'x']);
  });

  it('works without the optional handlers', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed(': comment\nretry: 10\ndata: x\n\n');
    assert.deepEqual(events, [ev('x')]);
  });

  it('accepts text and bytes in the same stream', () => {
    const euro = encoder.encode('\u20ac');
    const outcome = run(['data: a', euro.subarray(0, 2), euro.subarray(2), '\n\n']);
    assert.deepEqual(outcome.events, [ev('a\u20ac')]);
  });

  it('flushes bytes held by the decoder as U+FFFD when text follows', () => {
    const euro = encoder.encode('\u20ac');
    const outcome = run(['data: a', euro.subarray(0, 2), 'b\n\n']);
    assert.deepEqual(outcome.events, [ev('a\uFFFDb')]);
  });

  it('keeps the BOM rule across text and bytes: only the first character of the stream', () => {
    const outcome = run(['', bytes([0xef, 0xbb, 0xbf]), '\uFEFFdata: a\n\n', 'data: b\n\n']);
    assert.deepEqual(outcome.events, [ev('b')]);
  });

  it('exposes the last event ID string, updated only at blank lines', () => {
    const parser = createParser({ onEvent: () => {} });
    assert.equal(parser.lastEventId, '');
    parser.feed('id: 1\n');
    assert.equal(parser.lastEventId, '');
    parser.feed('\n');
    assert.equal(parser.lastEventId, '1');
    parser.feed('id\n\n');
    assert.equal(parser.lastEventId, '');
  });

  it('rejects a maxEventBytes that is not a positive number', () => {
    for (const maxEventBytes of [0, -1, Number.NaN]) {
      assert.throws(() => createParser({ onEvent: () => {} }, { maxEventBytes }), RangeError);
    }
  });
});

describe('createParser: maxEventBytes', () => {
  const isTooLarge = (error: unknown): boolean => {
    assert.ok(error instanceof HeraldProtocolError);
    assert.equal(error.code, 'EVENT_TOO_LARGE');
    assert.equal(error.name, 'HeraldProtocolError');
    assert.match(error.message, /maxEventBytes/);
    return true;
  };

  it('reports a typed error to onError, discards the event and parses the next one', () => {
    const outcome = run(['data: 0123456789abc\ndata: more\n\ndata: ok\n\n'], {
      maxEventBytes: 10,
    });
    assert.equal(outcome.errors.length, 1);
    isTooLarge(outcome.errors[0]);
    assert.match(outcome.errors[0]?.message ?? '', /\b10\b/);
    assert.deepEqual(outcome.events, [ev('ok')]);
  });

  it('counts the data buffer of the event plus the line being read', () => {
    // Each line alone fits; the second one does not fit next to the first line's data.
    const outcome = run(['data: 0123456789\ndata: 0123456789\ndata: x\n\ndata: ok\n\n'], {
      maxEventBytes: 20,
    });
    assert.equal(outcome.errors.length, 1);
    assert.deepEqual(outcome.events, [ev('ok')]);
    // Exactly at the bound is fine.
    const exact = run(['data: 0123456789\n\n'], { maxEventBytes: 16 });
    assert.deepEqual(exact.errors, []);
    assert.deepEqual(exact.events, [ev('0123456789')]);
    const over = run(['data: 0123456789\n\n'], { maxEventBytes: 15 });
    assert.equal(over.errors.length, 1);
    assert.deepEqual(over.events, []);
  });

  it('discards every field of the oversized event, including its id and type', () => {
    const outcome = run(
      [
        'id: 1\ndata: a\n\nid: 2\nevent: big\ndata: 0123456789abcdef\nid: 3\nevent: x\n\ndata: ok\n\n',
      ],
      { maxEventBytes: 12 },
    );
    assert.equal(outcome.errors.length, 1);
    assert.deepEqual(outcome.events, [ev('a', 'message', '1'), ev('ok', 'message', '1')]);
    assert.equal(outcome.lastEventId, '1');
  });

  it('reports one error per oversized event', () => {
    const big = `data: ${'x'.repeat(50)}\n`;
    const outcome = run([`${big}${big}\n${big}\ndata: ok\n\n`], { maxEventBytes: 20 });
    assert.equal(outcome.errors.length, 2);
    assert.deepEqual(outcome.events, [ev('ok')]);
  });

  it('throws from feed without onError, after parsing the rest of the chunk', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) }, { maxEventBytes: 16 });
    assert.throws(() => parser.feed('data: 0123456789abc\n\ndata: same chunk\n\n'), isTooLarge);
    assert.deepEqual(events, [ev('same chunk')]);
    parser.feed('data: next\n\n');
    assert.deepEqual(events, [ev('same chunk'), ev('next')]);
  });

  it('throws when a line grows too long across chunks, then resumes after the event', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) }, { maxEventBytes: 12 });
    parser.feed('data: 01234');
    assert.throws(() => parser.feed('56789'), isTooLarge);
    parser.feed('more of the same line\ndata: still the same event\n\ndata: ok\n\n');
    assert.deepEqual(events, [ev('ok')]);
  });

  it('does not take the line ending of an overlong line for a blank line', () => {
    const outcome = run(['data: 0123', '456789', '\ndata: dropped\n\ndata: ok\n\n'], {
      maxEventBytes: 12,
    });
    assert.equal(outcome.errors.length, 1);
    assert.deepEqual(outcome.events, [ev('ok')]);
  });

  it('stays bounded for a huge line without a line ending, then parses what follows', () => {
    // 600 million UTF-16 units in 1 Mi-unit chunks: more than V8's maximum string length, so a
    // parser that buffered the line would fail with "Invalid string length" instead.
    const chunk = 'x'.repeat(1024 * 1024);
    const outcome: Outcome = { events: [], retries: [], comments: [], errors: [], lastEventId: '' };
    const parser = createParser(
      {
        onEvent: (event) => outcome.events.push(event),
        onError: (error) => outcome.errors.push(error),
      },
      { maxEventBytes: 1024 },
    );
    parser.feed('data: ');
    for (let i = 0; i < 600; i++) parser.feed(chunk);
    assert.equal(outcome.errors.length, 1);
    isTooLarge(outcome.errors[0]);
    // The end of the overlong line is not a blank line; the next blank line ends the event.
    parser.feed('\ndata: dropped\n\ndata: after\n\n');
    assert.deepEqual(outcome.events, [ev('after')]);
  });

  it('stays bounded for a huge line fed as bytes', () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x78);
    const outcome = run(
      (function* () {
        yield encoder.encode('data: ');
        for (let i = 0; i < 320; i++) yield chunk;
        yield encoder.encode('\r');
        yield encoder.encode('\n\r\ndata: after\r\n\r\n');
      })(),
      { maxEventBytes: 1000 },
    );
    assert.equal(outcome.errors.length, 1);
    assert.deepEqual(outcome.events, [ev('after')]);
  });

  it('defaults to 16 MiB and Infinity turns the bound off', () => {
    const payload = 'y'.repeat(16 * 1024 * 1024 + 1);
    const withDefault = run(['data: ', payload, '\n\ndata: ok\n\n']);
    assert.equal(withDefault.errors.length, 1);
    assert.deepEqual(withDefault.events, [ev('ok')]);
    const unbounded = run(['data: ', payload, '\n\n'], { maxEventBytes: Number.POSITIVE_INFINITY });
    assert.deepEqual(unbounded.errors, []);
    assert.equal(unbounded.events.length, 1);
    assert.equal(unbounded.events[0]?.data.length, payload.length);
  });

  it('bounds the event and id fields: a long event: line drops its event', () => {
    const outcome = run(
      [`event: ${'e'.repeat(100)}\ndata: lost\n\nid: ${'i'.repeat(100)}\n\ndata: ok\n\n`],
      {
        maxEventBytes: 50,
      },
    );
    assert.equal(outcome.errors.length, 2);
    assert.deepEqual(outcome.events, [ev('ok')]);
    assert.equal(outcome.lastEventId, '');
  });

  /** Parses `chunks` without an onComment handler, as a client that does not listen. */
  function runUnheard(chunks: readonly string[], maxEventBytes: number): Outcome {
    const outcome: Outcome = { events: [], retries: [], comments: [], errors: [], lastEventId: '' };
    const parser = createParser(
      {
        onEvent: (event) => outcome.events.push(event),
        onError: (error) => outcome.errors.push(error),
      },
      { maxEventBytes },
    );
    for (const chunk of chunks) parser.feed(chunk);
    parser.end();
    return outcome;
  }

  /** `text` cut into pieces of `size` code units. */
  const pieces = (text: string, size: number): string[] =>
    Array.from({ length: Math.ceil(text.length / size) }, (_, i) =>
      text.slice(i * size, (i + 1) * size),
    );

  it('counts only what is kept: unknown fields and unheard comments never drop the event', () => {
    // Each ignored line is far longer than the bound, before, inside and after the event's data.
    const stream =
      `: ${'c'.repeat(5000)}\ndata: 0123456789\nfoo: ${'f'.repeat(5000)}\n: ${'c'.repeat(5000)}\n` +
      `datax: ${'x'.repeat(5000)}\ndat\ndata: x\nretryy: ${'r'.repeat(5000)}\n\ndata: next\n\n`;
    // Whole, and cut into pieces of every size from 1 to 9 code units (the line's start then
    // arrives a character at a time).
    for (const chunks of [[stream], ...[1, 2, 3, 5, 7, 9].map((size) => pieces(stream, size))]) {
      const outcome = runUnheard(chunks, 20);
      assert.deepEqual(outcome.errors, [], `${chunks[0]?.length}-unit pieces`);
      assert.deepEqual(outcome.events, [ev('0123456789\nx'), ev('next')]);
    }
  });

  it('a comment for onComment is bounded on its own: a longer one is dropped alone', () => {
    for (const chunks of [
      [`data: a\n: ${'c'.repeat(100)}\n: short\ndata: b\n\n`],
      ['data: a\n: ', 'c'.repeat(60), 'c'.repeat(40), '\n: short\ndata: b\n\n'],
    ]) {
      const outcome = run(chunks, { maxEventBytes: 50 });
      assert.equal(outcome.errors.length, 1);
      isTooLarge(outcome.errors[0]);
      assert.match(outcome.errors[0]?.message ?? '', /comment line .* the event around it is kept/);
      assert.deepEqual(outcome.comments, ['short']);
      assert.deepEqual(outcome.events, [ev('a\nb')]);
    }
    // A comment does not count next to the event's data: each fits the bound alone.
    const beside = run([`data: ${'d'.repeat(40)}\n: ${'c'.repeat(40)}\n\n`], { maxEventBytes: 50 });
    assert.deepEqual(beside.errors, []);
    assert.equal(beside.comments.length, 1);
    assert.equal(beside.events.length, 1);
  });
});

describe('createParser: reset() and end()', () => {
  it('reset() drops a partial event and a partial line', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed('data: a\ndata: half');
    parser.reset();
    parser.feed('\n\ndata: b\n\n');
    assert.deepEqual(events, [ev('b')]);
  });

  it('reset() drops a pending event type', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed('event: old\n');
    parser.reset();
    parser.feed('data: b\n\n');
    assert.deepEqual(events, [ev('b')]);
  });

  it('reset() keeps the last event ID string but drops an undispatched id', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed('id: 7\ndata: a\n\nid: 8\ndata: partial\n');
    parser.reset();
    assert.equal(parser.lastEventId, '7');
    parser.feed('data: b\n\n');
    assert.deepEqual(events, [ev('a', 'message', '7'), ev('b', 'message', '7')]);
  });

  it('reset() re-arms the BOM skip, for text and for split bytes', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed('\uFEFFdata: a\n\n');
    parser.reset();
    parser.feed('\uFEFFdata: b\n\n');
    parser.reset();
    parser.feed(bytes([0xef]));
    parser.feed(bytes([0xbb, 0xbf], 'data: c\n\n'));
    assert.deepEqual(events, [ev('a'), ev('b'), ev('c')]);
  });

  it('reset() drops bytes held by the decoder', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed(bytes('data: a\n\n', [0xe2, 0x82]));
    parser.reset();
    parser.feed(bytes('data: b\n\n'));
    assert.deepEqual(events, [ev('a'), ev('b')]);
  });

  it('reset() ends the skipping of an oversized event', () => {
    const outcome: ParsedEvent[] = [];
    const errors: HeraldProtocolError[] = [];
    const parser = createParser(
      { onEvent: (event) => outcome.push(event), onError: (error) => errors.push(error) },
      { maxEventBytes: 8 },
    );
    parser.feed('data: 0123456789');
    parser.reset();
    parser.feed('data: ok\n\n');
    assert.equal(errors.length, 1);
    assert.deepEqual(outcome, [ev('ok')]);
  });

  it('reset() from onError leaves a clean parser', () => {
    const events: ParsedEvent[] = [];
    let errors = 0;
    const parser = createParser(
      {
        onEvent: (event) => events.push(event),
        onError: () => {
          errors++;
          parser.reset();
        },
      },
      { maxEventBytes: 10 },
    );
    parser.feed('data: 0123456789');
    parser.feed('data: ok\n\n');
    parser.feed('data: 0123456789\ndata: lost with the rest of the chunk\n\n');
    parser.feed('data: ok2\n\n');
    assert.equal(errors, 2);
    assert.deepEqual(events, [ev('ok'), ev('ok2')]);
  });

  it('reset() from a handler stops parsing the rest of the chunk', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({
      onEvent: (event) => {
        events.push(event);
        parser.reset();
      },
    });
    parser.feed('data: a\n\ndata: b\n\n');
    assert.deepEqual(events, [ev('a')]);
    parser.feed('data: c\n\n');
    assert.deepEqual(events, [ev('a'), ev('c')]);
  });

  it('end() discards the unterminated event and starts over', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed('id: 1\ndata: a\n\nid: 2\ndata: b\n');
    parser.end();
    assert.deepEqual(events, [ev('a', 'message', '1')]);
    assert.equal(parser.lastEventId, '1');
    parser.feed('\n');
    assert.deepEqual(events, [ev('a', 'message', '1')]);
  });

  it('end() flushes the decoder: its U+FFFD counts towards maxEventBytes like in text', () => {
    const viaBytes = run([bytes('data: x', [0xf0, 0x9f])], { maxEventBytes: 7 });
    const viaText = run(['data: x\uFFFD'], { maxEventBytes: 7 });
    assert.equal(viaBytes.errors.length, 1);
    assert.equal(viaText.errors.length, 1);
    const parser = createParser({ onEvent: () => {} }, { maxEventBytes: 7 });
    parser.feed(bytes('data: x', [0xf0, 0x9f]));
    assert.throws(() => parser.end(), HeraldProtocolError);
  });

  it('end() with a character split by the stream end reports nothing', () => {
    const events: ParsedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed(bytes('data: x', [0xf0, 0x9f]));
    parser.end();
    assert.deepEqual(events, []);
  });
});
