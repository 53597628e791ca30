import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compileSelector,
  HeraldTopicError,
  matchesAny,
  SelectorSet,
  selectorCacheStats,
  TopicIndex,
} from '../../src/hub/topics.js';
import {
  parseUriTemplate,
  type TemplateOperator,
  UriTemplate,
} from '../../src/hub/uri-template.js';

/** Asserts `selector` matches each of `yes` and none of `no`. */
function check(selector: string, yes: string[], no: string[]): void {
  const c = compileSelector(selector);
  for (const topic of yes) assert.ok(c.matches(topic), `${selector} should match ${topic}`);
  for (const topic of no) assert.ok(!c.matches(topic), `${selector} should not match ${topic}`);
}

describe('selectors: exact and *', () => {
  it('an exact selector matches only the identical string', () => {
    const c = compileSelector('https://example.com/books/1');
    assert.equal(c.kind, 'exact');
    assert.equal(c.error, undefined);
    check(
      'https://example.com/books/1',
      ['https://example.com/books/1'],
      [
        'https://example.com/books/10',
        'https://example.com/books/',
        'HTTPS://example.com/books/1',
        'https://example.com/books/%31',
        '',
      ],
    );
  });

  it('* matches every topic', () => {
    const c = compileSelector('*');
    assert.equal(c.kind, 'all');
    check('*', ['*', 'a', '', 'https://example.com/x?y#z', '{x}'], []);
  });

  it('a string with * inside is an exact topic', () => {
    assert.equal(compileSelector('/books/*').kind, 'exact');
    check('/books/*', ['/books/*'], ['/books/1']);
  });
});

describe('selectors: URI templates, per operator', () => {
  it('{var}: one or more unreserved or pct-encoded characters', () => {
    assert.equal(compileSelector('https://example.com/books/{id}').kind, 'template');
    check(
      'https://example.com/books/{id}',
      [
        'https://example.com/books/1',
        'https://example.com/books/AZaz09-._~',
        'https://example.com/books/a%2Fb',
        'https://example.com/books/1,2', // a list value is comma-separated (§3.2.2)
      ],
      [
        'https://example.com/books/', // Herald: {var} never expands to nothing
        'https://example.com/books/1/2',
        'https://example.com/books/1?x',
        'https://example.com/books/1#x',
        'https://example.com/books/a:b',
        'https://example.com/books/a b',
        'https://example.com/books/a+b',
        'https://example.com/book/1',
        'https://example.com/books/1/',
      ],
    );
    check(
      '/users/{user}/notes/{note}',
      ['/users/kévin/notes/42', '/users/a/notes/b'],
      ['/users/a/notes/', '/users//notes/b', '/users/a/b/notes/c', '/users/a/notes/b/c'],
    );
  });

  it('{+var}: reserved characters pass through', () => {
    check(
      'https://example.com/{+path}',
      [
        'https://example.com/a',
        'https://example.com/a/b/c',
        "https://example.com/a/b?c=d&e=f#g:h@i!$'()*+,;=[]",
        'https://example.com/%20',
      ],
      [
        'https://example.com/',
        'https://example.com/a b',
        'https://example.com/a"b',
        'https://example.com/a%',
      ],
    );
    check('{+path}/comments', ['/a/b/comments', 'x/comments'], ['/comments', '/a/b/comment']);
  });

  it('{#var}: fragment, may be absent', () => {
    check(
      '/page{#frag}',
      ['/page', '/page#', '/page#a/b?c', '/page#x,y'],
      ['/page#a b', '/pagex', '/page/#a'],
    );
  });

  it('{.var}: label with dot prefix', () => {
    check(
      '/file{.ext}',
      ['/file', '/file.', '/file.json', '/file.tar.gz', '/file.a,b'],
      ['/file.a/b', '/filejson', '/file.a?b'],
    );
    check('www{.dom*}', ['www.example.com', 'www'], ['www.a/b']);
  });

  it('{/var}: path segments', () => {
    check('/api{/version}', ['/api', '/api/', '/api/v1'], ['/api/v1/x', '/apiv1']);
    check('/api{/path*}', ['/api/a', '/api/a/b/c', '/api'], ['/api/a?b']);
    check('/api{/a,b}', ['/api/1/2', '/api/1', '/api'], ['/api/1/2/3']);
  });

  it('{?var}: query, named, in template order', () => {
    check(
      '/search{?q,lang}',
      [
        '/search',
        '/search?q=x',
        '/search?q=',
        '/search?q=x&lang=fr',
        '/search?lang=fr',
        '/search?q=a,b',
      ],
      [
        '/search?lang=fr&q=x', // variables keep template order
        '/search?x=1',
        '/search?q=a b',
        '/search?q=x&lang=fr&extra=1',
        '/search?q',
        '/search&q=x',
      ],
    );
    check('/s{?tags*}', ['/s?tags=a&tags=b', '/s?a=1&b=2', '/s?tags='], ['/s?tags', '/s?=1']);
  });

  it('{&var}: query continuation', () => {
    check(
      '/search?fixed=1{&x,y}',
      ['/search?fixed=1', '/search?fixed=1&x=2', '/search?fixed=1&x=2&y=3', '/search?fixed=1&y='],
      ['/search?fixed=1&z=2', '/search?fixed=1?x=2'],
    );
  });

  it('{;var}: path-style parameters', () => {
    check(
      '/map{;x,y}',
      ['/map', '/map;x=1', '/map;x', '/map;x=1;y=2', '/map;y=2'],
      ['/map;z=1', '/map;x=', '/map;y=2;x=1', '/map;x=1&y=2'],
    );
  });

  it('several variables in one simple expression', () => {
    check('/pt/{x,y}', ['/pt/1,2', '/pt/1', '/pt/1,2,3'], ['/pt/', '/pt/1/2']);
  });

  it('prefix modifier {var:n} counts characters', () => {
    check(
      '/d/{term:3}/{term}',
      ['/d/c/cat', '/d/cat/cat', '/d/%C3%A9t%C3%A9/x'],
      ['/d/cats/cats', '/d//cat'],
    );
  });

  it('Mercure authorization example: {?topic} with a pct-encoded IRI', () => {
    check(
      'https://example.com/users/foo/{?topic}',
      ['https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1'],
      [
        'https://example.com/users/foo/?topic=https://example.com/books/1',
        'https://example.com/users/bar/?topic=x',
      ],
    );
  });

  it('a template also matches a topic equal to itself (Mercure)', () => {
    check('/books/{id}', ['/books/{id}', '/books/1'], ['/books/{ID}']);
  });
});

describe('selectors: encoding and literal characters', () => {
  it('percent-encoded triplets count as value characters, malformed ones do not', () => {
    check(
      '/tags/{tag}',
      ['/tags/%C3%A9', '/tags/%c3%a9', '/tags/a%20b', '/tags/%25'],
      ['/tags/%', '/tags/%G1', '/tags/%2', '/tags/100%', '/tags/a%2'],
    );
  });

  it('non-ASCII characters are IRI characters in values and exact in literals', () => {
    check(
      '/users/{name}',
      ['/users/José', '/users/日本語', '/users/🎉', '/users/Ω%20x'],
      ['/users/José Luis'],
    );
    check('/книги/{id}', ['/книги/1', '/книги/книга'], ['/книга/1', '/книги/', '/kniga/1']);
    check('/🎉/{x}', ['/🎉/1'], ['/🎊/1']);
  });

  it('regular-expression metacharacters in literals are literal', () => {
    check('/a.b/{x}', ['/a.b/1'], ['/aXb/1']);
    check('/c++/{x}', ['/c++/1'], ['/cc/1', '/c+/1', '/c+++/1']);
    check('/f(x)/{y}', ['/f(x)/1'], ['/fx/1', '/f/1']);
    check('/p$[a]|b\\^?/{x}', ['/p$[a]|b\\^?/1'], ['/pa/1', '/p$a|b^/1']);
    check('^{x}$', ['^a$'], ['a']);
  });

  it('deterministic templates run as a native RegExp, ambiguous ones on the DFA', () => {
    for (const s of [
      'https://example.com/books/{id}',
      '/users/{user}/notes/{note}',
      'https://example.com/{+path}',
      '/search{?q,lang}',
      '/api{/path*}',
      '/x{/a,b}',
      '/file{.ext}',
      'https://example.com/users/foo/{?topic}',
    ]) {
      assert.equal(new UriTemplate(s).matcher, 'regexp', s);
    }
    for (const s of ['{+path}/comments', '{a}{b}', '{x,y}', '/books/{id}.json']) {
      assert.equal(new UriTemplate(s).matcher, 'dfa', s);
    }
  });

  it('templates run in linear time: no catastrophic backtracking', () => {
    // A backtracking RegExp needs ~n^8 steps here; this finishes instantly or never.
    const t = new UriTemplate('{a}{b}{c}{d}{e}{f}{g}{h}/');
    assert.equal(t.matcher, 'dfa');
    assert.equal(t.matches(`${'a'.repeat(20_000)}!`), false);
    assert.equal(t.matches(`${'a'.repeat(20_000)}/`), true);
    const r = new UriTemplate('{+a}/x/{+b}/y/{+c*}/z');
    assert.equal(r.matches('/x/'.repeat(10_000)), false);
  });
});

describe('selectors: malformed templates', () => {
  const malformed: [string, number][] = [
    ['/books/{id', 7],
    ['/books/id}', 9],
    ['/books/{}', 7],
    ['/books/{{id}}', 8],
    ['/books/{=id}', 8],
    ['/books/{!id}', 8],
    ['/books/{a b}', 8],
    ['/books/{a..b}', 8],
    ['/books/{.}', 9],
    ['/books/{a,}', 10],
    ['/books/{x:0}', 8],
    ['/books/{x:10000}', 8],
    ['/books/{x*:3}', 8],
    ['/books/{x-y}', 8],
    ['/books/{%zz}', 8],
    ['{"room":1}', 1],
  ];

  for (const [selector, index] of malformed) {
    it(`${selector} is matched exactly, with a typed error (strict mode throws)`, () => {
      const c = compileSelector(selector);
      assert.equal(c.kind, 'exact');
      assert.ok(c.error instanceof HeraldTopicError);
      assert.equal(c.error.code, 'INVALID_TEMPLATE');
      assert.equal(c.error.selector, selector);
      assert.equal(c.error.index, index);
      assert.match(c.error.message, /is not a valid URI template/);
      check(selector, [selector], [`${selector}x`, '/books/1']);
      assert.throws(() => compileSelector(selector, { strict: true }), HeraldTopicError);
      assert.throws(() => parseUriTemplate(selector), HeraldTopicError);
    });
  }

  it('valid edge cases parse', () => {
    for (const s of ['{a.b}', '{a_1,B%20c}', '{x:9}', '{x:999}', '{x*}', '{?a,b*,c:2}', '{%41}']) {
      assert.equal(compileSelector(s, { strict: true }).kind, 'template', s);
    }
    assert.deepEqual(parseUriTemplate('/a/{+b:5,c*}'), [
      { kind: 'literal', text: '/a/' },
      {
        kind: 'expression',
        operator: '+',
        variables: [
          { name: 'b', explode: false, maxLength: 5 },
          { name: 'c', explode: true, maxLength: undefined },
        ],
      },
    ]);
  });

  it('a template too big for the automaton bound is refused', () => {
    const c = compileSelector('/x/{a:9999}');
    assert.equal(c.kind, 'exact');
    assert.equal(c.error?.code, 'TEMPLATE_TOO_COMPLEX');
    const vars = Array.from({ length: 33 }, (_, i) => `v${i}`).join(',');
    assert.equal(compileSelector(`/x{?${vars}}`).error?.code, 'TEMPLATE_TOO_COMPLEX');
    assert.equal(compileSelector(`/x{?${vars.slice(0, vars.lastIndexOf(','))}}`).kind, 'template');
    assert.equal(compileSelector(`/x/{${'a'.repeat(20_000)}}`).kind, 'template');
  });
});

describe('selectors: cache, SelectorSet, matchesAny', () => {
  it('compiles each selector once while it is cached', () => {
    const s = `/cache/${Math.random()}/{id}`;
    const before = selectorCacheStats();
    const a = compileSelector(s);
    const b = compileSelector(s);
    const after = selectorCacheStats();
    assert.equal(a, b);
    assert.equal(after.misses - before.misses, 1);
    assert.equal(after.hits - before.hits, 1);
  });

  it('matchesAny: any selector against any topic', () => {
    assert.ok(matchesAny(['/a', '/b/{x}'], ['/c', '/b/1']));
    assert.ok(!matchesAny(['/a', '/b/{x}'], ['/c', '/b/']));
    assert.ok(matchesAny([compileSelector('*')], ['/z']));
    assert.ok(!matchesAny([], ['/z']));
    assert.ok(!matchesAny(['*'], []));
  });

  it('SelectorSet: exact set, templates and *', () => {
    const set = new SelectorSet(['/a', '/a', '/b/{x}', '{bad']);
    assert.deepEqual(set.selectors, ['/a', '/b/{x}', '{bad']);
    assert.equal(set.all, false);
    assert.ok(set.matches('/a'));
    assert.ok(set.matches('/b/2'));
    assert.ok(set.matches('{bad'));
    assert.ok(!set.matches('/c'));
    assert.ok(set.matchesAny(['/c', '/b/2']));
    assert.ok(!set.matchesAny(['/c', '/d']));
    const all = new SelectorSet(['*']);
    assert.ok(all.all && all.matches('/anything') && all.matchesAny(['/x']));
    assert.ok(!all.matchesAny([]));
  });
});

describe('TopicIndex', () => {
  it('returns a subscriber matched by several selectors and topics once', () => {
    const index = new TopicIndex<string>();
    index.add('alice', ['/books/1', '/books/{id}', '*']);
    index.add('bob', ['/books/2']);
    index.add('carol', ['/authors/{id}']);
    const seen: string[] = [];
    const n = index.forEachMatch(['/books/1', '/books/2'], (s) => seen.push(s));
    assert.equal(n, 2);
    assert.deepEqual(seen.sort(), ['alice', 'bob']);
    assert.deepEqual([...index.match(['/books/1', '/books/2'])].sort(), ['alice', 'bob']);
    assert.deepEqual([...index.match(['/authors/7'])].sort(), ['alice', 'carol']);
    assert.deepEqual([...index.match(['/nothing'])], ['alice']);
  });

  it('passes a context to the visitor', () => {
    const index = new TopicIndex<{ name: string }>();
    const a = { name: 'a' };
    index.add(a, ['/t']);
    const ctx = { got: [] as string[] };
    index.forEachMatch(['/t'], (s, c) => c.got.push(s.name), ctx);
    assert.deepEqual(ctx.got, ['a']);
  });

  it('keeps exact topics in a map and shares template evaluation', () => {
    const index = new TopicIndex<number>();
    for (let i = 0; i < 1000; i++) index.add(i, [`/users/${i}`]);
    index.add(1000, ['/users/{id}']);
    index.add(1001, ['/users/{id}']);
    assert.deepEqual(index.stats(), {
      subscribers: 1002,
      exactTopics: 1000,
      wildcardSubscribers: 0,
      templates: 1,
      templateSubscribers: 2,
    });
    assert.deepEqual(
      [...index.match(['/users/42'])].sort((a, b) => a - b),
      [42, 1000, 1001],
    );
  });

  it('remove cleans every internal structure', () => {
    const index = new TopicIndex<string>();
    index.add('a', ['/x', '/y', '/t/{id}', '*']);
    index.add('b', ['/x', '/t/{id}']);
    index.add('c', ['/z/{id}', '{broken']);
    assert.equal(index.size, 3);
    assert.ok(index.remove('a'));
    assert.ok(!index.remove('a'));
    assert.deepEqual(index.stats(), {
      subscribers: 2,
      exactTopics: 2, // '/x' (b) and '{broken' (c, matched exactly)
      wildcardSubscribers: 0,
      templates: 2,
      templateSubscribers: 2,
    });
    index.remove('b');
    index.remove('c');
    assert.deepEqual(index.stats(), {
      subscribers: 0,
      exactTopics: 0,
      wildcardSubscribers: 0,
      templates: 0,
      templateSubscribers: 0,
    });
    assert.equal(index.size, 0);
    assert.equal(index.match(['/x', '/t/1', '{broken']).size, 0);
  });

  it('add on an existing subscriber merges selectors', () => {
    const index = new TopicIndex<string>();
    index.add('a', ['/x']);
    index.add('a', ['/x', '/y/{z}']);
    assert.equal(index.size, 1);
    assert.deepEqual(index.selectorsOf('a'), ['/x', '/y/{z}']);
    assert.equal(index.selectorsOf('nobody'), undefined);
    assert.ok(index.has('a'));
    assert.deepEqual([...index.match(['/y/1'])], ['a']);
    assert.equal(index.stats().templateSubscribers, 1);
  });

  it('a visitor may remove subscribers, including ones not visited yet', () => {
    const index = new TopicIndex<string>();
    for (const s of ['a', 'b', 'c', 'd']) index.add(s, ['/t', '/t/{x}']);
    const seen: string[] = [];
    index.forEachMatch(['/t', '/t/1'], (s) => {
      seen.push(s);
      index.remove(s);
      if (s === 'a') index.remove('c');
    });
    assert.deepEqual(seen, ['a', 'b', 'd']);
    assert.equal(index.stats().exactTopics, 0);
    assert.equal(index.stats().templates, 0);
  });

  it('nested lookups from a visitor keep deduplication intact', () => {
    const index = new TopicIndex<string>();
    index.add('a', ['/t', '/u']);
    index.add('b', ['/t', '/u']);
    const outer: string[] = [];
    const inner: string[] = [];
    index.forEachMatch(['/t', '/u'], (s) => {
      outer.push(s);
      index.forEachMatch(['/u'], (x) => inner.push(x));
    });
    assert.deepEqual(outer.sort(), ['a', 'b']);
    assert.deepEqual(inner.sort(), ['a', 'a', 'b', 'b']);
  });

  it('property: index lookups equal a brute-force filter', () => {
    const topics = ['/a', '/b', '/c/1', '/c/2', '/d?x=1', 'e'];
    const selectors = [...topics, '/c/{id}', '/d{?x}', '*', '{+all}', '{bad'];
    const subscriber = fc.uniqueArray(fc.constantFrom(...selectors), { maxLength: 4 });
    fc.assert(
      fc.property(
        fc.array(subscriber, { maxLength: 30 }),
        fc.array(fc.nat({ max: 29 }), { maxLength: 10 }),
        fc.array(
          fc.uniqueArray(fc.constantFrom(...topics, '{bad', '/zzz'), {
            minLength: 1,
            maxLength: 3,
          }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        (subs, removals, events) => {
          const index = new TopicIndex<number>();
          const live = new Map<number, string[]>();
          subs.forEach((sels, i) => {
            index.add(i, sels);
            live.set(i, sels);
          });
          for (const r of removals) {
            assert.equal(index.remove(r), live.delete(r));
          }
          for (const eventTopics of events) {
            const expected = [...live]
              .filter(([, sels]) => matchesAny(sels, eventTopics))
              .map(([i]) => i);
            const visited: number[] = [];
            index.forEachMatch(eventTopics, (s) => visited.push(s));
            assert.deepEqual(
              visited.sort((x, y) => x - y),
              expected,
            );
            assert.deepEqual(
              [...index.match(eventTopics)].sort((x, y) => x - y),
              expected,
            );
          }
          for (const i of live.keys()) index.remove(i);
          assert.deepEqual(index.stats(), {
            subscribers: 0,
            exactTopics: 0,
            wildcardSubscribers: 0,
            templates: 0,
            templateSubscribers: 0,
          });
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties of the template matcher
// ---------------------------------------------------------------------------------------------

const OPS: TemplateOperator[] = ['', '+', '#', '.', '/', ';', '?', '&'];

interface VarSpec {
  name: string;
  explode: boolean;
  maxLength?: number;
}
type Value = string | string[] | undefined;
interface Expr {
  op: TemplateOperator;
  vars: VarSpec[];
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const RESERVED = /[:/?#[\]@!$&'()*+,;=]/;

/** RFC 6570 §3.2.1 value encoding, written independently of the implementation. */
function encode(value: string, allowReserved: boolean): string {
  let out = '';
  const chars = [...value];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (UNRESERVED.test(ch) || (allowReserved && RESERVED.test(ch))) {
      out += ch;
    } else if (
      allowReserved &&
      ch === '%' &&
      /^%[0-9A-Fa-f]{2}/.test(chars.slice(i, i + 3).join(''))
    ) {
      out += ch; // "pct-encoded triplets … passed through" for + and #
    } else {
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** RFC 6570 expansion of one expression (Appendix A algorithm), for strings and lists. */
function expand(expr: Expr, values: Record<string, Value>): string {
  const table: Record<TemplateOperator, [string, string, boolean, string, boolean]> = {
    '': ['', ',', false, '', false],
    '+': ['', ',', false, '', true],
    '.': ['.', '.', false, '', false],
    '/': ['/', '/', false, '', false],
    ';': [';', ';', true, '', false],
    '?': ['?', '&', true, '=', false],
    '&': ['&', '&', true, '=', false],
    '#': ['#', ',', false, '', true],
  };
  const [first, sep, named, ifemp, allow] = table[expr.op];
  const parts: string[] = [];
  for (const v of expr.vars) {
    const value = values[v.name];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (typeof value === 'string') {
      const s = v.maxLength === undefined ? value : [...value].slice(0, v.maxLength).join('');
      const e = encode(s, allow);
      parts.push(named ? (e === '' ? v.name + ifemp : `${v.name}=${e}`) : e);
    } else if (!v.explode) {
      const e = value.map((x) => encode(x, allow)).join(',');
      parts.push(named ? `${v.name}=${e}` : e);
    } else {
      const items = value.map((x) => {
        const e = encode(x, allow);
        return named ? (e === '' ? v.name + ifemp : `${v.name}=${e}`) : e;
      });
      parts.push(items.join(sep));
    }
  }
  return parts.length === 0 ? '' : first + parts.join(sep);
}

const valueChar = fc.constantFrom(
  'a',
  'Z',
  '0',
  '-',
  '.',
  '~',
  '/',
  '?',
  '&',
  '=',
  ',',
  '%',
  ' ',
  'é',
  '😀',
  ':',
  '#',
);
const valueString = fc.array(valueChar, { minLength: 0, maxLength: 5 }).map((a) => a.join(''));
const nonEmptyString = fc.array(valueChar, { minLength: 1, maxLength: 5 }).map((a) => a.join(''));

const exprArb = fc
  .record({
    op: fc.constantFrom(...OPS),
    vars: fc.array(
      fc.record({
        explode: fc.boolean(),
        maxLength: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  })
  .map(({ op, vars }) => ({
    op,
    vars: vars.map((v, i) => ({
      name: `v${i}`,
      explode: v.explode && v.maxLength === undefined,
      ...(v.explode || v.maxLength === undefined ? {} : { maxLength: v.maxLength }),
    })),
  }));

const literalArb = fc.constantFrom('', '/', '/x/', 'a.b', 'é', '?q=1', '-');

function specText(e: Expr): string {
  const vars = e.vars.map(
    (v) => v.name + (v.explode ? '*' : v.maxLength !== undefined ? `:${v.maxLength}` : ''),
  );
  return `{${e.op}${vars.join(',')}}`;
}

describe('URI template matcher properties', () => {
  it('every RFC 6570 expansion of a template matches it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(literalArb, exprArb), { minLength: 1, maxLength: 3 }),
        literalArb,
        fc.infiniteStream(
          fc.tuple(
            fc.nat({ max: 3 }),
            valueString,
            nonEmptyString,
            fc.array(nonEmptyString, { maxLength: 3 }),
          ),
        ),
        (pieces, tail, seeds) => {
          let template = '';
          let topic = '';
          let k = 0;
          for (const [literal, expr0] of pieces) {
            // distinct names per expression keep "same value everywhere" trivially true
            const expr: Expr = {
              op: expr0.op,
              vars: expr0.vars.map((v) => ({ ...v, name: `${v.name}_${k++}` })),
            };
            const strict = expr.op === '' || expr.op === '+';
            const values: Record<string, Value> = {};
            for (const v of expr.vars) {
              const [kind, s, ne, list] = seeds.next().value as [number, string, string, string[]];
              if (kind === 0 && !strict) values[v.name] = undefined;
              else if (kind === 1 && v.maxLength === undefined && list.length > 0)
                values[v.name] = list;
              else values[v.name] = strict ? ne : s;
            }
            const expansion = expand(expr, values);
            if (strict && expansion === '') values[expr.vars[0]!.name] = 'x';
            template += literal + specText(expr);
            topic += literal + expand(expr, values);
          }
          template += tail;
          topic += tail;
          const t = new UriTemplate(template);
          assert.ok(t.matches(topic), `${template} should match ${topic}`);
          assert.ok(
            new UriTemplate(template, { matcher: 'dfa' }).matches(topic),
            `DFA: ${template} / ${topic}`,
          );
          assert.ok(t.toRegExp().test(topic), `RegExp of ${template} should match ${topic}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the DFA agrees with the equivalent RegExp on arbitrary strings', () => {
    const topicChar = fc.constantFrom(
      'a',
      '1',
      '/',
      '.',
      ',',
      '=',
      '?',
      '&',
      ';',
      '#',
      '%',
      'C',
      '3',
      'é',
      ' ',
      'x',
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(literalArb, exprArb), { minLength: 1, maxLength: 3 }),
        fc.array(
          fc.array(topicChar, { maxLength: 12 }).map((a) => a.join('')),
          { minLength: 1, maxLength: 20 },
        ),
        (pieces, candidates) => {
          const template = pieces.map(([l, e]) => l + specText(e)).join('');
          const dfa = new UriTemplate(template, { matcher: 'dfa' });
          const auto = new UriTemplate(template);
          const re = dfa.toRegExp();
          for (const c of candidates) {
            const expected = re.test(c);
            assert.equal(dfa.matches(c), expected, `${template} vs ${JSON.stringify(c)}`);
            assert.equal(
              auto.matches(c),
              expected,
              `${template} (${auto.matcher}) vs ${JSON.stringify(c)}`,
            );
          }
          if (auto.matcher === 'regexp') {
            // Deterministic templates run on a backtracking RegExp: long inputs must stay cheap
            // (an exponential blow-up would hang here).
            for (const c of candidates) {
              const long = `${pieces[0]![0]}${c.repeat(Math.ceil(2000 / (c.length + 1)))}`;
              assert.equal(auto.matches(long), dfa.matches(long), `${template} vs long input`);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
