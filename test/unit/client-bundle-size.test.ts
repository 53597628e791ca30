// The browser bundle's size budget: what an application that imports `EventSource` and
// `subscribe` from herald/client ships, bundled and tree-shaken by esbuild, min + gzip. Sizes of
// a given build are deterministic (esbuild's output, gzip level 9).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  type ClientShape,
  EVENT_SOURCE_SUBSCRIBE_BUDGET,
  EVENT_SOURCE_SUBSCRIBE_GOAL,
  measureClientShapes,
} from '../../scripts/build-client-bundle.mjs';

type Shape = ClientShape & { minBytes: number; gzipBytes: number };

let shapes: [Shape, Shape, Shape];

before(async () => {
  const measured = await measureClientShapes();
  assert.deepEqual(
    measured.map((shape) => shape.imports),
    [['EventSource'], ['EventSource', 'subscribe'], null],
  );
  shapes = measured as [Shape, Shape, Shape];
});

test('tree shaking works: each shape ships less than the next one', () => {
  const [alone, both, whole] = shapes;
  assert.ok(alone.minBytes < both.minBytes, 'EventSource alone ships less than with subscribe');
  assert.ok(both.minBytes < whole.minBytes, 'EventSource + subscribe ship less than everything');
});

test('EventSource + subscribe stay within their budget (min + gzip)', () => {
  const both = shapes[1];
  assert.ok(
    both.gzipBytes <= EVENT_SOURCE_SUBSCRIBE_BUDGET,
    `EventSource + subscribe ship ${both.gzipBytes} B min + gzip, over the budget of ${EVENT_SOURCE_SUBSCRIBE_BUDGET} B: see what grew with npm run size:client`,
  );
});

test('EventSource + subscribe fit in 4096 bytes min + gzip', {
  todo: 'the goal: 5 752 B today, see docs/benchmarks.md',
}, () => {
  const both = shapes[1];
  assert.ok(
    both.gzipBytes <= EVENT_SOURCE_SUBSCRIBE_GOAL,
    `EventSource + subscribe ship ${both.gzipBytes} B min + gzip, over the goal of ${EVENT_SOURCE_SUBSCRIBE_GOAL} B`,
  );
});
