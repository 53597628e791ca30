// Fuzz target: the publish API (`POST /.well-known/mercure` forms, `POST /publish` JSON) of a
// real hub over real sockets. Random bodies (fields with CR/LF, %-encodings, unicode, wrong
// types, huge sizes), random tokens (valid with various claims, badly signed, `alg: none`,
// HS/RS confusion, a subscriber's key, expired, not yet valid, wrong claim shapes, garbage) in
// every place a token can travel. A watcher subscribed to everything with full rights sees the
// wire. Each answer must be the status the model of the documented rules predicts — never a
// 5xx, every 4xx with a plain-text reason — and the wire must carry exactly the events of the
// accepted updates, nothing else.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { type HubHandle, startLocalHub } from '../../chaos/lib/hub.js';
import { send } from '../lib/http.js';
import { type Allows, expectPublish, type RawFields } from '../lib/mercure-model.js';
import { type Watcher, watch } from '../lib/watcher.js';
import type { FuzzSession, FuzzTarget } from '../target.js';

const SUBSCRIBER_SECRET = 'fuzz-subscriber-secret-of-at-least-32-bytes!';
const MAX_BODY = 4096;
const MAX_UPDATES = 20;
/** --max-update-topics: below the 3 topics an update may be generated with. */
const MAX_UPDATE_TOPICS = 2;
/** --history-size: ids of this many newest events are still taken (409); older ones are free. */
const HISTORY = 2000;
const HUB = '/.well-known/mercure';

/** Topics the generators draw from: ordinary, tricky, and reserved. */
const TOPICS = [
  '/books/1',
  '/books/abc',
  '/books/1/reviews',
  '/chat/lobby',
  'https://example.com/books/2',
  '/ünïcödé/☃',
  '/a%2Fb',
  '/a%0D%0Ab',
  '/with space',
  '/line\nbreak',
  '/cr\rhere',
  '/nul\0',
  '/tab\there',
  '{id}',
  '*',
  '/.well-known/mercure/subscriptions/x/y',
  '/.well-known/mercure/subscriptions/../..',
  'https://x/.well-known/mercure',
  '/../.well-known/mercure/x',
];

/** Exact-claim topics (a subset of TOPICS). */
const LISTED = ['/books/1', '/chat/lobby', 'https://example.com/books/2', '/ünïcödé/☃'];
/** What the template claim `/books/{id}` is known to match among TOPICS. */
const TEMPLATE_MATCHES = new Set(['/books/1', '/books/abc']);
const TEMPLATE_MISSES = new Set([
  '/books/1/reviews',
  '/chat/lobby',
  'https://example.com/books/2',
  '/ünïcödé/☃',
  '/a%2Fb',
  '/a%0D%0Ab',
  '/with space',
  '/line\nbreak',
  '/cr\rhere',
  '/nul\0',
  '/tab\there',
  '{id}',
  '*',
]);

type TokenKind =
  | 'all'
  | 'listed'
  | 'template'
  | 'namespaced'
  | 'no-publish'
  | 'no-mercure'
  | 'null-publish'
  | 'alg-none'
  | 'hs-with-public-key'
  | 'subscriber-key'
  | 'bad-signature'
  | 'tampered'
  | 'expired'
  | 'not-yet-valid'
  | 'claim-string'
  | 'publish-string'
  | 'publish-numbers'
  | 'claim-array'
  | 'garbage'
  | 'jwe-shaped'
  | 'none';

const TOKEN_KINDS: TokenKind[] = [
  'all',
  'listed',
  'template',
  'namespaced',
  'no-publish',
  'no-mercure',
  'null-publish',
  'alg-none',
  'hs-with-public-key',
  'subscriber-key',
  'bad-signature',
  'tampered',
  'expired',
  'not-yet-valid',
  'claim-string',
  'publish-string',
  'publish-numbers',
  'claim-array',
  'garbage',
  'jwe-shaped',
  'none',
];

/** How each token kind is judged: 401, or accepted with a claim (`undefined` = no publish). */
function judge(kind: TokenKind): { status: 401 } | { status: 'ok'; allows: Allows | undefined } {
  switch (kind) {
    case 'all':
    case 'namespaced':
      return { status: 'ok', allows: () => true };
    case 'listed':
      return { status: 'ok', allows: (t) => LISTED.includes(t) };
    case 'template':
      return {
        status: 'ok',
        allows: (t) =>
          TEMPLATE_MATCHES.has(t) ? true : TEMPLATE_MISSES.has(t) ? false : undefined,
      };
    case 'no-publish':
    case 'no-mercure':
    case 'null-publish':
      return { status: 'ok', allows: undefined };
    default:
      return { status: 401 };
  }
}

type Placement =
  | 'header'
  | 'query'
  | 'cookie-publish-origin'
  | 'cookie-cors-origin'
  | 'cookie-referer'
  | 'cookie-foreign-origin'
  | 'cookie-no-origin'
  | 'header-not-bearer';

const PLACEMENTS: Placement[] = [
  'header',
  'header',
  'header',
  'header',
  'header',
  'header',
  'query',
  'query',
  'cookie-publish-origin',
  'cookie-cors-origin',
  'cookie-referer',
  'cookie-foreign-origin',
  'cookie-no-origin',
  'header-not-bearer',
];

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

async function makeTokens(
  privateKey: KeyObject,
  otherKey: KeyObject,
  publicPem: string,
): Promise<Record<TokenKind, string>> {
  const rs = (payload: Record<string, unknown>, key = privateKey): Promise<string> =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256' }).setIssuedAt().sign(key);
  const hs = (payload: Record<string, unknown>, secret: string): Promise<string> =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
  const now = Math.floor(Date.now() / 1000);
  const listed = await rs({ mercure: { publish: LISTED } });
  const all = await rs({ mercure: { publish: ['*'], subscribe: ['*'] } });
  const [h, , s] = listed.split('.');
  return {
    all,
    listed,
    template: await rs({ mercure: { publish: ['/books/{id}'] } }),
    namespaced: await rs({ 'https://mercure.rocks/': { publish: ['*'] } }),
    'no-publish': await rs({ mercure: { subscribe: ['*'] } }),
    'no-mercure': await rs({ sub: 'someone' }),
    'null-publish': await rs({ mercure: { publish: null } }),
    'alg-none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ mercure: { publish: ['*'] } })}.`,
    // HS/RS confusion: the public key, which anyone has, used as an HMAC secret.
    'hs-with-public-key': await hs({ mercure: { publish: ['*'] } }, publicPem),
    // A token signed with the subscriber key must not publish.
    'subscriber-key': await hs({ mercure: { publish: ['*'] } }, SUBSCRIBER_SECRET),
    'bad-signature': await rs({ mercure: { publish: ['*'] } }, otherKey),
    // The listed token's signature over a payload granting everything.
    tampered: `${h}.${b64({ mercure: { publish: ['*'] } })}.${s}`,
    expired: await rs({ mercure: { publish: ['*'] }, exp: now - 3600 }),
    'not-yet-valid': await rs({ mercure: { publish: ['*'] }, nbf: now + 7 * 86_400 }),
    'claim-string': await rs({ mercure: 'publish everything' }),
    'publish-string': await rs({ mercure: { publish: '*' } }),
    'publish-numbers': await rs({ mercure: { publish: [1, 2] } }),
    'claim-array': await rs({ mercure: ['*'] }),
    garbage: 'not-a-jwt',
    'jwe-shaped': 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d',
    none: '',
  };
}

// ---- Body generators -----------------------------------------------------------------------

/** Strings that try to break out of their field, or are just unusual. */
const nasty = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom(
    '',
    ' ',
    '\n',
    '\r\n',
    '\r',
    '\0',
    '\t',
    'a\nevent: evil',
    'x\r\n\r\ndata: injected',
    '\n\nid: 666\ndata: forged\n\n',
    '#hash',
    'earliest',
    '%0D%0A',
    '%00',
    '\u2028',
    '\uFEFF',
    '\ud800',
    'half-\udfff',
    '\ud83d\ude00',
    'dup-1',
    'dup-2',
  ),
);
const topic = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOPICS) },
  { weight: 1, arbitrary: nasty },
);
/** Custom ids: fresh ones mostly, some reused (409s), and the one the engine keeps. */
const customId = fc.oneof(
  { weight: 4, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: fc.constantFrom('dup-1', 'dup-2', 'dup-3', 'earliest') },
  { weight: 1, arbitrary: nasty },
);
/** Usually a clean value, sometimes a nasty one. */
const mostly = <T>(clean: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: clean }, { weight: 1, arbitrary: nasty });
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const cleanText = fc.string({ maxLength: 10 }).filter((v) => !/[\0-\x1f\x7f]/.test(v));
const retry = fc.oneof(
  { weight: 3, arbitrary: fc.nat({ max: 100_000 }).map(String) },
  fc.constantFrom('0', '1000', '-1', '1.5', '1e3', ' 5', 'soon', '99999999999999999999', ''),
  fc.nat().map(String),
);

/** A form as name/value pairs (repeats allowed), in any order. */
const formFields = fc
  .tuple(
    fc.array(topic, { minLength: 1, maxLength: 3 }),
    fc.option(fc.oneof(nasty, fc.string({ maxLength: 30 })), { nil: undefined, freq: 6 }),
    fc.option(customId, { nil: undefined, freq: 2 }),
    fc.option(mostly(cleanText), { nil: undefined, freq: 2 }),
    fc.option(retry, { nil: undefined, freq: 2 }),
    fc.option(fc.constantFrom('on', '', 'false', '0'), { nil: undefined }),
    fc.array(fc.tuple(fc.constantFrom('extra', 'topics', 'Topic', 'data[]'), nasty), {
      maxLength: 2,
    }),
  )
  .map(([topics, data, id, type, r, priv, extra]) => {
    const pairs: Array<[string, string]> = topics.map((t) => ['topic', t]);
    if (data !== undefined) pairs.push(['data', data]);
    if (id !== undefined) pairs.push(['id', id]);
    if (type !== undefined) pairs.push(['type', type]);
    if (r !== undefined) pairs.push(['retry', r]);
    if (priv !== undefined) pairs.push(['private', priv]);
    pairs.push(...extra);
    return pairs;
  });

/** How a form is written: properly encoded, or by hand (raw %, +, & and =). */
const formBody = fc.oneof(
  { weight: 4, arbitrary: formFields.map((pairs) => new URLSearchParams(pairs).toString()) },
  {
    weight: 1,
    arbitrary: formFields.map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
);

const jsonValue = fc.oneof(
  nasty,
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }),
);
/** Usually a well-typed value, sometimes any JSON value. */
const typed = <T>(clean: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: clean }, { weight: 1, arbitrary: jsonValue });
const jsonUpdate = fc.oneof(
  fc.record(
    {
      topic: typed(topic),
      data: fc.oneof(nasty, jsonValue),
      id: typed(customId),
      type: typed(mostly(cleanText)),
      retry: typed(fc.oneof(fc.nat(), retry)),
      private: typed(fc.boolean()),
    },
    { requiredKeys: ['topic'] },
  ),
  fc.record(
    {
      topics: typed(fc.array(topic, { maxLength: 3 })),
      topic: typed(topic),
      data: fc.oneof(nasty, jsonValue),
      id: typed(customId),
      private: typed(fc.boolean()),
    },
    { requiredKeys: ['topics'] },
  ),
);
const jsonBody = fc.oneof(
  { weight: 3, arbitrary: jsonUpdate.map((u) => JSON.stringify(u)) },
  {
    weight: 2,
    arbitrary: fc.array(jsonUpdate, { maxLength: 4 }).map((us) => JSON.stringify(us)),
  },
  { weight: 1, arbitrary: jsonValue.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

const anyRequest = fc.record({
  // Mostly tokens that may publish, so that accepted updates (and what they put on the wire)
  // are fuzzed as much as refusals.
  token: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom<TokenKind>('all', 'all', 'listed', 'template') },
    { weight: 3, arbitrary: fc.constantFrom(...TOKEN_KINDS) },
  ),
  placement: fc.constantFrom(...PLACEMENTS),
  kind: fc.constantFrom(
    'form',
    'form',
    'form',
    'form',
    'json',
    'json',
    'json',
    'json',
    'json-to-form',
    'text',
  ),
  contentType: fc.constantFrom('plain', 'charset', 'upper'),
  form: formBody,
  json: jsonBody,
  huge: fc.constantFrom(false, false, false, false, false, false, false, true),
  declareLength: fc.boolean(),
});

/** Arrays of well-formed updates with colliding ids: an array is published whole or not at all. */
const arrayRequest = fc
  .array(
    fc.record({
      topic: fc.constantFrom('/books/1', '/chat/lobby'),
      data: fc.string({ maxLength: 8 }),
      id: fc.option(fc.constantFrom('dup-1', 'dup-2', 'dup-3', 'earliest'), { nil: undefined }),
    }),
    { minLength: 2, maxLength: 4 },
  )
  .map((updates) => ({
    token: 'all' as TokenKind,
    placement: 'header' as Placement,
    kind: 'json',
    contentType: 'plain',
    form: '',
    json: JSON.stringify(updates),
    huge: false,
    declareLength: true,
  }));

const request = fc.oneof(
  { weight: 4, arbitrary: anyRequest },
  { weight: 1, arbitrary: arrayRequest },
);

/** The raw fields of a form body, as the hub reads them (URLSearchParams, first value wins). */
function readForm(body: string): RawFields {
  const form = new URLSearchParams(body);
  return {
    topics: form.getAll('topic'),
    data: form.get('data') ?? undefined,
    id: form.get('id') ?? undefined,
    type: form.get('type') ?? undefined,
    retry: form.get('retry') ?? undefined,
    private: form.has('private') ? true : undefined,
  };
}

/** The raw fields of a JSON body, or a 400. */
function readJson(body: string): { fields: RawFields[]; array: boolean } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const array = Array.isArray(parsed);
  const items = array ? (parsed as unknown[]) : [parsed];
  const fields: RawFields[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      // Not an update at all: a 400 in its turn (the model checks items in order).
      fields.push({
        topics: undefined,
        data: '',
        id: undefined,
        type: undefined,
        retry: undefined,
        private: undefined,
      });
      continue;
    }
    const o = item as Record<string, unknown>;
    fields.push({
      topics: o.topics ?? o.topic,
      data: o.data,
      id: o.id,
      type: o.type,
      retry: o.retry,
      private: o.private,
    });
  }
  return { fields, array };
}

/** Data as an SSE client sees it: line ends normalized, a lone surrogate as U+FFFD (UTF-8). */
const onWire = (data: string): string =>
  data.replace(/\r\n|\r/g, '\n').replace(/\p{Cs}/gu, '\uFFFD');

export const publishApiTarget: FuzzTarget = {
  name: 'publish-api',
  summary:
    'random publish requests (forms, JSON, tokens, placements, sizes): the documented status, never 5xx, and exactly the accepted events on the wire',
  cost: 60,
  async setup(): Promise<FuzzSession> {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const hub: HubHandle = await startLocalHub([
      '--publisher-jwt-key',
      publicPem,
      '--publisher-jwt-alg',
      'RS256',
      '--subscriber-jwt-key',
      SUBSCRIBER_SECRET,
      '--max-body-bytes',
      String(MAX_BODY),
      '--max-topics',
      String(MAX_UPDATES),
      '--max-update-topics',
      String(MAX_UPDATE_TOPICS),
      '--publish-origins',
      'https://pub.example',
      '--cors-origins',
      'https://app.example',
      '--history-size',
      String(HISTORY),
      '--history-bytes',
      '1GB',
    ]);
    const tokens = await makeTokens(privateKey, other.privateKey, publicPem);
    const watcherToken = await new SignJWT({ mercure: { subscribe: ['*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SUBSCRIBER_SECRET));
    const watcher: Watcher = await watch(hub.url, watcherToken);
    // The hub's history as the watcher saw it (it sees every event, in the engine's order): ids
    // of the newest HISTORY events are taken, older ones were evicted and may be used again.
    const history: string[] = [];
    const statuses: Record<string, number> = {};
    let seen = 0;
    let sync = 0;
    /** Publishes a marker and waits for it; returns its id. */
    const publishMarker = async (): Promise<string> => {
      const marker = await send(`${hub.url}${HUB}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens.all}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ topic: '/fuzz/sync', data: `sync ${sync++}` }).toString(),
      });
      if (marker.status !== 200) {
        throw new Error(`the sync marker was refused: ${marker.status} ${marker.body}`);
      }
      await watcher.waitFor(marker.body);
      return marker.body;
    };
    /** Moves what the watcher received into the history model and forgets it. */
    const fold = (): void => {
      for (const event of watcher.events) history.push(event.id ?? '');
      if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
      watcher.events.length = 0;
    };
    // A run that failed may have left events on their way: the next run starts after a marker.
    let clean = true;

    const property = fc.asyncProperty(request, async (r) => {
      if (!clean) {
        await publishMarker();
        fold();
      }
      clean = false;
      // Build the request.
      const json = r.kind === 'json' || r.kind === 'json-to-form';
      let body = json ? r.json : r.kind === 'text' ? r.form : r.form;
      if (r.huge) body = `${body}&data=${'x'.repeat(MAX_BODY)}`;
      const path = r.kind === 'json' ? '/publish' : HUB;
      const base =
        r.kind === 'text'
          ? 'text/plain'
          : json
            ? 'application/json'
            : 'application/x-www-form-urlencoded';
      const contentType =
        r.contentType === 'charset'
          ? `${base}; charset=utf-8`
          : r.contentType === 'upper'
            ? base.toUpperCase()
            : base;
      const headers: Record<string, string> = { 'content-type': contentType };
      const token = tokens[r.token];
      let url = `${hub.url}${path}`;
      let auth = judge(r.token) as
        | { status: 401 | 403 }
        | { status: 'ok'; allows: Allows | undefined };
      if (r.token === 'none') {
        auth = { status: 401 };
      } else if (r.placement === 'header') {
        headers.authorization = `Bearer ${token}`;
      } else if (r.placement === 'header-not-bearer') {
        headers.authorization = `Token ${token}`;
        auth = { status: 401 };
      } else if (r.placement === 'query') {
        url += `?authorization=${encodeURIComponent(token)}`;
      } else {
        headers.cookie = `mercureAuthorization=${token}`;
        // Mercure's CSRF rule for cookies on a POST: only from an allowed origin.
        if (r.placement === 'cookie-publish-origin') headers.origin = 'https://pub.example';
        else if (r.placement === 'cookie-cors-origin') headers.origin = 'https://app.example';
        else if (r.placement === 'cookie-referer') headers.referer = 'https://pub.example/page';
        else {
          if (r.placement === 'cookie-foreign-origin') headers.origin = 'https://evil.example';
          auth = { status: 403 };
        }
      }
      const bytes = Buffer.from(body);
      if (!r.declareLength) headers['transfer-encoding'] = 'chunked';

      // What the model says.
      const parsed = json ? readJson(body) : { fields: [readForm(body)], array: false };
      const verdict = expectPublish({
        contentTypeOk: r.kind === 'json' || r.kind === 'form',
        auth,
        tooLarge: bytes.byteLength > MAX_BODY,
        body: parsed === undefined ? { status: 400 } : { ...parsed, json },
        retainedIds: new Set(history),
        maxUpdates: MAX_UPDATES,
        maxUpdateTopics: MAX_UPDATE_TOPICS,
      });

      // What the hub says.
      const before = watcher.events.length;
      const answer = await send(url, { method: 'POST', headers, body: bytes });
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      const fail = (why: string): never => {
        throw new Error(
          `${why}\nrequest: ${JSON.stringify({ ...r, url, headers, body })}\nexpected: ${JSON.stringify(verdict)}\nanswer: ${answer.status} ${answer.body}`,
        );
      };
      if (answer.status >= 500) fail('a 5xx');
      if (!verdict.statuses.includes(answer.status)) {
        fail(`expected ${verdict.statuses.join(' or ')}`);
      }
      if (answer.status !== 200) {
        if (
          !/^text\/plain/.test(String(answer.headers['content-type'])) ||
          answer.body.trim().length < 10
        ) {
          fail('an error without a plain-text reason');
        }
        if (answer.status === 401 && answer.headers['www-authenticate'] === undefined) {
          fail('a 401 without WWW-Authenticate');
        }
      }

      // The wire: exactly the accepted updates, then the sync marker.
      const accepted = answer.status === 200 ? verdict.events : [];
      let ids: string[] = [];
      if (answer.status === 200) {
        ids =
          path === HUB
            ? [answer.body]
            : ((JSON.parse(answer.body) as { ids?: string[]; id?: string }).ids ?? [
                (JSON.parse(answer.body) as { id: string }).id,
              ]);
        if (ids.length !== accepted.length) fail('the answer has the wrong number of ids');
        accepted.forEach((event, i) => {
          if (event.id !== undefined && ids[i] !== event.id) {
            fail('the answer does not carry the custom id');
          }
        });
      }
      await publishMarker();
      const arrived = watcher.events.slice(before, watcher.events.length - 1);
      const want = accepted.map((event, i) => ({
        id: ids[i],
        event: event.type,
        data: onWire(event.data),
      }));
      const got = arrived.map((e) => ({ id: e.id, event: e.event ?? 'message', data: e.data }));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        fail(`the wire carried ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      }
      seen += got.length;
      fold();
      clean = true;
      return true;
    });
    return {
      property: property as fc.IRawProperty<unknown>,
      stats: () => ({
        ...Object.fromEntries(Object.entries(statuses).map(([s, n]) => [`status ${s}`, n])),
        events: seen,
      }),
      async teardown() {
        watcher.close();
        await hub.close();
      },
    };
  },
};
