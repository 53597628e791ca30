import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeEvent, encodeEventBytes } from '../../src/protocol/encode.js';
import { HeraldProtocolError } from '../../src/protocol/errors.js';
import { createParser } from '../../src/protocol/parse.js';
import type { EventFields, ParsedEvent } from '../../src/protocol/types.js';

interface Parsed {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
}

function parse(text: string): Parsed {
  const parsed: Parsed = { events: [], retries: [], comments: [] };
  const parser = createParser({
    onEvent: (event) => parsed.events.push(event),
    onRetry: (ms) => parsed.retries.push(ms),
    onComment: (text) => parsed.comments.push(text),
  });
  parser.feed(text);
  parser.end();
  return parsed;
}

/** An assert.throws validator for an INVALID_FIELD error about `field`. */
function invalidField(field: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HeraldProtocolError, 'a HeraldProtocolError');
    assert.equal(error.code, 'INVALID_FIELD');
    assert.equal(error.field, field);
    assert.match(error.message, new RegExp(field));
    return true;
  };
}

describe('encodeEvent: data', () => {
  it('writes one data line and the dispatching blank line', () => {
    assert.equal(encodeEvent({ data: 'hello' }), 'data: hello\n\n');
  });

  it('splits data on LF, CR and CRLF into one data line each', () => {
    assert.equal(encodeEvent({ data: 'a\nb' }), 'data: a\ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\rb' }), 'data: a\ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\r\nb' }), 'data: a\ndata: b\n\n');
    assert.equal(encodeEvent({ data: 'a\n\rb' }), 'data: a\ndata: \ndata: b\n\n');
    assert.equal(encodeEvent({ data: '\n' }), 'data: \ndata: \n\n');
  });

  it("writes one empty data line for '' and none for undefined", () => {
    assert.equal(encodeEvent({ data: '' }), 'data: \n\n');
    assert.deepEqual(parse(encodeEvent({ data: '' })).events, [
      { type: 'message', data: '', lastEventId: '' },
    ]);
    assert.equal(encodeEvent({}), '');
    assert.equal(encodeEvent({ data: undefined, event: 'x' }), 'event: x\n\n');
  });

  it('keeps leading spaces through a parse round-trip', () => {
    for (const data of [' a', '  a', ' ', '\ta', ' x\n  y']) {
      assert.deepEqual(parse(encodeEvent({ data })).events, [
        { type: 'message', data, lastEventId: '' },
      ]);
    }
  });

  it('round-trips data with line breaks as LF-joined lines', () => {
    assert.deepEqual(parse(encodeEvent({ data: 'a\r\nb\rc\n' })).events, [
      { type: 'message', data: 'a\nb\nc\n', lastEventId: '' },
    ]);
  });

  it('rejects a data value that is not a string', () => {
    assert.throws(() => encodeEvent({ data: 42 } as unknown as EventFields), invalidField('data'));
  });
});

describe('encodeEvent: id and event', () => {
  it('writes id and event before data', () => {
    assert.equal(
      encodeEvent({ id: '7', event: 'add', data: 'x' }),
      'id: 7\nevent: add\ndata: x\n\n',
    );
  });

  it("writes an empty id (which resets the client's last event id)", () => {
    const text = encodeEvent({ id: '', data: 'x' });
    assert.equal(text, 'id: \ndata: x\n\n');
    const parser = createParser({ onEvent: () => {} });
    parser.feed('id: 5\n\n');
    parser.feed(text);
    assert.equal(parser.lastEventId, '');
  });

  for (const field of ['id', 'event'] as const) {
    for (const bad of ['a\nb', 'a\rb', 'a\r\nb', '\n', 'a\0b', '\0']) {
      it(`throws INVALID_FIELD for ${field} ${JSON.stringify(bad)}`, () => {
        assert.throws(() => encodeEvent({ [field]: bad, data: 'x' }), invalidField(field));
      });
    }
    it(`throws INVALID_FIELD for a non-string ${field}`, () => {
      assert.throws(
        () => encodeEvent({ [field]: 1 } as unknown as EventFields),
        invalidField(field),
      );
    });
  }

  it('makes field injection through event or id impossible (GHSA-22cc-p3c6-wpvm style)', () => {
    for (const fields of [
      { event: 'x\ndata: evil', data: 'ok' },
      { event: 'x\rdata: evil\r\r', data: 'ok' },
      { id: '1\n\ndata: evil', data: 'ok' },
      { id: '1\r\nevent: evil', data: 'ok' },
    ] satisfies EventFields[]) {
      assert.throws(() => encodeEvent(fields), HeraldProtocolError);
      assert.throws(() => encodeEventBytes(fields), HeraldProtocolError);
    }
  });

  it('cannot inject fields or events through data either', () => {
    const text = encodeEvent({ data: 'a\n\nevent: evil\nid: 666\n\ndata: evil', event: 'safe' });
    const parsed = parse(text);
    assert.deepEqual(parsed.events, [
      { type: 'safe', data: 'a\n\nevent: evil\nid: 666\n\ndata: evil', lastEventId: '' },
    ]);
  });
});

describe('encodeEvent: retry', () => {
  it('writes a non-negative integer retry', () => {
    assert.equal(encodeEvent({ retry: 3000 }), 'retry: 3000\n\n');
    assert.equal(encodeEvent({ retry: 0 }), 'retry: 0\n\n');
    assert.deepEqual(parse(encodeEvent({ retry: 1500, data: 'x' })).retries, [1500]);
  });

  for (const bad of [
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2 ** 53,
    '10',
  ]) {
    it(`throws INVALID_FIELD for retry ${String(bad)} (${typeof bad})`, () => {
      assert.throws(
        () => encodeEvent({ retry: bad } as unknown as EventFields),
        invalidField('retry'),
      );
    });
  }
});

describe('encodeEvent: comments', () => {
  it('writes a comment-only block without a dispatching blank line', () => {
    assert.equal(encodeEvent({ comment: 'ping' }), ': ping\n');
    assert.equal(encodeEvent({ comment: '' }), ':\n');
  });

  it('splits a comment with line breaks into several comment lines', () => {
    assert.equal(encodeEvent({ comment: 'a\nb\r\nc\rd' }), ': a\n: b\n: c\n: d\n');
    assert.deepEqual(parse(encodeEvent({ comment: 'a\n\nb' })).comments, ['a', '', 'b']);
  });

  it('cannot dispatch or set fields through a comment', () => {
    const parsed = parse(`data: before\n${encodeEvent({ comment: 'x\n\ndata: evil\nid: 1' })}\n`);
    assert.deepEqual(parsed.events, [{ type: 'message', data: 'before', lastEventId: '' }]);
  });

  it('keeps a comment between events from touching client state', () => {
    const text =
      encodeEvent({ id: '1', data: 'a' }) +
      encodeEvent({ comment: 'heartbeat' }) +
      encodeEvent({ data: 'b' });
    assert.deepEqual(parse(text).events, [
      { type: 'message', data: 'a', lastEventId: '1' },
      { type: 'message', data: 'b', lastEventId: '1' },
    ]);
  });

  it('puts a comment before the fields of the same event', () => {
    assert.equal(encodeEvent({ comment: 'c', data: 'x' }), ': c\ndata: x\n\n');
  });
});

describe('encodeEventBytes', () => {
  it('equals the UTF-8 encoding of encodeEvent', () => {
    const encoder = new TextEncoder();
    for (const fields of [
      { data: 'hello' },
      { data: '\u00e9\u20ac\u{1f600}', event: '\u00fcber', id: '\u4e2d', retry: 5, comment: 'c' },
      { comment: 'only' },
      {},
    ] satisfies EventFields[]) {
      const result = encodeEventBytes(fields);
      assert.ok(result instanceof Uint8Array);
      assert.deepEqual(result, encoder.encode(encodeEvent(fields)));
    }
  });

  it('throws the same typed errors', () => {
    assert.throws(() => encodeEventBytes({ id: 'a\nb' }), invalidField('id'));
  });
});
