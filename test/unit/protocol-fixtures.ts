/**
 * Event-stream parsing fixtures: each names one rule of the HTML standard's "interpreting an
 * event stream" and gives an input with the exact outcome a browser's EventSource would show.
 * `test/unit/parse.test.ts` runs every fixture whole, byte by byte and split at every point.
 */
import type { ParsedEvent } from '../../src/protocol/types.js';

/** One parsing fixture. */
export interface ProtocolFixture {
  /** What the fixture checks. */
  name: string;
  /** The whole stream, as text or as raw bytes (for BOM / UTF-8 cases). */
  input: string | Uint8Array;
  /** The events dispatched, in order. */
  expected: ParsedEvent[];
  /** The valid `retry:` values reported, in order (none when absent). */
  retries?: number[];
  /** The comment texts reported, in order (none when absent). */
  comments?: string[];
  /** The parser's last event ID string after the stream ended (not checked when absent). */
  lastEventId?: string;
}

/** A dispatched event; `type` defaults to `message`, `lastEventId` to `''`. */
export function ev(data: string, type = 'message', lastEventId = ''): ParsedEvent {
  return { type, data, lastEventId };
}

/** Concatenates text (encoded as UTF-8) and raw byte values into one byte array. */
export function bytes(...parts: Array<string | readonly number[]>): Uint8Array {
  const encoder = new TextEncoder();
  const chunks = parts.map((part) =>
    typeof part === 'string' ? encoder.encode(part) : Uint8Array.from(part),
  );
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;
const FFFD = '\uFFFD';

/** The fixture table. */
export const fixtures: readonly ProtocolFixture[] = [
  // --- basics -----------------------------------------------------------------------------
  { name: 'empty stream', input: '', expected: [], lastEventId: '' },
  { name: 'one simple event', input: 'data: hello\n\n', expected: [ev('hello')] },
  {
    name: 'two events',
    input: 'data: one\n\ndata: two\n\n',
    expected: [ev('one'), ev('two')],
  },
  {
    name: 'multi-line data joined with LF, final LF removed',
    input: 'data: a\ndata: b\ndata: c\n\n',
    expected: [ev('a\nb\nc')],
  },
  { name: 'blank lines alone dispatch nothing', input: '\n\n\r\n\r\r\n', expected: [] },

  // --- byte order mark --------------------------------------------------------------------
  { name: 'leading BOM (text) is stripped', input: '\uFEFFdata: a\n\n', expected: [ev('a')] },
  {
    name: 'leading BOM (bytes) is stripped, also when split across chunks',
    input: bytes(UTF8_BOM, 'data: a\n\n'),
    expected: [ev('a')],
  },
  {
    name: 'second BOM is part of the field name, so that field is ignored',
    input: '\uFEFF\uFEFFdata: a\n\ndata: b\n\n',
    expected: [ev('b')],
  },
  {
    name: 'second BOM (bytes) is part of the field name',
    input: bytes(UTF8_BOM, UTF8_BOM, 'data: a\n\ndata: b\n\n'),
    expected: [ev('b')],
  },
  {
    name: 'BOM after the first line is not stripped',
    input: '\n\uFEFFdata: a\n\ndata: b\n\n',
    expected: [ev('b')],
  },
  {
    name: 'BOM between events is not stripped',
    input: 'data: a\n\n\uFEFFdata: b\n\n',
    expected: [ev('a')],
  },
  { name: 'BOM followed by CRLF', input: '\uFEFF\r\ndata: a\r\n\r\n', expected: [ev('a')] },
  {
    name: 'bytes that only start like a BOM are decoded as invalid UTF-8',
    input: bytes([0xef, 0xbb], 'data: a\n\ndata: b\n\n'),
    expected: [ev('b')],
  },

  // --- line endings -----------------------------------------------------------------------
  { name: 'LF line endings', input: 'data: a\ndata: b\n\n', expected: [ev('a\nb')] },
  { name: 'CRLF line endings', input: 'data: a\r\ndata: b\r\n\r\n', expected: [ev('a\nb')] },
  { name: 'CR line endings', input: 'data: a\rdata: b\r\r', expected: [ev('a\nb')] },
  {
    name: 'mixed CR, CRLF and LF',
    input: 'data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\rdata: e\n\n',
    expected: [ev('a\nb\nc'), ev('d'), ev('e')],
  },
  {
    name: 'LF then CR is two line endings (a blank line)',
    input: 'data: a\n\rdata: b\n\n',
    expected: [ev('a'), ev('b')],
  },
  {
    name: 'CR CR LF is a line ending then a blank line',
    input: 'data: a\r\r\ndata: b\r\n\r\n',
    expected: [ev('a'), ev('b')],
  },
  {
    name: 'CRLF then LF dispatches once',
    input: 'data: a\r\n\ndata: b\r\n\n',
    expected: [ev('a'), ev('b')],
  },
  {
    name: 'a CR inside a value ends the line',
    input: 'data: a\rb\ndata: c\n\n',
    expected: [ev('a\nc')],
  },

  // --- field / value splitting ------------------------------------------------------------
  { name: 'no space after the colon', input: 'data:a\n\n', expected: [ev('a')] },
  {
    name: 'exactly one leading space is stripped, a second one is kept',
    input: 'data:  a\n\n',
    expected: [ev(' a')],
  },
  {
    name: 'leading and trailing spaces beyond the first are kept',
    input: 'data:   a  \n\n',
    expected: [ev('  a  ')],
  },
  { name: 'a leading tab is kept', input: 'data:\ta\n\n', expected: [ev('\ta')] },
  {
    name: 'a space after the colon and nothing else is an empty value',
    input: 'data: \n\n',
    expected: [ev('')],
  },
  {
    name: 'field without colon: data alone appends an empty line and dispatches ""',
    input: 'data\n\n',
    expected: [ev('')],
  },
  {
    name: 'data lines without values give only line feeds',
    input: 'data\ndata\n\n',
    expected: [ev('\n')],
  },
  {
    name: 'empty data line then a value',
    input: 'data\ndata: x\ndata:\n\n',
    expected: [ev('\nx\n')],
  },
  {
    name: 'colons inside the value are kept',
    input: 'data: a:b: c\ndata::x\n\n',
    expected: [ev('a:b: c\n:x')],
  },
  {
    name: 'a space before the colon is part of the field name',
    input: 'data : x\n\ndata: y\n\n',
    expected: [ev('y')],
  },
  {
    name: 'a leading space before the field name makes it unknown',
    input: ' data: x\n\ndata: y\n\n',
    expected: [ev('y')],
  },
  {
    name: 'a line of spaces is not a blank line',
    input: 'data: x\n \n  \ndata: y\n\n',
    expected: [ev('x\ny')],
  },
  {
    name: 'field names are case-sensitive',
    input: 'Data: a\n\nDATA: b\n\nEvent: e\nID: 1\nRetry: 5\ndata: c\n\n',
    expected: [ev('c')],
  },
  {
    name: 'unknown fields are ignored',
    input:
      'foo: bar\ndata: a\nbaz\ndataa: x\ndat: y\ndatx: y\nda-ta: z\ndata_: w\nidx: 1\nix: 1\n' +
      'evenx: e\neventy: e\nretrx: 5\nretryy: 5\n\n',
    expected: [ev('a')],
  },
  {
    name: 'a line of only unknown fields dispatches nothing',
    input: 'foo: bar\n\n',
    expected: [],
  },
  {
    name: 'NULL in a field name makes it unknown',
    input: 'data\0: x\ndata: y\n\n',
    expected: [ev('y')],
  },

  // --- data -------------------------------------------------------------------------------
  {
    name: 'NULL in data is preserved',
    input: 'data: a\0b\ndata:\0\n\n',
    expected: [ev('a\0b\n\0')],
  },
  {
    name: 'JSON data with colons and spaces',
    input: 'data: {"a": 1, "b": "c: d"}\n\n',
    expected: [ev('{"a": 1, "b": "c: d"}')],
  },

  // --- event type -------------------------------------------------------------------------
  {
    name: 'event sets the type; it is reset after dispatch',
    input: 'event: add\ndata: 1\n\ndata: 2\n\n',
    expected: [ev('1', 'add'), ev('2')],
  },
  {
    name: 'empty event name means message',
    input: 'event:\ndata: a\n\nevent: \ndata: b\n\nevent\ndata: c\n\n',
    expected: [ev('a'), ev('b'), ev('c')],
  },
  {
    name: 'the last event field wins',
    input: 'event: a\nevent: b\ndata: x\n\n',
    expected: [ev('x', 'b')],
  },
  {
    name: 'an event field after data still applies',
    input: 'data: x\nevent: late\n\n',
    expected: [ev('x', 'late')],
  },
  {
    name: 'event type of a block without data does not leak into the next event',
    input: 'event: ping\n\ndata: x\n\n',
    expected: [ev('x')],
  },
  {
    name: 'event name keeps spaces beyond the first',
    input: 'event:  spaced \ndata: x\n\n',
    expected: [ev('x', ' spaced ')],
  },
  {
    name: 'event name "message" is explicit message',
    input: 'event: message\ndata: x\n\n',
    expected: [ev('x')],
  },

  // --- id ---------------------------------------------------------------------------------
  {
    name: 'id is carried by the event',
    input: 'id: 1\ndata: a\n\n',
    expected: [ev('a', 'message', '1')],
    lastEventId: '1',
  },
  {
    name: 'id persists across later events without an id',
    input: 'id: 7\ndata: a\n\ndata: b\n\nevent: x\ndata: c\n\n',
    expected: [ev('a', 'message', '7'), ev('b', 'message', '7'), ev('c', 'x', '7')],
    lastEventId: '7',
  },
  {
    name: 'id after data in the same block applies to that event',
    input: 'data: a\nid: 3\n\n',
    expected: [ev('a', 'message', '3')],
  },
  {
    name: 'the last id field of a block wins',
    input: 'id: 1\nid: 2\ndata: x\n\n',
    expected: [ev('x', 'message', '2')],
  },
  {
    name: 'id with NULL is ignored entirely',
    input: 'id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\nid: \0\ndata: c\n\n',
    expected: [ev('a', 'message', '1'), ev('b', 'message', '1'), ev('c', 'message', '1')],
    lastEventId: '1',
  },
  {
    name: 'empty id resets the last event id (id, id: and id:<space>)',
    input:
      'id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\ndata: c\n\nid:\ndata: d\n\nid: 3\n\nid: \ndata: e\n\n',
    expected: [
      ev('a', 'message', '1'),
      ev('b', 'message', ''),
      ev('c', 'message', '2'),
      ev('d', 'message', ''),
      ev('e', 'message', ''),
    ],
    lastEventId: '',
  },
  {
    name: 'id-only block updates the last event id without dispatching',
    input: 'id: 9\n\ndata: b\n\n',
    expected: [ev('b', 'message', '9')],
    lastEventId: '9',
  },
  {
    name: 'id-only block at the end of the stream',
    input: 'data: a\n\nid: 5\n\n',
    expected: [ev('a')],
    lastEventId: '5',
  },
  {
    name: 'id of an unterminated final block never becomes the last event id',
    input: 'id: 1\n\nid: 2\ndata: x\n',
    expected: [],
    lastEventId: '1',
  },
  {
    name: 'id keeps spaces beyond the first and colons',
    input: 'id:  a:b \ndata: x\n\n',
    expected: [ev('x', 'message', ' a:b ')],
  },

  // --- retry ------------------------------------------------------------------------------
  {
    name: 'retry with ASCII digits is reported at once, without a blank line',
    input: 'retry: 1000\n',
    expected: [],
    retries: [1000],
  },
  {
    name: 'retry does not interfere with the event',
    input: 'retry: 5\ndata: a\n\n',
    expected: [ev('a')],
    retries: [5],
  },
  {
    name: 'retry with leading zeros, and zero',
    input: 'retry: 007\nretry:0\n',
    expected: [],
    retries: [7, 0],
  },
  {
    name: 'huge retry is still base-ten digits',
    input: 'retry: 12345678901234567890\n',
    expected: [],
    retries: [Number('12345678901234567890')],
  },
  {
    name: 'bogus retry values are ignored',
    input:
      'retry: 10abc\nretry:\nretry\nretry: \nretry:  10\nretry: -1\nretry: 1.5\nretry: 1e3\n' +
      'retry: +5\nretry: 0x10\nretry: 10 \nretry: \u0661\u0662\nretry: \uFF11\nretry: 3\n',
    expected: [],
    retries: [3],
  },

  // --- comments ---------------------------------------------------------------------------
  {
    name: 'comments are reported with one leading space removed',
    input: ': hello\n:world\n:  two\n:\n::x\ndata: x\n\n',
    expected: [ev('x')],
    comments: ['hello', 'world', ' two', '', ':x'],
  },
  {
    name: 'a comment inside an event does not end it',
    input: 'data: a\n: keep-alive\ndata: b\n\n',
    expected: [ev('a\nb')],
    comments: ['keep-alive'],
  },
  {
    name: 'comment-only blocks dispatch nothing',
    input: ': ping\n\n: ping\r\n\r\n',
    expected: [],
    comments: ['ping', 'ping'],
  },
  {
    name: 'an unterminated final comment line is never processed',
    input: ': one\n: tail',
    expected: [],
    comments: ['one'],
  },

  // --- end of stream ----------------------------------------------------------------------
  {
    name: 'unterminated last event is discarded (line ended)',
    input: 'data: a\n\ndata: b\n',
    expected: [ev('a')],
  },
  {
    name: 'unterminated last event is discarded (line not ended)',
    input: 'data: a\n\ndata: b',
    expected: [ev('a')],
  },
  {
    name: 'final CR ends the blank line (nothing is pending)',
    input: 'data: a\r\r',
    expected: [ev('a')],
  },

  // --- UTF-8 ------------------------------------------------------------------------------
  {
    name: 'UTF-8 2-, 3- and 4-byte characters',
    input: 'data: \u00e9\u20ac\u{1f600}\u00df\n\n',
    expected: [ev('\u00e9\u20ac\u{1f600}\u00df')],
  },
  {
    name: 'non-ASCII event name and id',
    input: 'event: \u00fcber\nid: \u{1f511}\u4e2d\ndata: x\n\n',
    expected: [ev('x', '\u00fcber', '\u{1f511}\u4e2d')],
  },
  {
    name: 'invalid UTF-8 bytes become U+FFFD',
    input: bytes('data: ', [0xff], 'a', [0xc3], '\n\n'),
    expected: [ev(`${FFFD}a${FFFD}`)],
  },
  {
    name: 'overlong encoding and encoded surrogate become U+FFFD per byte',
    input: bytes('data: ', [0xc0, 0xaf], '|', [0xed, 0xa0, 0x80], '\n\n'),
    expected: [ev(`${FFFD}${FFFD}|${FFFD}${FFFD}${FFFD}`)],
  },
  {
    name: 'truncated 4-byte sequence before a line ending is one U+FFFD',
    input: bytes('data: ', [0xf0, 0x9f, 0x98], '\n\n'),
    expected: [ev(FFFD)],
  },
  {
    name: 'truncated character at end of stream is discarded with the pending data',
    input: bytes('data: x\n\n', [0xe2, 0x82]),
    expected: [ev('x')],
  },

  // --- a mixed, realistic stream ----------------------------------------------------------
  {
    name: 'realistic stream with everything',
    input:
      ': welcome\nretry: 3000\n\nid: 1\nevent: add\ndata: {"n":1}\n\n' +
      'id: 2\r\ndata: line 1\r\ndata: line 2\r\n\r\n: hb\n\nevent: del\rdata: 3\r\r' +
      'id\ndata: no id\n\n',
    expected: [
      ev('{"n":1}', 'add', '1'),
      ev('line 1\nline 2', 'message', '2'),
      ev('3', 'del', '2'),
      ev('no id', 'message', ''),
    ],
    retries: [3000],
    comments: ['welcome', 'hb'],
    lastEventId: '',
  },
];
