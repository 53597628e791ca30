import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SelectorCounts } from '../../src/server/dashboard/selector-counts.js';

// The dashboard's selector counts: kept up to date per subscription, read as a top k without a
// sort, checked against counting from scratch.

describe('SelectorCounts', () => {
  it('keeps counts per selector and the top k by count, ties in arrival order', () => {
    const counts = new SelectorCounts();
    counts.add(['/a', '/b', '/a']);
    counts.add(['/b', '/c']);
    counts.add(['/c']);
    counts.add(['/c', '/d']);
    assert.deepEqual(counts.top(10), [
      { selector: '/c', subscribers: 3 },
      { selector: '/b', subscribers: 2 },
      { selector: '/a', subscribers: 1 },
      { selector: '/d', subscribers: 1 },
    ]);
    assert.deepEqual(counts.top(2), counts.top(10).slice(0, 2));
    counts.remove(['/c']);
    counts.remove(['/c']);
    counts.remove(['/b', '/nothing']);
    assert.deepEqual(counts.top(10), [
      { selector: '/a', subscribers: 1 },
      { selector: '/d', subscribers: 1 },
      { selector: '/c', subscribers: 1 },
      { selector: '/b', subscribers: 1 },
    ]);
    assert.equal(counts.size, 4);
    counts.remove(['/a', '/b', '/c', '/d']);
    assert.equal(counts.size, 0);
    assert.deepEqual(counts.top(10), []);
  });

  it('agrees with counting from scratch after random adds and removes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            add: fc.boolean(),
            topics: fc.array(fc.constantFrom('/a', '/b', '/c', '/d', '/e'), { maxLength: 4 }),
          }),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 6 }),
        (ops, k) => {
          const counts = new SelectorCounts();
          const open: string[][] = [];
          for (const op of ops) {
            if (op.add || open.length === 0) {
              counts.add(op.topics);
              open.push(op.topics);
            } else {
              counts.remove(open.shift()!);
            }
          }
          const expected = new Map<string, number>();
          for (const topics of open) {
            for (const t of new Set(topics)) expected.set(t, (expected.get(t) ?? 0) + 1);
          }
          assert.equal(counts.size, expected.size);
          const top = counts.top(k);
          assert.equal(top.length, Math.min(k, expected.size));
          for (const { selector, subscribers } of top) {
            assert.equal(subscribers, expected.get(selector));
          }
          // Descending, and nothing left out beats what is listed.
          for (let i = 1; i < top.length; i++) {
            assert.ok(top[i - 1]!.subscribers >= top[i]!.subscribers);
          }
          const least = top.at(-1)?.subscribers ?? 0;
          const listedSet = new Set(top.map((t) => t.selector));
          for (const [selector, n] of expected) {
            if (!listedSet.has(selector) && top.length === k) assert.ok(n <= least);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
