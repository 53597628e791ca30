// What one published update may carry, end to end on `herald serve` and through `hub.publish`:
// at most --max-update-topics topics (issue 14, item 10), and an id, type and topics that are
// well-formed Unicode (item 12) — a lone surrogate would reach clients as U+FFFD, so a client
// resuming with the id it saw would get a gap and the whole history again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_MAX_EVENT_TOPICS } from '../../src/hub/hub.js';
import { createHub, HeraldHubError } from '../../src/index.js';
import type { HeraldServer } from '../../src/server/app.js';
import {
  assertErrorResponse,
  HUB,
  publish,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
} from '../helpers/hub-server.js';

const LIMIT = 5;

let server: HeraldServer;
let admin: string;
before(async () => {
  server = await startHub(['--anonymous', '--max-update-topics', String(LIMIT)]);
  admin = await publisherToken();
});
after(() => server.close(1000));

function publishJson(body: unknown): Promise<Response> {
  return fetch(`${server.url}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    // JSON.stringify writes a lone surrogate as an escape (\ud800), which JSON.parse restores.
    body: JSON.stringify(body),
  });
}

const topics = (n: number): string[] => Array.from({ length: n }, (_, i) => `/many/${i}`);

describe('topics per update (item 10)', () => {
  test('up to --max-update-topics are accepted; more get a 400 naming the flag', async () => {
    await publishOk(server.url, { topic: topics(LIMIT), data: 'at the limit' }, admin);
    await assertErrorResponse(
      await publish(server.url, { topic: topics(LIMIT + 1), data: 'one too many' }, admin),
      400,
      /too many topics in one update: 6, the limit is 5 \(--max-update-topics\)/,
    );
    assert.equal((await publishJson({ topics: topics(LIMIT), data: 'json' })).status, 200);
    await assertErrorResponse(
      await publishJson({ topics: topics(LIMIT + 1) }),
      400,
      /--max-update-topics/,
    );
    await assertErrorResponse(
      await publishJson([{ topic: '/ok' }, { topics: topics(LIMIT + 1) }]),
      400,
      /update #1: too many topics in one update/,
    );
  });

  test('a form is refused before it is parsed when it has more fields than an update needs', async () => {
    const post = (body: string) =>
      fetch(`${server.url}${HUB}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${admin}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body,
      });
    const short = Array.from({ length: 95_000 }, (_, i) => `topic=${i.toString(36)}`);
    await assertErrorResponse(
      await post(`data=x&${short.join('&')}`),
      400,
      /too many form fields: more than 21; an update has at most 5 topics \(--max-update-topics\)/,
    );
    // Fields besides the topics: up to 16 (unknown ones are ignored).
    const fields = [...topics(LIMIT).map((t) => `topic=${t}`), 'data=ok'];
    const extra = Array.from({ length: 15 }, (_, i) => `x${i}=1`);
    const ok = await post([...fields, ...extra].join('&'));
    assert.equal(ok.status, 200, await ok.text());
    await assertErrorResponse(
      await post([...fields, ...extra, 'x15=1'].join('&')),
      400,
      /too many form fields/,
    );
  });

  test('the topics of a JSON array count together against --max-topics', async () => {
    const hub = await startHub(['--max-update-topics', '10', '--max-topics', '25']);
    try {
      const send = (body: unknown) =>
        fetch(`${hub.url}/publish`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const updates = (n: number, each: number) =>
        Array.from({ length: n }, (_, i) => ({ topics: topics(each).map((t) => `${t}/${i}`) }));
      const ok = await send(updates(2, 10));
      assert.equal(ok.status, 200, await ok.text());
      await assertErrorResponse(
        await send(updates(3, 10)),
        400,
        /too many topics in one request: 30 in all, the limit is 25 \(--max-topics\)/,
      );
      // A single update is bounded by --max-update-topics alone.
      await assertErrorResponse(await send({ topics: topics(11) }), 400, /--max-update-topics/);
    } finally {
      await hub.close(1000);
    }
  });

  test('hub.publish refuses more than maxEventTopics (default 100)', async () => {
    assert.equal(DEFAULT_MAX_EVENT_TOPICS, 100);
    const hub = createHub({ heartbeatMs: 0, maxEventTopics: 3 });
    try {
      await hub.publish({ topics: topics(3), data: 'ok' });
      await assert.rejects(
        hub.publish({ topics: topics(4), data: 'no' }),
        (error: unknown) =>
          error instanceof HeraldHubError &&
          error.code === 'INVALID_PUBLISH' &&
          /at most 3 topics \(maxEventTopics\), got 4/.test(error.message),
      );
      const defaults = createHub({ heartbeatMs: 0 });
      await assert.rejects(defaults.publish({ topics: topics(101) }), /at most 100 topics/);
      await defaults.close();
      assert.throws(() => createHub({ maxEventTopics: 0 }), /maxEventTopics/);
    } finally {
      await hub.close();
    }
  });
});

describe('well-formed Unicode (item 12)', () => {
  test('an id, type or topic with a lone surrogate is refused with a 400 and a reason', async () => {
    for (const [body, words] of [
      [{ topic: '/s', id: 'order-\ud83d' }, /"id" must be well-formed Unicode/],
      [{ topic: '/s', id: '\udc00' }, /"id" must be well-formed Unicode/],
      [{ topic: '/s', type: 'chat\ud800' }, /"type" must be well-formed Unicode/],
      [{ topics: ['/s', '/half\udfff'] }, /"topic" must be well-formed Unicode/],
    ] as const) {
      await assertErrorResponse(await publishJson(body), 400, words);
    }
    // All or nothing: one bad id refuses the whole array.
    const before = server.hub.lastEventId;
    await assertErrorResponse(
      await publishJson([
        { topic: '/s', id: 'fine' },
        { topic: '/s', id: 'bad\ud800' },
      ]),
      400,
      /update #1: "id" must be well-formed Unicode/,
    );
    assert.equal(server.hub.lastEventId, before, 'nothing was published');
  });

  test('an astral id (a surrogate pair) round-trips: resuming after it is exact', async () => {
    const first = await publishJson({ topic: '/emoji', id: 'party-🎉', data: 'one' });
    assert.equal(first.status, 200, await first.clone().text());
    assert.deepEqual(await first.json(), { id: 'party-🎉' });
    const next = await publishOk(server.url, { topic: '/emoji', data: 'two' }, admin);
    // EventSource sends the id it saw as UTF-8; Node reads header bytes as latin1.
    const header = Buffer.from('party-🎉', 'utf8').toString('latin1');
    const { res, req, reader } = await subscribe(server.url, ['/emoji'], {
      headers: { 'last-event-id': header },
    });
    try {
      const events = await reader.events.until((e) => e.length >= 1, 'the replay');
      assert.equal(res.headers['last-event-id'], undefined, 'not printable ASCII: no header');
      assert.deepEqual(
        events.map((e) => [e.event, e.id]),
        [[undefined, next]],
        'no gap, no duplicate',
      );
    } finally {
      req.destroy();
    }
  });

  test('the form endpoint cannot carry a lone surrogate: it decodes UTF-8', async () => {
    const form = `topic=%2Fs&id=${encodeURIComponent('x')}%ED%A0%80`;
    const res = await fetch(`${server.url}${HUB}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${admin}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: form,
    });
    assert.equal(res.status, 200);
    // An encoded surrogate is invalid UTF-8: each byte becomes U+FFFD, a well-formed id.
    assert.equal(await res.text(), 'x\ufffd\ufffd\ufffd');
  });
});
