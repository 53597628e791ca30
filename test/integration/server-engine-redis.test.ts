// `herald serve --engine redis://…`: two hub servers over one real redis-server share history
// and live events; readiness and publishing follow Redis going away and coming back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HeraldServer } from '../../src/server/app.js';
import {
  assertErrorResponse,
  eventually,
  idsOf,
  publish,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
} from '../helpers/hub-server.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

describe('herald serve --engine redis://', { skip: redisSkip }, () => {
  let redis: TestRedis;
  let a: HeraldServer;
  let b: HeraldServer;

  before(async () => {
    redis = await startRedis({ persist: true });
    a = await startHub(['--anonymous', '--engine', redis.url]);
    b = await startHub(['--anonymous', '--engine', redis.url]);
    for (const node of [a, b]) {
      await eventually(async () => (await fetch(`${node.url}/readyz`)).status === 200, 'ready');
    }
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  test('an update published on one node reaches subscribers of the other, and replays there', async () => {
    const token = await publisherToken();
    const live = await subscribe(b.url, ['/books/{id}']);
    const first = await publishOk(a.url, { topic: '/books/1', data: 'one' }, token);
    await live.reader.events.until((e) => idsOf(e).includes(first), 'the live event on B');
    const second = await publishOk(b.url, { topic: '/books/2', data: 'two' }, token);
    await live.reader.events.until((e) => idsOf(e).includes(second), 'B’s own event');
    live.req.destroy();

    // Resume on node A after the first id: exactly the second event comes back.
    const resumed = await subscribe(a.url, ['/books/{id}'], {
      headers: { 'last-event-id': first },
    });
    await resumed.reader.events.until((e) => idsOf(e).includes(second), 'the replay on A');
    const replayed = idsOf(resumed.reader.events.items);
    assert.deepEqual(replayed, [second]);
    resumed.req.destroy();
  });

  test('readiness and publishing follow Redis: 503 with a reason while it is down', async () => {
    const token = await publisherToken();
    assert.equal((await fetch(`${a.url}/readyz`)).status, 200);
    await redis.kill();
    await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 503, 'A not ready');
    await assertErrorResponse(
      await publish(a.url, { topic: '/down', data: 'x' }, token),
      503,
      /redis is unavailable.*retry once it is reachable/,
    );
    // A node that cannot promise gap-free delivery refuses new subscribers, with a reason.
    await assertErrorResponse(
      await fetch(`${a.url}/.well-known/mercure?topic=/down`),
      503,
      /the hub is not ready \(redis .*\); retry in a moment/,
    );
    await redis.start();
    await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 200, 'A ready again');
    const live = await subscribe(b.url, ['/after']);
    const id = await publishOk(a.url, { topic: '/after', data: 'back' }, token);
    await live.reader.events.until((e) => idsOf(e).includes(id), 'delivery after the restart');
    live.req.destroy();
  });
});
