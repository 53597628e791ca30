import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { EventSourceMessage } from 'eventsource-parser';
import type { HeraldServer } from '../../src/server/app.js';
import {
  assertErrorResponse,
  assertErrorResult,
  formOf,
  HUB,
  http,
  idsOf,
  makeToken,
  publisherToken,
  publishOk,
  SECRET,
  startHub,
  subscribe,
  subscriberToken,
  subscribeUrl,
} from '../helpers/hub-server.js';
import type { OpenedStream } from '../helpers/sse.js';

// Who may publish and who receives what, end to end: the token in the Authorization header,
// the `authorization` query parameter or the `mercureAuthorization` cookie; public and private
// updates; selectors that match and that do not; `exp` ending a stream; and a 1000-update
// private-leak check against an independent model of Mercure's rules.

const ALLOWED_ORIGIN = 'http://app.test';
const FOREIGN_ORIGIN = 'http://evil.test';

type Source = 'header' | 'query' | 'cookie';
const SOURCES: readonly Source[] = ['header', 'query', 'cookie'];

/** Where a request carries `token`: headers and the query to add. */
function carry(
  source: Source,
  token: string,
): { headers: OutgoingHttpHeaders; query: Record<string, string> } {
  switch (source) {
    case 'header':
      return { headers: { authorization: `Bearer ${token}` }, query: {} };
    case 'query':
      return { headers: {}, query: { authorization: token } };
    case 'cookie':
      return { headers: { cookie: `theme=dark; mercureAuthorization=${token}` }, query: {} };
  }
}

let server: HeraldServer;
let admin: string;
before(async () => {
  // No --anonymous: a subscriber the hub did not authenticate from its token is refused, so
  // every 200 below proves the token was found where the test put it.
  server = await startHub(['--cors-origins', ALLOWED_ORIGIN]);
  admin = await publisherToken();
});
after(() => server.close(1000));

/** POSTs a form publish with the token carried by `source`. */
function publishWith(
  source: Source,
  token: string,
  topic: string,
  isPrivate: boolean,
  extraHeaders: OutgoingHttpHeaders = {},
) {
  const { headers, query } = carry(source, token);
  const search = new URLSearchParams(query).toString();
  return http(`${server.url}${HUB}${search === '' ? '' : `?${search}`}`, {
    method: 'POST',
    headers: {
      ...headers,
      ...extraHeaders,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: formOf({ topic, data: 'x', private: isPrivate }).toString(),
  });
}

describe('publishers', () => {
  for (const source of SOURCES) {
    for (const isPrivate of [false, true]) {
      const kind = isPrivate ? 'private' : 'public';
      // Cookie POSTs need an allowed Origin (CSRF); the next tests cover the refusals.
      const origin = source === 'cookie' ? { origin: ALLOWED_ORIGIN } : {};

      test(`token in the ${source}, ${kind} update, matching selector → 200 with the id`, async () => {
        const token = await publisherToken(['https://example.com/books/{id}']);
        const res = await publishWith(
          source,
          token,
          'https://example.com/books/1',
          isPrivate,
          origin,
        );
        assert.equal(res.status, 200, res.body);
        assert.match(String(res.headers['content-type']), /^text\/plain/);
        assert.ok(res.body.length > 0, 'the event id');
      });

      test(`token in the ${source}, ${kind} update, non-matching selector → 403`, async () => {
        const token = await publisherToken(['https://example.com/books/{id}']);
        const res = await publishWith(
          source,
          token,
          'https://example.com/authors/1',
          isPrivate,
          origin,
        );
        assertErrorResult(res, 403, /mercure.publish selectors do not allow topic/);
      });
    }
  }

  test('a cookie POST from a foreign Origin, or without Origin/Referer, is refused (CSRF)', async () => {
    const token = await publisherToken();
    assertErrorResult(
      await publishWith('cookie', token, '/a', false, { origin: FOREIGN_ORIGIN }),
      403,
      /origin http:\/\/evil.test may not publish with the mercureAuthorization cookie \(CSRF protection\)/,
    );
    assertErrorResult(
      await publishWith('cookie', token, '/a', false, { referer: `${FOREIGN_ORIGIN}/page` }),
      403,
      /CSRF/,
    );
    assertErrorResult(
      await publishWith('cookie', token, '/a', false),
      403,
      /must carry an Origin or Referer header/,
    );
    // A Referer from the allowed origin does as well as its Origin.
    const ok = await publishWith('cookie', token, '/a', false, {
      referer: `${ALLOWED_ORIGIN}/app/page`,
    });
    assert.equal(ok.status, 200, ok.body);
    // The allowed origin's answer carries its CORS headers, so the page can read the id.
    const withOrigin = await publishWith('cookie', token, '/a', false, { origin: ALLOWED_ORIGIN });
    assert.equal(withOrigin.status, 200);
    assert.equal(withOrigin.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    assert.equal(withOrigin.headers['access-control-allow-credentials'], 'true');
  });

  test('the first token source present wins, even when it is invalid', async () => {
    const good = await publisherToken();
    const bad = await makeToken({ publish: ['*'] }, { secret: `${SECRET}-wrong` });
    // A bad header is not rescued by a good query parameter or cookie.
    const res = await http(`${server.url}${HUB}?authorization=${good}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${bad}`,
        cookie: `mercureAuthorization=${good}`,
        origin: ALLOWED_ORIGIN,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'topic=/a&data=x',
    });
    assertErrorResult(res, 401, /signature does not verify/);
    // A good header wins over a bad query parameter.
    const ok = await http(`${server.url}${HUB}?authorization=${bad}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${good}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'topic=/a&data=x',
    });
    assert.equal(ok.status, 200, ok.body);
  });
});

/** Subscribes with the token carried by `source` (a GET: cookies need no Origin). */
function subscribeWith(source: Source, token: string, topics: string[]): Promise<OpenedStream> {
  const { headers, query } = carry(source, token);
  return subscribe(server.url, topics, { headers, query });
}

/** Waits for the event with `id`, then returns the ids received so far. */
async function idsUntil(stream: OpenedStream, id: string): Promise<string[]> {
  const events = await stream.reader.events.until(
    (list) => list.some((e) => e.id === id),
    `event ${id}`,
  );
  return idsOf(events);
}

describe('subscribers', () => {
  let n = 0;
  for (const source of SOURCES) {
    for (const matching of [true, false]) {
      test(`token in the ${source}, ${matching ? 'matching' : 'non-matching'} subscribe claim: public always, private ${matching ? 'too' : 'never'}`, async () => {
        const topic = `https://example.com/sub-matrix/${source}/${++n}`;
        const claim = matching
          ? ['https://example.com/sub-matrix/{+rest}']
          : ['https://example.com/other/{id}'];
        const stream = await subscribeWith(source, await subscriberToken(claim), [topic]);
        // The private update first, then a public one: events arrive in order, so once the
        // public one is there the private one has either arrived or never will.
        const privateId = await publishOk(
          server.url,
          { topic, data: 'secret', private: true },
          admin,
        );
        const publicId = await publishOk(server.url, { topic, data: 'hello' }, admin);
        const ids = await idsUntil(stream, publicId);
        assert.deepEqual(ids, matching ? [privateId, publicId] : [publicId]);
        stream.req.destroy();
      });
    }
  }

  test('subscribing with a cookie needs no Origin (GET is safe), and a foreign Origin does not matter', async () => {
    const token = await subscriberToken(['*']);
    const stream = await subscribe(server.url, ['/cookie-get'], {
      headers: { cookie: `mercureAuthorization=${token}`, origin: FOREIGN_ORIGIN },
    });
    const id = await publishOk(
      server.url,
      { topic: '/cookie-get', data: 'x', private: true },
      admin,
    );
    assert.deepEqual(await idsUntil(stream, id), [id]);
    stream.req.destroy();
  });

  test('a subscriber token with a publish claim but no subscribe claim gets public updates only', async () => {
    const stream = await subscribe(server.url, ['/mixed'], { token: await publisherToken() });
    const hidden = await publishOk(
      server.url,
      { topic: '/mixed', private: true, data: 'p' },
      admin,
    );
    const shown = await publishOk(server.url, { topic: '/mixed', data: 'q' }, admin);
    const ids = await idsUntil(stream, shown);
    assert.ok(!ids.includes(hidden));
    stream.req.destroy();
  });

  test('a subscriber token that is invalid is refused on every source', async () => {
    const bad = await makeToken({ subscribe: ['*'] }, { secret: `${SECRET}-wrong` });
    for (const source of SOURCES) {
      const { headers, query } = carry(source, bad);
      const res = await http(subscribeUrl(server.url, ['/a'], query), { headers });
      assertErrorResult(res, 401, /signature does not verify/);
      assert.match(String(res.headers['www-authenticate']), /invalid_token/);
    }
  });
});

describe('exp', () => {
  test("the hub ends a subscriber's stream when its token expires", async () => {
    // `exp` is in whole seconds: this one is between 1 and 2 s away. The 5 s clock tolerance
    // applies to accepting the token, not to the stream, which the hub ends at `exp` itself.
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await makeToken({ subscribe: ['/exp'] }, { exp });
    const stream = await subscribe(server.url, ['/exp'], { token });
    const id = await publishOk(
      server.url,
      { topic: '/exp', data: 'before exp', private: true },
      admin,
    );
    await idsUntil(stream, id);
    await stream.reader.end('the hub to end the stream of the expired token');
    assert.ok(stream.res.complete, 'the hub ended the response cleanly (not a cut connection)');
    assert.equal(server.hub.stats().subscribers, 0);
  });

  test('a token that expired beyond the tolerance is refused', async () => {
    const token = await makeToken(
      { subscribe: ['/exp'] },
      { exp: Math.floor(Date.now() / 1000) - 30 },
    );
    const res = await fetch(subscribeUrl(server.url, ['/exp']), {
      headers: { authorization: `Bearer ${token}` },
    });
    await assertErrorResponse(res, 401, /token expired at/);
  });
});

// ---------------------------------------------------------------------------------------------
// The private-leak test

/** A seeded PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BOOKS = 'https://example.com/books/{id}';
const AUTHORS = 'https://example.com/authors/{id}';
const CHAT = '/chat/{room}';
const OTHER = 'https://other.example/{x}';
/** The templates the model knows, as regular expressions over the test's topics. */
const TEMPLATES: Record<string, RegExp> = {
  [BOOKS]: /^https:\/\/example\.com\/books\/[^/]+$/,
  [AUTHORS]: /^https:\/\/example\.com\/authors\/[^/]+$/,
  [CHAT]: /^\/chat\/[^/]+$/,
  [OTHER]: /^https:\/\/other\.example\/[^/]+$/,
};
const TOPICS = [
  ...[1, 2, 3, 4, 5].map((i) => `https://example.com/books/${i}`),
  ...[1, 2, 3].map((i) => `https://example.com/authors/${i}`),
  '/chat/lobby',
  '/chat/secret',
  'urn:example:unrelated',
];
const MARKER = '/marker';

/** Mercure's rule, modelled independently of the hub's matcher. */
function selectorMatches(selector: string, topic: string): boolean {
  return selector === '*' || selector === topic || (TEMPLATES[selector]?.test(topic) ?? false);
}
const anyMatch = (selectors: readonly string[], topics: readonly string[]): boolean =>
  topics.some((t) => selectors.some((s) => selectorMatches(s, t)));

interface Update {
  id: string;
  topics: string[];
  private: boolean;
}

interface Profile {
  name: string;
  topics: string[];
  /** The token's `mercure.subscribe`; `undefined` = anonymous (no token). */
  claim: string[] | undefined;
}

const PROFILES: Profile[] = [
  { name: 'anonymous, every topic', topics: ['*'], claim: undefined },
  { name: 'anonymous, books template', topics: [BOOKS], claim: undefined },
  { name: 'exact claim', topics: ['*'], claim: ['https://example.com/books/1'] },
  { name: 'template claim', topics: [BOOKS], claim: [BOOKS] },
  { name: '* claim', topics: ['https://example.com/books/1', CHAT], claim: ['*'] },
  { name: 'non-matching claim', topics: ['*'], claim: [OTHER, '/chat/lobbyX'] },
  { name: 'claim narrower than the topics', topics: [CHAT], claim: ['/chat/secret'] },
  // Selected through one topic of an update, authorized through another.
  { name: 'claim on other topics than selected', topics: [BOOKS], claim: [AUTHORS] },
  { name: 'empty claim', topics: ['*'], claim: [] },
];

function expected(profile: Profile, updates: readonly Update[]): string[] {
  return updates
    .filter(
      (u) =>
        anyMatch(profile.topics, u.topics) &&
        (!u.private || (profile.claim !== undefined && anyMatch(profile.claim, u.topics))),
    )
    .map((u) => u.id)
    .sort();
}

describe('private updates never leak', () => {
  let leakHub: HeraldServer;
  before(async () => {
    leakHub = await startHub(['--anonymous']);
  });
  after(() => leakHub.close(1000));

  async function open(profile: Profile, query: Record<string, string> = {}): Promise<OpenedStream> {
    const token = profile.claim === undefined ? undefined : await subscriberToken(profile.claim);
    return subscribe(leakHub.url, [...profile.topics, MARKER], {
      ...(token === undefined ? {} : { token }),
      query,
    });
  }

  /** The ids a subscriber received before `marker`, checked for duplicates. */
  async function receivedBefore(
    stream: OpenedStream,
    marker: string,
    what: string,
  ): Promise<string[]> {
    const events: EventSourceMessage[] = await stream.reader.events.until(
      (list) => list.some((e) => e.id === marker),
      `${what}: the marker`,
      20_000,
    );
    const ids = idsOf(events).filter((id) => id !== marker);
    assert.equal(new Set(ids).size, ids.length, `${what}: no duplicates`);
    return ids.sort();
  }

  test('1000 mixed public/private publishes to random topics: exact sets per subscriber, live and replayed', async () => {
    const seed = Number(process.env.HERALD_LEAK_SEED ?? 20240607);
    const rand = random(seed);
    const pick = (): string => TOPICS[Math.floor(rand() * TOPICS.length)]!;
    const updates: Update[] = Array.from({ length: 1000 }, (_, i) => {
      const topics = rand() < 0.25 ? [pick(), pick()] : [pick()];
      return { id: `u${i}`, topics: [...new Set(topics)], private: rand() < 0.5 };
    });
    assert.ok(updates.some((u) => u.private) && updates.some((u) => !u.private));

    const live = await Promise.all(PROFILES.map((p) => open(p)));
    const token = await publisherToken();
    // Publish with a few requests in flight, as a busy backend would.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < updates.length) {
          const u = updates[next++]!;
          const id = await publishOk(
            leakHub.url,
            { topic: u.topics, data: `payload of ${u.id}`, id: u.id, private: u.private },
            token,
          );
          assert.equal(id, u.id);
        }
      }),
    );
    const marker = await publishOk(leakHub.url, { topic: MARKER, data: 'end' }, token);

    for (const [i, profile] of PROFILES.entries()) {
      const got = await receivedBefore(live[i]!, marker, `${profile.name} (seed ${seed})`);
      assert.deepEqual(got, expected(profile, updates), `${profile.name} (seed ${seed})`);
    }
    for (const stream of live) stream.req.destroy();

    // The same subscribers replaying the whole history see exactly the same.
    const replayed = await Promise.all(PROFILES.map((p) => open(p, { lastEventID: 'earliest' })));
    for (const [i, profile] of PROFILES.entries()) {
      const got = await receivedBefore(replayed[i]!, marker, `${profile.name}, replayed`);
      assert.deepEqual(got, expected(profile, updates), `${profile.name}, replayed (seed ${seed})`);
    }
    for (const stream of replayed) stream.req.destroy();
  });
});
