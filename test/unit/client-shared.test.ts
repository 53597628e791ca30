// The shared mode's pure parts: the worker re-encodes each parsed event so that every tab's
// parser sees exactly what a direct connection would, and subscribe() refuses, in shared mode,
// what cannot be sent to a worker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { sharedConnection, subscribe } from '../../src/client/index.js';
import { encodeParsed } from '../../src/client/shared-worker.js';
import { createParser, type ParsedEvent } from '../../src/protocol/index.js';

const parse = (text: string): ParsedEvent[] => {
  const events: ParsedEvent[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(text);
  return events;
};

test('encodeParsed: parsing the re-encoded events gives the same events', () => {
  // Ids and types cannot hold CR, LF or NUL once parsed; data holds any text but CR (lines
  // were joined with LF).
  const line = fc.string({ unit: 'grapheme' }).map((s) => s.replace(/[\r\n\0]/g, ''));
  const event = fc.record({
    type: line.filter((s) => s !== ''),
    data: fc.string({ unit: 'grapheme' }).map((s) => s.replace(/\r/g, '')),
    lastEventId: line,
  });
  fc.assert(
    fc.property(fc.array(event, { maxLength: 5 }), (events) => {
      assert.deepEqual(
        parse(events.map(encodeParsed).join('')),
        events.map((event) => ({ ...event })),
      );
    }),
  );
});

test('encodeParsed: an id reset to empty after an id stays empty', () => {
  const events = [
    { type: 'message', data: 'a', lastEventId: '7' },
    { type: 'message', data: '', lastEventId: '' },
  ];
  assert.deepEqual(parse(events.map(encodeParsed).join('')), events);
});

test('shared mode refuses what cannot run in the worker, with the way out', () => {
  const shared = sharedConnection();
  for (const options of [
    { fetch: globalThis.fetch },
    { shouldRetry: () => true },
    { method: 'POST', body: '{"prompt":"hi"}' },
    { method: 'post' },
  ]) {
    assert.throws(() => subscribe('http://127.0.0.1:1/events', { shared, ...options }), {
      name: 'TypeError',
      message: /shared: .*(leave them out|leave out shared)/,
    });
  }
});
