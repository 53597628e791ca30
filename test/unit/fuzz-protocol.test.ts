// The protocol fuzz targets of `npm run fuzz`, bounded: Herald's parser against a reference
// model of the HTML standard for arbitrary bytes and chunkings, and the encoder against
// line-injection attempts. A failure prints fast-check's seed and path to replay it with
// `npm run fuzz -- --target <name> --seed <seed>`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpretEventStream } from '../../fuzz/lib/sse-model.js';
import { runTarget } from '../../fuzz/target.js';
import { encoderTarget, parserTarget } from '../../fuzz/targets/protocol.js';

const RUNS = 400;

describe('fuzz: herald/protocol', () => {
  for (const target of [parserTarget, encoderTarget]) {
    it(`${target.name}: ${target.summary}`, async () => {
      const outcome = await runTarget(target, { numRuns: RUNS });
      assert.equal(outcome.failure, undefined, outcome.failure);
      assert.equal(outcome.runs, RUNS);
      assert.ok((outcome.stats.events ?? 0) > 0, 'some runs compared dispatched events');
    });
  }

  it('the reference model itself follows the standard on its examples', () => {
    // HTML standard §9.2.6 examples: "data:" lines joined by LF; "id" without data updates the
    // last event id; a trailing line without its end is discarded; one space after the colon.
    const outcome = interpretEventStream(
      'data: YHOO\ndata: +2\ndata: 10\n\n: comment\nid: 1\n\ndata:first\ndata\n\nevent: add\ndata:  73857293\n\ndata: lost',
    );
    assert.deepEqual(outcome.events, [
      { type: 'message', data: 'YHOO\n+2\n10', lastEventId: '' },
      { type: 'message', data: 'first\n', lastEventId: '1' },
      { type: 'add', data: ' 73857293', lastEventId: '1' },
    ]);
    assert.deepEqual(outcome.comments, ['comment']);
    assert.equal(outcome.lastEventId, '1');
    assert.deepEqual(interpretEventStream('\uFEFF\uFEFFdata: x\n\n').events, []);
    assert.deepEqual(interpretEventStream('retry: 12\nretry: 1x\nid: a\0b\n\n').retries, [12]);
  });
});
