// The template index (src/hub/template-index.ts): templates by their literal ends. A topic must
// meet every template that matches it, and only templates whose literal ends it has; the tries
// must give back every node once their templates are deleted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TemplateBuckets } from '../../src/hub/template-index.js';
import { matchesAny, TopicIndex } from '../../src/hub/topics.js';
import { UriTemplate } from '../../src/hub/uri-template.js';

/** Templates that share prefixes and suffixes (splits and merges), and unanchored ones. */
const POOL = [
  '/a/{x}',
  '/a/b/{x}',
  '/a/bc/{x}',
  '/a/b/{x}/c',
  '/ab{x}',
  'https://example.com/books/{id}',
  'https://example.com/books/{id}/comments',
  'https://example.com/{+path}',
  'https://example.org/{+path}',
  '{+path}/comments',
  '{+path}/c',
  '{x}/comments',
  '{+path}s',
  '{+a}',
  '{a}q{+b}',
  '{/path*}',
  '{?q}',
  'é/{x}',
  '{x}é',
];

const TOPICS = [
  '/a/1',
  '/a/b/1',
  '/a/b/1/c',
  '/a/bc/2',
  '/ab1',
  'https://example.com/books/1',
  'https://example.com/books/1/comments',
  'https://example.com/x/y',
  'https://example.org/z',
  '/posts/1/comments',
  'x/comments',
  'items',
  'zqz',
  '/p/q',
  '?q=1',
  'é/1',
  '1é',
  '',
  '/',
  'nothing',
];

function visited(buckets: TemplateBuckets<string>, topic: string): string[] {
  const out: string[] = [];
  buckets.forEachCandidate(
    topic,
    (item, sink) => {
      sink.push(item);
      return false;
    },
    out,
  );
  return out.sort();
}

describe('TemplateBuckets', () => {
  it('anchors by the leading literal, else the trailing one, else none', () => {
    const buckets = new TemplateBuckets<string>();
    for (const s of ['/a/{x}', '{+p}/comments', '{+p}']) buckets.add(s, new UriTemplate(s));
    assert.deepEqual(buckets.stats(), { prefixed: 1, suffixed: 1, unanchored: 1, nodes: 2 });
    assert.ok(buckets.isUnanchored('{+p}'));
    assert.ok(!buckets.isUnanchored('/a/{x}'));
    assert.deepEqual(visited(buckets, '/a/1'), ['/a/{x}', '{+p}']);
    assert.deepEqual(visited(buckets, '/b/comments'), ['{+p}', '{+p}/comments']);
    assert.deepEqual(visited(buckets, '/b'), ['{+p}']);
  });

  it('stops at the first visit that returns true', () => {
    const buckets = new TemplateBuckets<string>();
    for (const s of ['/a/{x}', '/a/b/{x}', '{+p}']) buckets.add(s, new UriTemplate(s));
    let calls = 0;
    const stopped = buckets.forEachCandidate(
      '/a/b/1',
      () => {
        calls++;
        return true;
      },
      undefined,
    );
    assert.ok(stopped);
    assert.equal(calls, 1);
  });

  it('property: a topic meets every template that matches it and only ones whose ends fit', () => {
    const templates = new Map(POOL.map((s) => [s, new UriTemplate(s)]));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.constantFrom(...POOL)), { maxLength: 60 }),
        (operations) => {
          const buckets = new TemplateBuckets<string>();
          const live = new Set<string>();
          for (const [add, s] of operations) {
            if (add) {
              buckets.add(s, templates.get(s)!);
              live.add(s);
            } else {
              assert.equal(buckets.delete(s), live.delete(s));
            }
            for (const topic of TOPICS) {
              const seen = visited(buckets, topic);
              assert.equal(new Set(seen).size, seen.length, `each template once for ${topic}`);
              for (const t of live) {
                const template = templates.get(t)!;
                if (template.matches(topic)) {
                  assert.ok(seen.includes(t), `${t} matches ${topic} but was not visited`);
                }
              }
              for (const t of seen) {
                const { prefix, suffix } = templates.get(t)!;
                assert.ok(live.has(t), `${t} was deleted`);
                assert.ok(
                  prefix !== '' ? topic.startsWith(prefix) : topic.endsWith(suffix),
                  `${t} visited for ${topic}`,
                );
              }
            }
          }
          const stats = buckets.stats();
          assert.equal(stats.prefixed + stats.suffixed + stats.unanchored, live.size);
          for (const t of live) buckets.delete(t);
          assert.deepEqual(buckets.stats(), { prefixed: 0, suffixed: 0, unanchored: 0, nodes: 0 });
          assert.equal(buckets.size, 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('adding an item twice is a no-op; deleting an unknown one says so', () => {
    const buckets = new TemplateBuckets<string>();
    const t = new UriTemplate('/a/{x}');
    buckets.add('a', t);
    buckets.add('a', t);
    assert.equal(buckets.size, 1);
    assert.deepEqual(visited(buckets, '/a/1'), ['a']);
    assert.ok(buckets.delete('a'));
    assert.ok(!buckets.delete('a'));
    assert.deepEqual(buckets.stats(), { prefixed: 0, suffixed: 0, unanchored: 0, nodes: 0 });
  });
});

describe('TopicIndex over the template index', () => {
  const selectors = [
    ...POOL,
    '/a/{y}', // same language as /a/{x}
    '{+other}/comments', // same language as {+path}/comments
    '/a/1',
    '*',
    '{bad',
  ];

  it('property: lookups equal a brute-force filter, with removals during the walk', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uniqueArray(fc.constantFrom(...selectors), { minLength: 1, maxLength: 4 }), {
          maxLength: 25,
        }),
        fc.array(fc.nat({ max: 24 }), { maxLength: 8 }),
        fc.array(
          fc.uniqueArray(fc.constantFrom(...TOPICS, '{bad', '/a/{y}'), {
            minLength: 1,
            maxLength: 3,
          }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.nat({ max: 24 }),
        (subs, removals, events, victim) => {
          const index = new TopicIndex<number>();
          const live = new Map<number, string[]>();
          subs.forEach((sels, i) => {
            index.add(i, sels);
            live.set(i, sels);
          });
          for (const r of removals) assert.equal(index.remove(r), live.delete(r));
          for (const [e, topics] of events.entries()) {
            const expected = [...live]
              .filter(([, sels]) => matchesAny(sels, topics))
              .map(([i]) => i)
              .sort((x, y) => x - y);
            assert.deepEqual(
              [...index.match(topics)].sort((x, y) => x - y),
              expected,
            );
            // The first visit removes one subscriber: if it was not visited yet, it is skipped.
            const visited: number[] = [];
            let removed: number | undefined;
            index.forEachMatch(topics, (s) => {
              visited.push(s);
              if (removed === undefined && e % 2 === 0) {
                removed = (victim + e) % 25;
                if (index.remove(removed)) live.delete(removed);
                else removed = -1;
              }
            });
            assert.equal(new Set(visited).size, visited.length, 'each subscriber once');
            for (const s of visited) assert.ok(expected.includes(s), `${s} visited`);
            for (const s of expected) {
              if (s !== removed) assert.ok(visited.includes(s), `${s} not visited`);
            }
          }
          for (const i of live.keys()) index.remove(i);
          assert.deepEqual(index.templateStats(), {
            languages: 0,
            prefixed: 0,
            suffixed: 0,
            unanchored: 0,
          });
          assert.equal(index.stats().templates, 0);
          assert.equal(index.stats().exactTopics, 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
