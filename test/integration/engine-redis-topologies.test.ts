// The Redis engine on Sentinel and on Redis Cluster, spawned by the test: two engines (two hub
// nodes) share one stream through the URL forms `redis+sentinel://` and `redis+cluster://`,
// and a Sentinel failover moves them to the promoted replica with no event lost or repeated.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { EngineEvent } from '../../src/engines/engine.js';
import { type RedisEngine, redisEngine } from '../../src/engines/redis.js';
import { connectRedis, redact } from '../../src/engines/redis-connect.js';
import { withTimeout } from '../helpers/async.js';
import {
  redisSkip,
  startRedisCluster,
  startRedisSentinel,
  type TestRedisCluster,
  type TestRedisSentinel,
} from '../helpers/redis-server.js';

/** Collects the data of every live event an engine delivers. */
function listen(engine: RedisEngine): { data: string[]; until(n: number): Promise<void> } {
  const data: string[] = [];
  const waiters: (() => void)[] = [];
  engine.onEvent((e: EngineEvent) => {
    data.push(e.data);
    for (const w of waiters.splice(0)) w();
  });
  return {
    data,
    async until(n) {
      while (data.length < n) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

/** Appends, retrying while the engine reports UNAVAILABLE (during a failover). */
async function appendRetrying(engine: RedisEngine, data: string): Promise<EngineEvent> {
  for (;;) {
    try {
      return await engine.append({ topics: ['/t'], data });
    } catch (error) {
      if ((error as { code?: string }).code !== 'UNAVAILABLE') throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('redis engine URLs', () => {
  it('refuses malformed sentinel and cluster URLs with a reason', () => {
    const retryStrategy = () => 100;
    assert.throws(
      () => connectRedis('redis+sentinel://127.0.0.1:1', { retryStrategy }),
      /master name \(the path\) is missing/,
    );
    assert.throws(
      () => connectRedis('redis+cluster://127.0.0.1', { retryStrategy }),
      /needs a port/,
    );
    assert.throws(() => connectRedis('redis+cluster://h:1/0', { retryStrategy }), /drop the path/);
    assert.throws(() => connectRedis('mongodb://x', { retryStrategy }), /unknown scheme/);
  });

  it('hides passwords in messages', () => {
    assert.equal(redact('redis://u:secret@h:1/0'), 'redis://u:***@h:1/0');
    assert.equal(redact('redis+cluster://:pw@a:1,b:2'), 'redis+cluster://:***@a:1,b:2');
    assert.throws(
      () => connectRedis('redis+sentinel://u:secret@h:x/m', { retryStrategy: () => 1 }),
      (e: Error) => !e.message.includes('secret'),
    );
  });
});

describe('redis engine on Sentinel', { skip: redisSkip }, () => {
  let sentinel: TestRedisSentinel;
  const engines: RedisEngine[] = [];
  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(async () => {
    for (const e of engines) await e.close();
    await sentinel?.stop();
  });

  it('two nodes share the stream and survive a failover with nothing lost or repeated', async () => {
    const a = redisEngine({ url: sentinel.url, maxBackoffMs: 200, blockMs: 500 });
    const b = redisEngine({ url: sentinel.url, maxBackoffMs: 200, blockMs: 500 });
    engines.push(a, b);
    await Promise.all([a.ready, b.ready]);
    const onA = listen(a);
    const onB = listen(b);
    const published: string[] = [];
    for (let i = 0; i < 20; i++)
      published.push((await a.append({ topics: ['/t'], data: `x${i}` })).data);
    await withTimeout(onB.until(20), 'node B to see the first 20 events', 10_000);

    // Make sure the replica has everything, then promote it. The admin connections never
    // retry (a failed assertion must not leave a client reconnecting to a stopped server,
    // which would keep this file running), and are closed however the test ends.
    const noRetry = { host: '127.0.0.1', retryStrategy: () => null, maxRetriesPerRequest: 0 };
    const master = new Redis({ ...noRetry, port: sentinel.ports[0]! });
    const admin = new Redis({ ...noRetry, port: sentinel.sentinelPort });
    try {
      // WAIT answers how many replicas acknowledged within its timeout: on a loaded machine
      // the replica may still be catching up, so ask again until it has (or the test's bound).
      await withTimeout(
        (async () => {
          while (Number(await master.call('WAIT', '1', '1000')) < 1);
        })(),
        'the replica to acknowledge the first 20 events',
        30_000,
      );
      assert.equal(await admin.call('SENTINEL', 'FAILOVER', sentinel.master), 'OK');
      await withTimeout(
        (async () => {
          for (;;) {
            const addr = (await admin.call(
              'SENTINEL',
              'GET-MASTER-ADDR-BY-NAME',
              sentinel.master,
            )) as string[];
            if (Number(addr[1]) === sentinel.ports[1]) return;
            await new Promise((r) => setTimeout(r, 100));
          }
        })(),
        'the sentinel to promote the replica',
        20_000,
      );
    } finally {
      master.disconnect();
      admin.disconnect();
    }

    // Publishing on B after the failover lands on the new master and reaches both nodes.
    for (let i = 20; i < 40; i++) published.push((await appendRetrying(b, `x${i}`)).data);
    await withTimeout(
      Promise.all([onA.until(40), onB.until(40)]),
      'both nodes to see all 40 events',
      20_000,
    );
    assert.deepEqual(onA.data, published);
    assert.deepEqual(onB.data, published);
    const history = await a.history({ after: 'earliest' });
    assert.deepEqual(
      history.events.map((e) => e.data),
      published,
    );
  });
});

describe('redis engine on Redis Cluster', { skip: redisSkip }, () => {
  let cluster: TestRedisCluster;
  const engines: RedisEngine[] = [];
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    for (const e of engines) await e.close();
    await cluster?.stop();
  });

  it('keeps every key of a stream on one slot and orders events across nodes', async () => {
    // Three keys hashed to different slots, so at least one lives on a node other than the
    // first one in the URL (the client must follow the slot map, scripts included).
    for (const tag of ['a', 'b', 'c']) {
      const key = `{herald-${tag}}:events`;
      const a = redisEngine({ url: cluster.url, key, blockMs: 500 });
      const b = redisEngine({ url: cluster.url, key, blockMs: 500 });
      engines.push(a, b);
      await Promise.all([a.ready, b.ready]);
      assert.deepEqual(a.health(), { ready: true });
      const onA = listen(a);
      const onB = listen(b);
      const published: string[] = [];
      for (let i = 0; i < 10; i++) {
        const from = i % 2 === 0 ? a : b;
        published.push((await from.append({ topics: ['/t'], data: `${tag}${i}` })).data);
      }
      const custom = await a.append({ topics: ['/t'], data: `${tag}-custom`, id: `cid-${tag}` });
      published.push(custom.data);
      await assert.rejects(
        b.append({ topics: ['/t'], data: 'again', id: `cid-${tag}` }),
        (e: { code?: string }) => e.code === 'DUPLICATE_ID',
      );
      await withTimeout(
        Promise.all([onA.until(11), onB.until(11)]),
        `both nodes to see the events of ${key}`,
        10_000,
      );
      assert.deepEqual(onA.data, published);
      assert.deepEqual(onB.data, published);
      assert.equal(await b.resolve(`cid-${tag}`), custom.position);
      const fifth = (await a.history({ after: 'earliest', limit: 5 })).events[4]!;
      const after5 = await b.history({ after: fifth.id });
      assert.equal(after5.found, true);
      assert.deepEqual(
        after5.events.map((e) => e.data),
        published.slice(5),
      );
    }
  });
});
