import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HeraldServer } from '../../src/server/app.js';
import {
  assertErrorResult,
  HUB,
  http,
  publisherToken,
  startHub,
  subscribe,
  subscribeUrl,
} from '../helpers/hub-server.js';

// CORS as browsers see it: preflights from allowed and foreign origins, `*` without
// credentials, and the CORS headers on event streams, publishes and error answers.

const APP = 'http://app.test';
const OTHER_APP = 'https://other.app.test:8443';
const FOREIGN = 'http://evil.test';

function preflight(base: string, origin: string | undefined, path = `${HUB}?topic=/a`) {
  return http(`${base}${path}`, {
    method: 'OPTIONS',
    headers: {
      ...(origin === undefined ? {} : { origin }),
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'last-event-id, authorization',
    },
  });
}

/** The header's comma list, lower-cased. */
function list(value: string | string[] | undefined): string[] {
  return String(value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

describe('an allowlist of origins (credentials allowed)', () => {
  let server: HeraldServer;
  before(async () => {
    server = await startHub(['--anonymous', '--cors-origins', `${APP},${OTHER_APP}`]);
  });
  after(() => server.close(1000));

  test('a preflight from an allowed origin: 204, that origin, credentials, the needed headers', async () => {
    for (const origin of [APP, OTHER_APP]) {
      const res = await preflight(server.url, origin);
      assert.equal(res.status, 204);
      assert.equal(res.body, '');
      assert.equal(res.headers['access-control-allow-origin'], origin);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      const allowed = list(res.headers['access-control-allow-headers']);
      for (const name of ['last-event-id', 'authorization', 'cache-control', 'content-type']) {
        assert.ok(allowed.includes(name), `${name} in ${allowed.join(', ')}`);
      }
      const methods = list(res.headers['access-control-allow-methods']);
      for (const method of ['get', 'post']) assert.ok(methods.includes(method));
      assert.match(String(res.headers.vary), /Origin/);
    }
    // The JSON endpoint is preflighted too.
    const json = await preflight(server.url, APP, '/publish');
    assert.equal(json.status, 204);
    assert.equal(json.headers['access-control-allow-origin'], APP);
  });

  test('a preflight from a foreign origin: 403 with a reason, no origin reflected', async () => {
    const res = await preflight(server.url, FOREIGN);
    assertErrorResult(
      res,
      403,
      /origin http:\/\/evil.test is not allowed to call this hub; add it with --cors-origins/,
    );
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    // An origin that only looks like an allowed one is foreign too.
    for (const lookalike of [
      'http://app.test.evil.test',
      'https://app.test',
      'http://app.test:81',
    ]) {
      const r = await preflight(server.url, lookalike);
      assert.equal(r.status, 403, lookalike);
      assert.equal(r.headers['access-control-allow-origin'], undefined, lookalike);
    }
  });

  test('an event stream opened from an allowed origin carries the CORS headers', async () => {
    const stream = await subscribe(server.url, ['/cors'], { headers: { origin: APP } });
    assert.equal(stream.res.headers['access-control-allow-origin'], APP);
    assert.equal(stream.res.headers['access-control-allow-credentials'], 'true');
    assert.ok(list(stream.res.headers['access-control-expose-headers']).includes('last-event-id'));
    assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
    stream.req.destroy();
  });

  test('an event stream opened from a foreign origin gets no CORS headers', async () => {
    const stream = await subscribe(server.url, ['/cors'], { headers: { origin: FOREIGN } });
    assert.equal(stream.res.headers['access-control-allow-origin'], undefined);
    assert.equal(stream.res.headers['access-control-allow-credentials'], undefined);
    stream.req.destroy();
  });

  test('publish answers and error answers carry the CORS headers, so a page can read them', async () => {
    const token = await publisherToken();
    const ok = await http(`${server.url}${HUB}`, {
      method: 'POST',
      headers: {
        origin: APP,
        authorization: `Bearer ${token}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'topic=/cors&data=x',
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], APP);

    const bad = await http(`${server.url}${HUB}`, { headers: { origin: APP } });
    assertErrorResult(bad, 400, /missing "topic"/);
    assert.equal(bad.headers['access-control-allow-origin'], APP);
    assert.equal(bad.headers['access-control-allow-credentials'], 'true');

    const foreign = await http(`${server.url}${HUB}`, { headers: { origin: FOREIGN } });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.headers['access-control-allow-origin'], undefined);
  });
});

describe('--cors-origins *', () => {
  let server: HeraldServer;
  before(async () => {
    server = await startHub(['--anonymous', '--cors-origins', '*']);
  });
  after(() => server.close(1000));

  test('a preflight from any origin gets * and no credentials', async () => {
    for (const origin of [APP, FOREIGN]) {
      const res = await preflight(server.url, origin);
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
      assert.ok(list(res.headers['access-control-allow-headers']).includes('last-event-id'));
    }
  });

  test('event streams get * without credentials', async () => {
    const stream = await subscribe(server.url, ['/star'], { headers: { origin: FOREIGN } });
    assert.equal(stream.res.headers['access-control-allow-origin'], '*');
    assert.equal(stream.res.headers['access-control-allow-credentials'], undefined);
    stream.req.destroy();
  });

  test('* does not let cookies publish from any origin (CSRF)', async () => {
    const token = await publisherToken();
    const res = await http(`${server.url}${HUB}`, {
      method: 'POST',
      headers: {
        origin: FOREIGN,
        cookie: `mercureAuthorization=${token}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'topic=/a&data=x',
    });
    assertErrorResult(res, 403, /CSRF/);
  });
});

describe('no CORS origins configured', () => {
  test('every preflight is refused, naming the flag; same-origin requests are unaffected', async () => {
    const server = await startHub(['--anonymous']);
    try {
      const res = await preflight(server.url, APP);
      assertErrorResult(res, 403, /--cors-origins/);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      const head = await http(subscribeUrl(server.url, ['/a']), { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['access-control-allow-origin'], undefined);
    } finally {
      await server.close(1000);
    }
  });
});
