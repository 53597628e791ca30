import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HeraldServer } from '../../src/server/app.js';
import { waitFor } from '../helpers/async.js';
import {
  assertErrorResponse,
  assertErrorResult,
  HUB,
  http,
  makeToken,
  publish,
  publisherToken,
  SECRET,
  startHub,
  subscribe,
  subscribeUrl,
  unsignedToken,
} from '../helpers/hub-server.js';

// Every error status `herald serve` answers, end to end over real sockets: the status, the
// headers that go with it (WWW-Authenticate, Retry-After, Allow) and a body that is a reason a
// person can act on.

const servers: HeraldServer[] = [];
after(() => Promise.all(servers.map((s) => s.close(1000))));

async function hub(flags: string[], options?: { key?: boolean }): Promise<HeraldServer> {
  const server = await startHub(flags, options);
  servers.push(server);
  return server;
}

/** POSTs a raw form body (no URL encoding by the test: `%0A` stays what the client wrote). */
function postForm(base: string, body: string, token: string): Promise<Response> {
  return fetch(`${base}${HUB}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
  });
}

function postJson(base: string, body: string, token: string): Promise<Response> {
  return fetch(`${base}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  });
}

describe('400 Bad Request', () => {
  let server: HeraldServer;
  let token: string;
  before(async () => {
    server = await hub(['--anonymous', '--max-topics', '3']);
    token = await publisherToken();
  });

  test('subscribe without a topic', async () => {
    const res = await fetch(`${server.url}${HUB}`);
    await assertErrorResponse(res, 400, /missing "topic"/);
    const empty = await fetch(`${server.url}${HUB}?topic=`);
    await assertErrorResponse(empty, 400, /"topic" query parameter is empty/);
  });

  test('subscribe to more topics than --max-topics', async () => {
    const res = await fetch(subscribeUrl(server.url, ['/a', '/b', '/c', '/d']));
    await assertErrorResponse(res, 400, /too many topic selectors: 4, the limit is 3/);
    // At the limit it is fine.
    const ok = await fetch(subscribeUrl(server.url, ['/a', '/b', '/c']), { method: 'HEAD' });
    assert.equal(ok.status, 200);
  });

  test('lastEventID or Last-Event-ID with control characters', async () => {
    const query = await fetch(subscribeUrl(server.url, ['/a'], { lastEventID: 'a\u0001b' }));
    await assertErrorResponse(query, 400, /control characters/);
    const newline = await fetch(subscribeUrl(server.url, ['/a'], { lastEventID: 'a\nb' }));
    await assertErrorResponse(newline, 400, /control characters/);
    // A tab is the one control character an HTTP header value can carry.
    const header = await http(subscribeUrl(server.url, ['/a']), {
      headers: { 'last-event-id': 'a\tb' },
    });
    assertErrorResult(header, 400, /Last-Event-ID/);
    // An empty header does not count (the query is used then), so it cannot hide a bad query.
    const emptyHeader = await http(subscribeUrl(server.url, ['/a'], { lastEventID: 'a\u0001b' }), {
      headers: { 'last-event-id': '' },
    });
    assertErrorResult(emptyHeader, 400, /control characters/);
  });

  test('publish without a topic', async () => {
    await assertErrorResponse(await postForm(server.url, 'data=x', token), 400, /missing "topic"/);
    await assertErrorResponse(
      await postForm(server.url, 'topic=&data=x', token),
      400,
      /"topic" must be a non-empty string/,
    );
  });

  test('publish with a bad retry', async () => {
    for (const retry of ['abc', '-1', '1.5', '1e3', '', ' 5']) {
      const res = await postForm(
        server.url,
        `topic=/a&data=x&retry=${encodeURIComponent(retry)}`,
        token,
      );
      await assertErrorResponse(res, 400, /"retry" must be a non-negative integer/);
    }
  });

  test('publish with CR, LF or NUL in id or type (form-encoded as %0D, %0A, %00)', async () => {
    for (const bad of ['%0A', '%0D', '%0D%0A', '%00']) {
      await assertErrorResponse(
        await postForm(server.url, `topic=/a&data=x&id=a${bad}b`, token),
        400,
        /"id" must not contain CR, LF, NUL/,
      );
      await assertErrorResponse(
        await postForm(server.url, `topic=/a&data=x&type=a${bad}b`, token),
        400,
        /"type" must be a string without CR, LF, NUL/,
      );
    }
    // The same over JSON.
    await assertErrorResponse(
      await postJson(server.url, JSON.stringify({ topic: '/a', id: 'x\ny' }), token),
      400,
      /"id" must not contain/,
    );
  });

  test('publish with an id starting with #', async () => {
    await assertErrorResponse(
      await postForm(server.url, `topic=/a&data=x&id=${encodeURIComponent('#1')}`, token),
      400,
      /must not start with "#"/,
    );
  });

  test('JSON publish with a malformed body', async () => {
    await assertErrorResponse(
      await postJson(server.url, '{"topic": "/a", ', token),
      400,
      /not valid JSON/,
    );
    await assertErrorResponse(await postJson(server.url, '[]', token), 400, /empty/);
    await assertErrorResponse(await postJson(server.url, '"x"', token), 400, /JSON object/);
    await assertErrorResponse(
      await postJson(
        server.url,
        JSON.stringify([{ topic: '/a' }, { topic: '/b', retry: 'x' }]),
        token,
      ),
      400,
      /update #1: "retry"/,
    );
    await assertErrorResponse(
      await postJson(server.url, JSON.stringify({ topic: '/a', private: 'yes' }), token),
      400,
      /"private" must be true or false/,
    );
    await assertErrorResponse(
      await postJson(
        server.url,
        JSON.stringify(['/a', '/b', '/c', '/d'].map((t) => ({ topic: t }))),
        token,
      ),
      400,
      /too many updates/,
    );
  });

  test('a valid JSON publish is answered with its id (the 400s above are not the only path)', async () => {
    const res = await postJson(server.url, JSON.stringify({ topic: '/a', data: { n: 1 } }), token);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { id: string };
    assert.equal(typeof body.id, 'string');
    const many = await postJson(
      server.url,
      JSON.stringify([{ topic: '/a' }, { topics: ['/b', '/c'], id: 'json-1' }]),
      token,
    );
    assert.equal(many.status, 200);
    const ids = ((await many.json()) as { ids: string[] }).ids;
    assert.equal(ids.length, 2);
    assert.equal(ids[1], 'json-1');
  });
});

describe('401 Unauthorized', () => {
  let server: HeraldServer;
  before(async () => {
    server = await hub([]); // no --anonymous: subscribers need a token too
  });

  const now = (): number => Math.floor(Date.now() / 1000);

  /** Bad tokens, each with what its reason says. */
  async function badTokens(): Promise<Array<{ name: string; token: string; reason: RegExp }>> {
    return [
      {
        name: 'invalid signature',
        token: await makeToken({ publish: ['*'], subscribe: ['*'] }, { secret: `${SECRET}-other` }),
        reason: /signature does not verify/,
      },
      {
        name: 'expired',
        token: await makeToken({ publish: ['*'], subscribe: ['*'] }, { exp: now() - 60 }),
        reason: /token expired at/,
      },
      {
        name: 'alg none',
        token: unsignedToken({ publish: ['*'], subscribe: ['*'] }),
        reason: /alg "none"/,
      },
      {
        name: 'wrong alg (HS384 with the HS256 key)',
        token: await makeToken({ publish: ['*'], subscribe: ['*'] }, { alg: 'HS384' }),
        reason: /signed with HS384 but the hub expects HS256/,
      },
      { name: 'malformed', token: 'not.a-jwt', reason: /malformed token/ },
      { name: 'garbage in three parts', token: 'a.b.c', reason: /malformed token/ },
    ];
  }

  test('publish without a token', async () => {
    const res = await publish(server.url, { topic: '/a', data: 'x' }, undefined);
    await assertErrorResponse(res, 401, /publishing needs a JWT/);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="herald"');
  });

  test('subscribe without a token (and no --anonymous)', async () => {
    const res = await fetch(subscribeUrl(server.url, ['/a']));
    await assertErrorResponse(res, 401, /subscribing needs a JWT.*--anonymous/);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="herald"');
  });

  test('bad tokens are refused for publishing and subscribing, with invalid_token', async () => {
    for (const { name, token, reason } of await badTokens()) {
      const pub = await publish(server.url, { topic: '/a', data: 'x' }, token);
      await assertErrorResponse(pub, 401, reason);
      assert.match(
        pub.headers.get('www-authenticate') ?? '',
        /^Bearer realm="herald", error="invalid_token"/,
        name,
      );

      const sub = await fetch(subscribeUrl(server.url, ['/a']), {
        headers: { authorization: `Bearer ${token}` },
      });
      await assertErrorResponse(sub, 401, reason);
      assert.match(sub.headers.get('www-authenticate') ?? '', /error="invalid_token"/, name);

      const json = await postJson(server.url, JSON.stringify({ topic: '/a' }), token);
      await assertErrorResponse(json, 401, reason);
    }
  });

  test('an Authorization header that is not Bearer', async () => {
    const res = await fetch(`${server.url}${HUB}`, {
      method: 'POST',
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
      body: new URLSearchParams({ topic: '/a' }),
    });
    await assertErrorResponse(res, 401, /must be "Bearer <token>"/);
    assert.ok(res.headers.get('www-authenticate'));
  });

  test('without a publisher key every publish is refused, saying how to configure one', async () => {
    const keyless = await hub(['--anonymous'], { key: false });
    const res = await publish(keyless.url, { topic: '/a', data: 'x' }, await publisherToken());
    await assertErrorResponse(res, 401, /no publisher key configured.*--jwt-key/);
    assert.ok(res.headers.get('www-authenticate'));
  });
});

describe('403 Forbidden', () => {
  let server: HeraldServer;
  before(async () => {
    server = await hub(['--anonymous']);
  });

  test('a valid token whose publish selectors do not match the topic', async () => {
    const token = await publisherToken(['/books/{id}']);
    await assertErrorResponse(
      await publish(server.url, { topic: '/authors/1', data: 'x' }, token),
      403,
      /mercure.publish selectors do not allow topic "\/authors\/1"/,
    );
    // Every topic of the update must be allowed, not just one.
    await assertErrorResponse(
      await publish(server.url, { topic: ['/books/1', '/authors/1'], data: 'x' }, token),
      403,
      /do not allow topic "\/authors\/1"/,
    );
    assert.equal((await publish(server.url, { topic: '/books/1', data: 'x' }, token)).status, 200);
  });

  test('a topic inside /.well-known/mercure', async () => {
    const token = await publisherToken(['*']);
    for (const topic of [
      '/.well-known/mercure/subscriptions/x/y',
      'https://example.com/.well-known/mercure/subscriptions',
    ]) {
      await assertErrorResponse(
        await publish(server.url, { topic, data: 'x' }, token),
        403,
        /reserves for its own subscription events/,
      );
    }
  });

  test('a token without a publish claim', async () => {
    for (const token of [
      await makeToken({ subscribe: ['*'] }),
      await makeToken({}, { noMercureClaim: true }),
    ]) {
      await assertErrorResponse(
        await publish(server.url, { topic: '/a', data: 'x' }, token),
        403,
        /no mercure.publish claim/,
      );
    }
  });
});

describe('404, 405, 409, 413, 415', () => {
  let server: HeraldServer;
  let token: string;
  before(async () => {
    server = await hub(['--anonymous', '--max-body-bytes', '1000']);
    token = await publisherToken();
  });

  test('404 for an unknown path, and for the subscriptions API when it is off', async () => {
    for (const path of [
      '/nope',
      '/.well-known/mercure/x',
      `${HUB}/subscriptions`,
      `${HUB}/subscriptions/a/b`,
    ]) {
      await assertErrorResponse(await fetch(`${server.url}${path}`), 404, /nothing at GET/);
    }
    await assertErrorResponse(
      await fetch(`${server.url}/healthz`, { method: 'POST' }),
      404,
      /nothing at POST \/healthz/,
    );
    // No dashboard without --dev / --dashboard.
    await assertErrorResponse(await fetch(`${server.url}/`), 404, /subscribe with GET/);
  });

  test('405 for another method on the hub and on /publish, with Allow', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${server.url}${HUB}?topic=/a`, { method });
      await assertErrorResponse(res, 405, new RegExp(`method ${method} is not allowed here`));
      assert.equal(res.headers.get('allow'), 'GET, HEAD, POST');
    }
    const res = await fetch(`${server.url}/publish`);
    await assertErrorResponse(res, 405, /use POST/);
    assert.equal(res.headers.get('allow'), 'POST');
  });

  test('409 for a custom id already in history', async () => {
    const first = await publish(server.url, { topic: '/a', data: 'x', id: 'dup-1' }, token);
    assert.equal(first.status, 200);
    assert.equal(await first.text(), 'dup-1');
    await assertErrorResponse(
      await publish(server.url, { topic: '/b', data: 'y', id: 'dup-1' }, token),
      409,
      /id "dup-1" is still in history/,
    );
  });

  test('413 for a body over --max-body-bytes, declared or streamed', async () => {
    const data = 'x'.repeat(2000);
    // With a Content-Length: refused before reading.
    await assertErrorResponse(
      await publish(server.url, { topic: '/a', data }, token),
      413,
      /request body too large: the limit is 1000 bytes \(--max-body-bytes\)/,
    );
    // Chunked (no Content-Length): refused once the limit is crossed.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(`topic=/a&data=${data}`);
        for (let i = 0; i < bytes.length; i += 256) controller.enqueue(bytes.slice(i, i + 256));
        controller.close();
      },
    });
    const streamed = await fetch(`${server.url}${HUB}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body,
      duplex: 'half',
    } as RequestInit);
    // The unread rest of the body is not drained on a kept-alive connection: it is closed.
    assert.equal(streamed.headers.get('connection'), 'close');
    await assertErrorResponse(streamed, 413, /request body too large/);
    await assertErrorResponse(
      await postJson(server.url, JSON.stringify({ topic: '/a', data }), token),
      413,
      /too large/,
    );
    // Just under the limit is fine.
    assert.equal(
      (await publish(server.url, { topic: '/a', data: 'x'.repeat(900) }, token)).status,
      200,
    );
  });

  test('415 for a publish with the wrong content type', async () => {
    const headers = { authorization: `Bearer ${token}` };
    await assertErrorResponse(
      await fetch(`${server.url}${HUB}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'text/plain' },
        body: 'topic=/a',
      }),
      415,
      /unsupported Content-Type "text\/plain".*x-www-form-urlencoded/,
    );
    await assertErrorResponse(
      await fetch(`${server.url}${HUB}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: '{"topic":"/a"}',
      }),
      415,
      /POST JSON to \/publish/,
    );
    await assertErrorResponse(
      await fetch(`${server.url}/publish`, { method: 'POST', headers, body: formOfA() }),
      415,
      /unsupported Content-Type "application\/x-www-form-urlencoded".*JSON/,
    );
    // No content type at all.
    assertErrorResult(
      await http(`${server.url}${HUB}`, { method: 'POST', headers, body: 'topic=/a' }),
      415,
      /unsupported Content-Type ""/,
    );
  });
});

function formOfA(): URLSearchParams {
  return new URLSearchParams({ topic: '/a', data: 'x' });
}

describe('429 Too Many Requests', () => {
  test('per-IP connection limit (--max-connections-per-ip 2), with Retry-After', async () => {
    const server = await hub(['--anonymous', '--max-connections-per-ip', '2']);
    const a = await subscribe(server.url, ['/a']);
    const b = await subscribe(server.url, ['/b']);
    const third = await fetch(subscribeUrl(server.url, ['/c']));
    await assertErrorResponse(
      third,
      429,
      /too many connections from .* \(limit 2, --max-connections-per-ip\)/,
    );
    assert.match(third.headers.get('retry-after') ?? '', /^\d+$/);

    // A closed connection gives its slot back.
    a.req.destroy();
    await waitFor(
      () => server.hub.stats().subscribers === 1,
      'the hub to drop the closed subscriber',
    );
    const again = await subscribe(server.url, ['/c']);
    again.req.destroy();
    b.req.destroy();
  });

  test('global connection limit (--max-connections 1)', async () => {
    const server = await hub(['--anonymous', '--max-connections', '1']);
    const a = await subscribe(server.url, ['/a']);
    const second = await fetch(subscribeUrl(server.url, ['/b']));
    await assertErrorResponse(second, 429, /connection limit \(1, --max-connections\)/);
    assert.ok(second.headers.get('retry-after'));
    a.req.destroy();
  });

  test('publish rate per token (--publish-rate 1), with Retry-After', async () => {
    const server = await hub(['--publish-rate', '1']);
    const token = await publisherToken();
    // Five at once: the bucket holds one, so at least one is refused (all five passing would
    // take four seconds of refill).
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        publish(server.url, { topic: '/a', data: String(i) }, token),
      ),
    );
    const refused = answers.filter((r) => r.status === 429);
    assert.ok(
      answers.some((r) => r.status === 200),
      'the first publish of the burst passes',
    );
    assert.ok(refused.length > 0, 'a publish over the rate is refused');
    for (const res of refused) {
      await assertErrorResponse(
        res,
        429,
        /publish rate limit reached \(1\/s per publisher, --publish-rate\)/,
      );
      assert.match(res.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    }
    for (const res of answers) if (res.status === 200) await res.text();
    // The bucket is per token: another publisher is not slowed down by this one.
    const other = await publish(
      server.url,
      { topic: '/a', data: 'other' },
      await publisherToken(['/a']),
    );
    assert.equal(other.status, 200);
  });
});

describe('successes that share the error paths', () => {
  test('HEAD subscribe answers the headers only; GET streams', async () => {
    const server = await hub(['--anonymous']);
    const head = await http(subscribeUrl(server.url, ['/a']), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.match(String(head.headers['content-type']), /^text\/event-stream/);
    assert.equal(head.body, '');
    assert.equal(server.hub.stats().subscribers, 0, 'HEAD does not subscribe');
    const res = await fetch(subscribeUrl(server.url, ['/a']), { method: 'HEAD' });
    assert.equal(res.status, 200);
  });
});
