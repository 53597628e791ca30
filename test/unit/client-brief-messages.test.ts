// The browser bundle's error messages are brief and point to the docs' error table; the modules
// Node, Deno and Bun run keep the full sentences (src/protocol/brief.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildClientBundle } from '../../scripts/build-client-bundle.mjs';
import { BRIEF, ERRORS_DOC } from '../../src/protocol/brief.js';
import { createParser } from '../../src/protocol/index.js';

const SENTENCES = [
  'send heartbeats more often',
  'is it reachable, with CORS?',
  'use http: or https:',
  'not text/event-stream',
  'raise the maxEventBytes option of createParser',
  'and was not passed to onComment',
  'positive number of UTF-16 code units',
  'the browser hides where to',
];

test('the browser bundle carries the brief messages, not the sentences', async () => {
  const { code } = await buildClientBundle();
  for (const sentence of SENTENCES) {
    assert.ok(!code.includes(sentence), `the bundle still says "${sentence}"`);
  }
  assert.ok(code.includes(ERRORS_DOC.trim()), 'the bundle points to the error table');
});

test('outside the bundle messages are full sentences', () => {
  assert.equal(BRIEF, false);
  assert.throws(() => createParser({ onEvent() {} }, { maxEventBytes: 0 }), {
    name: 'RangeError',
    message: /must be a positive number of UTF-16 code units, or Infinity for no limit \(got 0\)/,
  });
});
