// What a URI template costs, known before it is built: the estimate is exact in states (the
// builder checks it), templates over the bounds are refused without building, templates of one
// language share one compiled automaton, and the compiled-selector cache is bounded in bytes.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compileSelector,
  DEFAULT_SELECTOR_CACHE_SIZE,
  MAX_TEMPLATE_STATES,
  SelectorSet,
  selectorCacheStats,
  selectorCost,
  setSelectorCacheSize,
  TopicIndex,
} from '../../src/hub/topics.js';
import {
  HeraldTopicError,
  parseUriTemplate,
  type TemplateOperator,
  templateCost,
  templateLanguageKey,
  UriTemplate,
} from '../../src/hub/uri-template.js';

const OPS: TemplateOperator[] = ['', '+', '#', '.', '/', ';', '?', '&'];

const varArb = fc.record({
  name: fc.constantFrom('a', 'b1', 'c.d', 'e_f', '%41'),
  modifier: fc.oneof(
    fc.constant(''),
    fc.constant('*'),
    fc.integer({ min: 1, max: 40 }).map((n) => `:${n}`),
  ),
});
const exprArb = fc
  .tuple(fc.constantFrom(...OPS), fc.array(varArb, { minLength: 1, maxLength: 6 }))
  .map(([op, vars]) => `{${op}${vars.map((v, i) => `${v.name}${i}${v.modifier}`).join(',')}}`);
const templateArb = fc
  .array(fc.tuple(fc.constantFrom('', '/', '/x/', 'a.b', 'é', '?q=1', '-'), exprArb), {
    minLength: 1,
    maxLength: 4,
  })
  .chain((pieces) =>
    fc.constantFrom('', '/', 'z').map((tail) => pieces.map(([l, e]) => l + e).join('') + tail),
  );

describe('template cost', () => {
  it('property: the estimate is the automaton the builder makes (it checks, state by state)', () => {
    fc.assert(
      fc.property(templateArb, (source) => {
        const cost = templateCost(source);
        if (cost.states > MAX_TEMPLATE_STATES) return;
        // The constructor builds the NFA into arrays of the estimated size and throws unless
        // it filled them exactly.
        const template = new UriTemplate(source);
        assert.deepEqual(template.cost, cost);
        assert.ok(cost.bytes > 0);
      }),
      { numRuns: 500 },
    );
  });

  it('grows with ":n" prefixes and variables, and prices what the library refuses', () => {
    assert.ok(templateCost('{v:10}').bytes < templateCost('{v:100}').bytes);
    assert.ok(templateCost('{?a,b}').bytes < templateCost('{?a,b,c,d,e,f,g,h}').bytes);
    const huge = templateCost('{v:9999}');
    assert.equal(huge.states, 99_990);
    assert.throws(
      () => new UriTemplate('{v:9999}'),
      (error: unknown) =>
        error instanceof HeraldTopicError &&
        error.code === 'TEMPLATE_TOO_COMPLEX' &&
        /99990 automaton states, at most 16384/.test(error.message),
    );
    const vars = Array.from({ length: 33 }, (_, i) => `v${i}`).join(',');
    assert.throws(
      () => templateCost(`{?${vars}}`),
      (error: unknown) =>
        error instanceof HeraldTopicError && error.code === 'TEMPLATE_TOO_COMPLEX',
    );
    assert.throws(
      () => templateCost('/books/{id'),
      (error: unknown) => error instanceof HeraldTopicError && error.code === 'INVALID_TEMPLATE',
    );
  });

  it('a wide alphabet (many distinct non-ASCII characters) is priced and bounded too', () => {
    const wide = Array.from({ length: 1500 }, (_, i) => String.fromCharCode(0x4e00 + i)).join('');
    const cost = templateCost(`/${wide}/{id}`);
    assert.ok(cost.bytes > 2 * 1024 * 1024, `${cost.bytes} bytes`);
    assert.throws(
      () => new UriTemplate(`/${wide}/{id}`),
      (error: unknown) =>
        error instanceof HeraldTopicError &&
        error.code === 'TEMPLATE_TOO_COMPLEX' &&
        /KiB compiled/.test(error.message),
    );
  });

  it('templates of one language have one key; names of named variables count', () => {
    const key = (s: string) => templateLanguageKey(parseUriTemplate(s));
    assert.equal(key('/a/{+x:5}/{y*}'), key('/a/{+other:5}/{z*}'));
    assert.equal(key('{.a,b}'), key('{.c,d}'));
    assert.notEqual(key('{?a}'), key('{?b}'));
    assert.notEqual(key('{;a}'), key('{;b}'));
    assert.notEqual(key('{a:5}'), key('{a:6}'));
    assert.notEqual(key('{a}'), key('{a*}'));
    assert.notEqual(key('/a/{x}'), key('/b/{x}'));
    assert.notEqual(key('{+x}'), key('{x}'));
  });

  it('a DFA that outgrows its byte bound is rebuilt and still agrees with the RegExp', () => {
    // Three `+` prefixes separated by `/`: each topic builds many DFA states, and the DFA is
    // thrown away and rebuilt several times over these topics.
    const template = new UriTemplate('{+a:30}/{+b:30}/{+c:30}');
    assert.equal(template.matcher, 'dfa');
    const re = template.toRegExp();
    const random = fc.sample(
      fc.array(fc.constantFrom('a', '/', 'b', '%41', '%', ' '), { maxLength: 60 }),
      { numRuns: 2000, seed: 42 },
    );
    for (const chars of random) {
      const topic = chars.join('');
      assert.equal(template.matches(topic), re.test(topic), JSON.stringify(topic));
    }
  });
});

describe('selectorCost', () => {
  it('prices a selector from its text alone, the same before and after compiling it', () => {
    const source = `/cost/${Math.random()}/{id}`;
    const before = selectorCacheStats().misses;
    const estimated = selectorCost(source);
    assert.equal(selectorCacheStats().misses, before, 'nothing compiled');
    assert.equal(estimated.kind, 'template');
    assert.ok(estimated.templateBytes > 0 && estimated.templateBytes < estimated.bytes);
    assert.equal(estimated.error, undefined);
    const compiled = compileSelector(source);
    assert.equal(compiled.bytes, estimated.bytes);
    assert.deepEqual(selectorCost(source), estimated);
  });

  it('exact topics, *, malformed and over-bound templates', () => {
    assert.equal(selectorCost('*').kind, 'all');
    assert.equal(selectorCost('*').bytes, 0);
    const exact = selectorCost('/books/1');
    assert.equal(exact.kind, 'exact');
    assert.equal(exact.templateBytes, 0);
    assert.equal(exact.language, undefined);
    const malformed = selectorCost('/books/{id');
    assert.equal(malformed.kind, 'exact');
    assert.equal(malformed.error?.code, 'INVALID_TEMPLATE');
    const hugeSource = `/huge/${Math.random()}/{v:9999}`;
    const huge = selectorCost(hugeSource);
    assert.equal(huge.kind, 'template');
    assert.equal(huge.error?.code, 'TEMPLATE_TOO_COMPLEX');
    assert.ok(huge.states > 99_990);
    // Compiled (and matched exactly), it is still priced as the template it is.
    assert.equal(compileSelector(hugeSource).kind, 'exact');
    assert.deepEqual(selectorCost(hugeSource), huge);
    assert.equal(selectorCost('{+a:5}').language, selectorCost('{+b:5}').language);
  });
});

describe('compiled-selector cache, weighed in bytes', () => {
  after(() => setSelectorCacheSize(DEFAULT_SELECTOR_CACHE_SIZE));

  it('keeps at most its byte capacity, whatever the number of entries allows', () => {
    const bytes = 2 * 1024 * 1024;
    setSelectorCacheSize(DEFAULT_SELECTOR_CACHE_SIZE, bytes);
    for (let i = 0; i < 300; i++) compileSelector(`/weigh/${i}/{v:100}`);
    const stats = selectorCacheStats();
    // Selectors ≤ capacity, shared templates ≤ capacity.
    assert.ok(stats.bytes <= 2 * bytes, `${stats.bytes} bytes`);
    assert.ok(stats.size < 300, `${stats.size} entries`);
    // What fell out is compiled again, and still matches.
    assert.ok(compileSelector('/weigh/0/{v:100}').matches('/weigh/0/abc'));
  });

  it('refuses capacities that make no sense', () => {
    assert.throws(() => setSelectorCacheSize(1), RangeError);
    assert.throws(() => setSelectorCacheSize(10, 0), RangeError);
  });
});

describe('templates of one language are matched once', () => {
  it('TopicIndex groups them, and keeps Mercure’s "equal to the topic" rule per selector', () => {
    const index = new TopicIndex<string>();
    index.add('a', ['/r/{+x}']);
    index.add('b', ['/r/{+y}']);
    index.add('c', ['/r/{z}']);
    assert.deepEqual(index.templateStats(), {
      languages: 2,
      prefixed: 2,
      suffixed: 0,
      unanchored: 0,
    });
    assert.deepEqual([...index.match(['/r/1/2'])].sort(), ['a', 'b']);
    assert.deepEqual([...index.match(['/r/1'])].sort(), ['a', 'b', 'c']);
    // A selector equal to the topic matches (Mercure), and only that selector: "{" is no
    // value character, so the other templates of the language do not.
    assert.deepEqual([...index.match(['/r/{+y}'])], ['b']);
    assert.deepEqual([...index.match(['/r/{z}'])], ['c']);
    const seen: string[] = [];
    index.forEachMatch(['/r/{+y}', '/r/{z}'], (s) => seen.push(s));
    assert.deepEqual(seen.sort(), ['b', 'c']);
    index.remove('a');
    assert.equal(index.templateStats().languages, 2);
    index.remove('b');
    assert.equal(index.templateStats().languages, 1);
    index.remove('c');
    assert.deepEqual(index.templateStats(), {
      languages: 0,
      prefixed: 0,
      suffixed: 0,
      unanchored: 0,
    });
  });

  it('SelectorSet with many templates (indexed) agrees with trying each one', () => {
    const selectors = [
      ...Array.from({ length: 12 }, (_, i) => `/s/${i}/{x}`),
      '{+p}/tail',
      '{a}q{+b}',
      '{/path*}',
      '/exact',
      '{bad',
    ];
    const set = new SelectorSet(selectors);
    const topics = [
      '/s/3/a',
      '/s/3/a/b',
      '/x/tail',
      'zqz',
      '/a/b',
      '/exact',
      '{bad',
      '{a}q{+b}',
      'n',
    ];
    for (const topic of topics) {
      const expected = selectors.some((s) => compileSelector(s).matches(topic));
      assert.equal(set.matches(topic), expected, topic);
      assert.equal(set.matchesAny(['nothing-here', topic]), expected, topic);
    }
  });
});
