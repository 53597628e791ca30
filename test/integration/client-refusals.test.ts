// A refusal explains itself: the HeraldClientError of a refused subscription carries the
// server's own reason — from `herald serve` (its text/plain body and WWW-Authenticate), and
// from other servers' JSON bodies — read from at most 4 KiB of the body.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type HeraldClientError, subscribe, subscribeHub } from '../../src/client/index.js';
import type { HeraldServer } from '../../src/server/app.js';
import { withTimeout } from '../helpers/async.js';
import { HUB, makeToken, startHub } from '../helpers/hub-server.js';
import { Routes, startHttpServer, type TestHttpServer } from '../helpers/server.js';

/** Subscribes to `url` and resolves with the error it gave up with. */
async function refusal(closed: Promise<HeraldClientError | undefined>): Promise<HeraldClientError> {
  const reason = await withTimeout(closed, 'the refusal');
  assert.ok(reason, 'the subscription gave up with a reason');
  return reason;
}

describe('herald serve: 401 and 403 explain themselves', () => {
  let hub: HeraldServer;
  let hubUrl: string;
  before(async () => {
    hub = await startHub();
    hubUrl = `${hub.url}${HUB}`;
  });
  after(() => hub.close());

  test('a token signed with another key: the reason of the body, in the error', async () => {
    const token = await makeToken({ subscribe: ['*'] }, { secret: 'x'.repeat(48) });
    // What the server says, read without the client.
    const raw = await fetch(`${hubUrl}?topic=/a`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const said = (await raw.text()).trim();
    assert.equal(raw.status, 401);
    assert.ok(said.length > 0);

    const error = await refusal(subscribeHub(hubUrl, { topics: ['/a'], token }).closed);
    assert.equal(error.code, 'BAD_STATUS');
    assert.equal(error.response?.status, 401);
    assert.equal(error.reason, said);
    assert.equal(error.message, `${hubUrl}?topic=%2Fa answered 401, not 200: ${said}`);
  });

  test('an expired token: "get a fresh token"', async () => {
    const token = await makeToken(
      { subscribe: ['*'] },
      { exp: Math.floor(Date.now() / 1000) - 600 },
    );
    const error = await refusal(subscribeHub(hubUrl, { topics: ['/a'], token }).closed);
    assert.equal(error.response?.status, 401);
    assert.match(error.reason ?? '', /expired/);
    assert.match(error.message, /answered 401, not 200: .*expired/);
  });

  test('no token where one is needed', async () => {
    const error = await refusal(subscribeHub(hubUrl, { topics: ['/a'] }).closed);
    assert.equal(error.response?.status, 401);
    assert.ok((error.reason ?? '').length > 10, `reason: ${error.reason}`);
  });
});

describe('other servers: JSON, headers, and bounds', () => {
  let server: TestHttpServer;
  const routes = new Routes();
  before(async () => {
    server = await startHttpServer(routes.handle);
  });
  after(() => server.close());

  const refuse = (path: string, answer: (res: ServerResponse) => void): string => {
    routes.set(path, (_req, res) => answer(res));
    return `${server.origin}${path}`;
  };
  const json = (status: number, body: unknown) => (res: ServerResponse) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

  test('JSON bodies: reason, message, error, error.message', async () => {
    const cases: Array<[unknown, string]> = [
      [{ reason: 'quota exceeded' }, 'quota exceeded'],
      [{ message: 'model not found' }, 'model not found'],
      [{ error: 'invalid_api_key' }, 'invalid_api_key'],
      [
        { error: { message: 'Incorrect API key provided', type: 'auth' } },
        'Incorrect API key provided',
      ],
    ];
    for (const [index, [body, expected]] of cases.entries()) {
      const url = refuse(`/json-${index}`, json(403, body));
      const error = await refusal(subscribe(url).closed);
      assert.equal(error.reason, expected);
      assert.match(error.message, new RegExp(`answered 403, not 200: ${expected}$`));
    }
  });

  test('WWW-Authenticate error_description when the body says nothing', async () => {
    const url = refuse('/challenge', (res) =>
      res
        .writeHead(401, {
          'www-authenticate':
            'Bearer realm="x", error="invalid_token", error_description="token revoked"',
        })
        .end(),
    );
    const error = await refusal(subscribe(url).closed);
    assert.equal(error.reason, 'token revoked');
  });

  test('an HTML page or an unreadable JSON body gives no reason; the message stays as it was', async () => {
    const html = refuse('/html', (res) =>
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not here</h1>'),
    );
    const error = await refusal(subscribe(html).closed);
    assert.equal(error.reason, undefined);
    assert.equal(error.message, `${html} answered 404, not 200`);
    const broken = refuse('/broken-json', (res) =>
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"message": "cut'),
    );
    assert.equal((await refusal(subscribe(broken).closed)).reason, undefined);
  });

  test('a 200 of the wrong type explains itself too', async () => {
    const url = refuse('/wrong-type', json(200, { error: 'use the /stream endpoint' }));
    const error = await refusal(subscribe(url).closed);
    assert.equal(error.code, 'BAD_CONTENT_TYPE');
    assert.equal(error.reason, 'use the /stream endpoint');
  });

  test('at most 4 KiB of a body are read, on one line; a body that never ends is not waited for', async () => {
    const long = refuse('/long', (res) => {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`line one\r\nline two\n${'x'.repeat(1024 * 1024)}`);
    });
    const error = await refusal(subscribe(long).closed);
    assert.ok(error.reason?.startsWith('line one line two xxx'), error.reason);
    // CRLF became one space.
    assert.equal(error.reason?.length, 4096 - 1);

    const endless = refuse('/endless', (res) => {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.write('still talking');
    });
    const stalled = await refusal(subscribe(endless, { idleTimeoutMs: 0 }).closed);
    assert.equal(stalled.code, 'BAD_STATUS');
    assert.equal(stalled.reason, 'still talking');
  });
});
