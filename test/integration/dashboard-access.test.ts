import assert from 'node:assert/strict';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { HeraldServer } from '../../src/server/app.js';
import type { DashboardSnapshot } from '../../src/server/dashboard/stats.js';
import { withTimeout } from '../helpers/async.js';
import {
  assertError,
  http,
  makeToken,
  SECRET,
  startHub,
  subscribe,
  subscribeUrl,
} from '../helpers/hub-server.js';
import { type OpenedStream, openStream } from '../helpers/sse.js';

// The dashboard outside dev mode (`--dashboard`): who may open the page and its stats stream
// (a token with the dashboard claim, or Basic credentials), what everyone else is told, that
// every viewer shares one snapshot per interval, and that viewers count in the connection
// limits like subscribers.

/** A token with `claims` at the top level (beside an empty `mercure` claim). */
function token(claims: Record<string, unknown>, exp?: number): Promise<string> {
  const jwt = new SignJWT({ mercure: {}, ...claims }).setProtectedHeader({ alg: 'HS256' });
  if (exp !== undefined) jwt.setExpirationTime(exp);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

const basic = (credentials: string): string =>
  `Basic ${Buffer.from(credentials).toString('base64')}`;

/** Opens `/dashboard/stats`; the caller ends it. */
function openStats(
  server: HeraldServer,
  headers: Record<string, string> = {},
  query = '',
): Promise<OpenedStream> {
  return openStream(`${server.url}/dashboard/stats${query}`, headers);
}

/** GETs `url` from another client address (127.0.0.x); resolves with the response head. */
function getFrom(
  url: string,
  localAddress: string,
  headers: Record<string, string>,
): Promise<IncomingMessage> {
  return withTimeout(
    new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpGet(url, { agent: false, localAddress, headers }, resolve);
      req.on('error', reject);
    }),
    `a response for ${localAddress}`,
  );
}

/** The snapshots a viewer received. */
const snapshots = (stream: OpenedStream): DashboardSnapshot[] =>
  stream.reader.events.items
    .filter((e) => e.event === 'stats')
    .map((e) => JSON.parse(e.data) as DashboardSnapshot);

describe('a token with the dashboard claim', () => {
  let server: HeraldServer;
  let admin: string;
  before(async () => {
    server = await startHub(['--dashboard', '--anonymous']);
    admin = await token({ herald: { dashboard: true } });
  });
  after(() => server.close(1000));

  test('opens the page from the usual token sources; others get 401 or 403 with a reason', async () => {
    for (const headers of [
      { authorization: `Bearer ${admin}` },
      { cookie: `mercureAuthorization=${admin}` },
    ]) {
      const page = await http(`${server.url}/`, { headers });
      assert.equal(page.status, 200, page.body);
      assert.match(page.body, /<title>Herald/);
      assert.equal(page.headers['cache-control'], 'no-store');
    }
    const byQuery = await http(`${server.url}/?authorization=${admin}`);
    assert.equal(byQuery.status, 200);
    // The page carries no token of its own outside dev mode.
    assert.match(byQuery.body, /"publisherToken":""/);

    const none = await http(`${server.url}/`);
    assertError(
      { ...none, contentType: none.headers['content-type'] },
      401,
      /needs a JWT with the claim \{"herald":\{"dashboard":true\}\}/,
    );
    assert.match(String(none.headers['www-authenticate']), /^Bearer realm="herald"/);

    for (const claims of [
      { mercure: { subscribe: ['*'], publish: ['*'] } },
      { herald: { dashboard: 'yes' } },
      { herald: true },
      { mercure: { dashboard: true } },
    ]) {
      const res = await http(`${server.url}/`, {
        headers: { authorization: `Bearer ${await token(claims)}` },
      });
      assertError(
        { ...res, contentType: res.headers['content-type'] },
        403,
        /needs the claim \{"herald":\{"dashboard":true\}\}/,
      );
    }
    const forged = await makeToken({ subscribe: ['*'] }, { secret: `${SECRET}!` });
    const bad = await http(`${server.url}/`, { headers: { authorization: `Bearer ${forged}` } });
    assertError({ ...bad, contentType: bad.headers['content-type'] }, 401, /signature/);
    const expired = await token(
      { herald: { dashboard: true } },
      Math.floor(Date.now() / 1000) - 60,
    );
    const old = await http(`${server.url}/`, { headers: { authorization: `Bearer ${expired}` } });
    assertError({ ...old, contentType: old.headers['content-type'] }, 401, /expired/);
  });

  test('opens the stats stream; without it the stream is refused', async () => {
    const anonymous = await http(`${server.url}/dashboard/stats`);
    assertError({ ...anonymous, contentType: anonymous.headers['content-type'] }, 401, /claim/);
    const subscriber = await http(`${server.url}/dashboard/stats`, {
      headers: { authorization: `Bearer ${await makeToken({ subscribe: ['*'] })}` },
    });
    assertError({ ...subscriber, contentType: subscriber.headers['content-type'] }, 403, /claim/);

    const viewer = await openStats(server, {}, `?authorization=${admin}`);
    assert.equal(viewer.res.statusCode, 200);
    await viewer.reader.events.count(1, 'the first snapshot');
    const [first] = snapshots(viewer);
    assert.equal(typeof first!.tick, 'number');
    assert.ok(first!.viewers >= 1);
    viewer.req.destroy();
  });

  test('a stream ends when its token expires', async () => {
    // Valid for one to two seconds (exp is in whole seconds: `+ 1` could be a millisecond
    // away, and the token refused before the test opens the stream), then closed at its exp.
    const shortLived = await token(
      { herald: { dashboard: true } },
      Math.floor(Date.now() / 1000) + 2,
    );
    const viewer = await openStats(server, { authorization: `Bearer ${shortLived}` });
    assert.equal(viewer.res.statusCode, 200);
    await viewer.reader.end('the stream to end at the token’s exp', 10_000);
  });

  test('every viewer gets the same snapshot per interval, computed once for all', async () => {
    const viewers = await Promise.all(
      Array.from({ length: 6 }, () => openStats(server, { authorization: `Bearer ${admin}` })),
    );
    const member = await subscribe(server.url, ['/dash/a', '/dash/{b}']);
    for (const v of viewers) {
      await v.reader.events.until(
        () => snapshots(v).some((s) => s.selectors.some((x) => x.selector === '/dash/{b}')),
        'a snapshot with the new subscription',
      );
    }
    const seen = new Map<number, string>();
    let events = 0;
    for (const v of viewers) {
      for (const e of v.reader.events.items) {
        events++;
        const { tick } = JSON.parse(e.data) as DashboardSnapshot;
        const before = seen.get(tick);
        if (before === undefined) seen.set(tick, e.data);
        else assert.equal(e.data, before, `tick ${tick}: every viewer got the same bytes`);
      }
    }
    // One computation per interval for all six, not one per viewer: fewer distinct snapshots
    // than events delivered.
    assert.ok(seen.size < events, `${seen.size} snapshots for ${events} events`);
    const last = snapshots(viewers[0]!).at(-1)!;
    assert.ok(last.viewers >= 6);
    assert.ok(last.connections >= 7, 'viewers count as connections');
    for (const v of viewers) v.req.destroy();
    member.req.destroy();
  });
});

describe('Basic credentials (--dashboard-credentials)', () => {
  let server: HeraldServer;
  before(async () => {
    server = await startHub(['--dashboard', '--dashboard-credentials', 'ops:correct horse']);
  });
  after(() => server.close(1000));

  test('open the page and the stream; wrong ones get 401 with a Basic challenge', async () => {
    const page = await http(`${server.url}/`, {
      headers: { authorization: basic('ops:correct horse') },
    });
    assert.equal(page.status, 200);
    const viewer = await openStats(server, { authorization: basic('ops:correct horse') });
    assert.equal(viewer.res.statusCode, 200);
    await viewer.reader.events.count(1, 'a snapshot');
    viewer.req.destroy();

    for (const authorization of [basic('ops:wrong'), basic('other:correct horse'), basic('')]) {
      const res = await http(`${server.url}/`, { headers: { authorization } });
      assertError({ ...res, contentType: res.headers['content-type'] }, 401, /wrong dashboard/);
      assert.match(String(res.headers['www-authenticate']), /Basic realm="herald dashboard"/);
    }
    const none = await http(`${server.url}/dashboard/stats`);
    assertError({ ...none, contentType: none.headers['content-type'] }, 401, /user and password/);
    assert.match(String(none.headers['www-authenticate']), /Basic realm/);
    // A token with the claim works as well.
    const admin = await token({ herald: { dashboard: true } });
    const byToken = await http(`${server.url}/`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(byToken.status, 200);
  });
});

describe('viewers count in the connection limits', () => {
  let server: HeraldServer;
  let admin: string;
  before(async () => {
    server = await startHub([
      '--dashboard',
      '--anonymous',
      '--max-connections-per-ip',
      '2',
      '--max-connections',
      '3',
    ]);
    admin = await token({ herald: { dashboard: true } });
  });
  after(() => server.close(1000));

  test('per address and in all; a slot comes back when a viewer leaves', async () => {
    const auth = { authorization: `Bearer ${admin}` };
    const a = await openStats(server, auth);
    const b = await openStats(server, auth);
    assert.equal(a.res.statusCode, 200);
    assert.equal(b.res.statusCode, 200);
    const third = await http(`${server.url}/dashboard/stats`, { headers: auth });
    assertError(
      { ...third, contentType: third.headers['content-type'] },
      429,
      /--max-connections-per-ip/,
    );
    assert.ok(third.headers['retry-after']);
    // A subscriber from the same address shares the allowance.
    const sub = await http(subscribeUrl(server.url, ['/x']));
    assert.equal(sub.status, 429);

    a.req.destroy();
    await a.reader.end();
    const again = await withTimeout(
      (async () => {
        for (;;) {
          const c = await openStats(server, auth);
          if (c.res.statusCode === 200) return c;
          c.req.destroy();
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      'the slot to come back',
    );
    // The global limit (3) counts viewers too: one more from another address is the last.
    const other = await getFrom(`${server.url}/dashboard/stats`, '127.0.0.2', auth);
    assert.equal(other.statusCode, 200);
    const over = await getFrom(`${server.url}/dashboard/stats`, '127.0.0.3', auth);
    assert.equal(over.statusCode, 429);
    const reason = await new Promise<string>((resolve) => {
      let body = '';
      over.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      over.on('end', () => resolve(body));
    });
    assert.match(reason, /connection limit \(3, --max-connections\)/);
    for (const s of [b, again]) s.req.destroy();
    other.destroy();
  });
});

test('shutting the hub down ends every viewer at once', async () => {
  const server = await startHub(['--dashboard', '--dashboard-credentials', 'ops:pw']);
  const viewers = await Promise.all(
    [1, 2, 3].map(() => openStats(server, { authorization: basic('ops:pw') })),
  );
  for (const v of viewers) await v.reader.events.count(1, 'a snapshot');
  // A grace far longer than the wait below: the streams must end by themselves, not be cut
  // when it runs out.
  const closed = server.close(60_000);
  for (const v of viewers) await v.reader.end('the viewer to end');
  await closed;
});
