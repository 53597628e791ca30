// The Redis engine through faults, against a real redis-server: a restart (append-only file on,
// so the stream survives), a cut of the live readers' connections and a history reply held back
// (through a proxy). Readiness flips and recovers, appends during the outage reject
// UNAVAILABLE, appends never wait behind a history read, and every listener ends with exactly
// the published sequence: nothing lost, nothing twice.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type EngineEvent, HeraldEngineError } from '../../src/engines/engine.js';
import { type RedisEngine, redisEngine } from '../../src/engines/redis.js';
import { RANGE_SCRIPT } from '../../src/engines/redis-scripts.js';
import { Collector, waitFor, withTimeout } from '../helpers/async.js';
import { startHoldingProxy } from '../helpers/holding-proxy.js';
import { assertNoDuplicates, assertSameSequence } from '../helpers/hub.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

let redis: TestRedis;
let keys = 0;

function pair(): {
  a: RedisEngine;
  b: RedisEngine;
  onA: Collector<string>;
  onB: Collector<string>;
} {
  const key = `{faults${++keys}}:events`;
  const options = { url: redis.url, key, blockMs: 500, maxBackoffMs: 100 };
  const a = redisEngine(options);
  const b = redisEngine(options);
  const onA = new Collector<string>();
  const onB = new Collector<string>();
  a.onEvent((ev: EngineEvent) => onA.push(ev.id));
  b.onEvent((ev: EngineEvent) => onB.push(ev.id));
  return { a, b, onA, onB };
}

describe('redis engine faults', { skip: redisSkip }, () => {
  before(async () => {
    redis = await startRedis({ persist: true });
  });
  after(async () => {
    await redis?.stop();
  });

  it('a Redis restart: not ready, UNAVAILABLE, then resumes with nothing lost or twice', async () => {
    const { a, b, onA, onB } = pair();
    try {
      await Promise.all([a.ready, b.ready]);
      const sent: string[] = [];
      for (let i = 0; i < 20; i++) sent.push((await a.append({ topics: ['/t'], data: `${i}` })).id);
      await onB.count(20, 'events before the restart');

      await redis.kill();
      await waitFor(() => !a.health().ready && !b.health().ready, 'readiness to go false');
      assert.match(a.health().reason ?? '', /redis/);
      await assert.rejects(a.append({ topics: ['/t'], data: 'lost?' }), (error: unknown) => {
        assert.ok(error instanceof HeraldEngineError);
        assert.equal(error.code, 'UNAVAILABLE');
        assert.match(error.message, /redis is unavailable/);
        return true;
      });
      await assert.rejects(b.history({ after: sent[0]! }), /redis is unavailable/);

      await redis.start();
      await waitFor(() => a.health().ready && b.health().ready, 'readiness to come back', 20_000);
      // B publishes now, whether or not A's reader is back yet: A must still get them.
      for (let i = 20; i < 40; i++) {
        sent.push((await b.append({ topics: ['/t'], data: `${i}` })).id);
      }
      await onA.count(40, 'events on A after the restart', 20_000);
      await onB.count(40, 'events on B after the restart', 20_000);
      assertSameSequence(onA.items, sent, 'node A');
      assertSameSequence(onB.items, sent, 'node B');
      const history = await a.history({ after: 'earliest' });
      assertSameSequence(
        history.events.map((e) => e.id),
        sent,
        'history survived the restart',
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('fails fast when Redis was never reachable', async () => {
    const e = redisEngine({ url: 'redis://127.0.0.1:1', maxBackoffMs: 100 });
    try {
      await assert.rejects(e.append({ topics: ['/t'], data: 'x' }), (error: unknown) => {
        assert.ok(error instanceof HeraldEngineError);
        assert.equal(error.code, 'UNAVAILABLE');
        return true;
      });
      await assert.rejects(e.history({ after: 'earliest' }), /redis is unavailable/);
      assert.equal(e.health().ready, false);
      assert.match(e.health().reason ?? '', /redis unreachable/);
    } finally {
      await e.close();
    }
  });

  it('a cut of the live readers mid-stream: they resume from their last id', async () => {
    const { a, b, onA, onB } = pair();
    const admin = new Redis(redis.url);
    try {
      await Promise.all([a.ready, b.ready]);
      let cuts = 0;
      const sent: Promise<EngineEvent>[] = [];
      for (let i = 0; i < 300; i++) {
        sent.push((i % 2 ? a : b).append({ topics: ['/t'], data: `${i}` }));
        if (i % 100 === 50) {
          // Drop every live-reader connection (a network cut as far as they can tell).
          const list = String(await admin.call('CLIENT', 'LIST'));
          for (const line of list.split('\n')) {
            const id = /^id=(\d+) .*name=herald-reader /.exec(line)?.[1];
            if (id !== undefined) cuts += Number(await admin.call('CLIENT', 'KILL', 'ID', id));
          }
        }
      }
      assert.ok(cuts >= 2, `the readers of both nodes were cut (${cuts} cuts)`);
      const ids = (await Promise.all(sent))
        .sort((x, y) => a.compare(x.position, y.position))
        .map((e) => e.id);
      await onA.count(300, 'every event on A', 20_000);
      await onB.count(300, 'every event on B', 20_000);
      assertNoDuplicates(onA.items, 'node A');
      assertSameSequence(onA.items, ids, 'node A');
      assertSameSequence(onB.items, ids, 'node B');
    } finally {
      await admin.quit();
      await a.close();
      await b.close();
    }
  });

  it('a history reply held back does not hold up appends: reads have a connection of their own', async () => {
    const proxy = await startHoldingProxy(redis.port);
    const key = `{faults${++keys}}:events`;
    const e = redisEngine({ url: `redis://127.0.0.1:${proxy.port}`, key, blockMs: 500 });
    const live = new Collector<string>();
    e.onEvent((ev) => live.push(ev.id));
    try {
      await e.ready;
      const before: string[] = [];
      for (let i = 0; i < 3; i++)
        before.push((await e.append({ topics: ['/t'], data: `${i}` })).id);
      // The page script is now known to the server (sent once in full): the held request below
      // is the one that reads.
      assert.equal((await e.history({ after: 'earliest' })).events.length, 3);
      await live.count(3, 'the first events live');

      // Every answer on the connection that asks for a history page is held back from now on.
      proxy.holdAfter(createHash('sha1').update(RANGE_SCRIPT).digest('hex'));
      let readDone = false;
      const reading = e.history({ after: 'earliest' }).finally(() => {
        readDone = true;
      });
      reading.catch(() => {}); // awaited below; a failure before then must not go unhandled
      // Redis has answered the page (the answer is in the proxy): the read ran before the append.
      await waitFor(() => proxy.held().bytes > 0, 'the history page to be read and held back');
      const appended = await withTimeout(
        e.append({ topics: ['/t'], data: 'while a read is held' }),
        'an append while a history reply is held back (on a connection shared with reads, it waits behind it)',
      );
      await live.count(4, 'the append delivered live');
      assert.equal(live.items[3], appended.id);
      assert.equal(readDone, false, 'the history read is still held back');
      assert.equal(proxy.held().connections, 1, 'only the history connection is held');

      proxy.release();
      const page = await reading;
      assert.deepEqual(
        page.events.map((ev) => ev.id),
        before,
        'the read saw the stream as it was when it ran',
      );
      // Reading on from the read's cursor (as a replay does) finds the append: no gap, no twice.
      const next = await e.history({ after: { position: page.cursor! } });
      assert.deepEqual(
        next.events.map((ev) => ev.id),
        [appended.id],
      );
    } finally {
      await e.close();
      await proxy.close();
    }
  });

  it('names its connections: commands, history reads and the live reader apart', async () => {
    const key = `{faults${++keys}}:events`;
    const admin = new Redis(redis.url);
    const e = redisEngine({ url: redis.url, key, blockMs: 500 });
    try {
      await e.ready;
      await e.append({ topics: ['/t'], data: 'x' });
      await e.history({ after: 'earliest' });
      const names = String(await admin.call('CLIENT', 'LIST'))
        .split('\n')
        .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1])
        .filter((name): name is string => name?.startsWith('herald-') === true);
      assert.deepEqual(names.sort(), ['herald-history', 'herald-reader']);
      assert.equal(e.health().ready, true);
    } finally {
      await e.close();
      await admin.quit();
    }
  });
});
