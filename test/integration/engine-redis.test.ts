// The Redis engine against a real redis-server (spawned on a free port): the engine contract
// (test/helpers/engine-contract.ts), and what is Redis's own — entry ids as positions and ids,
// options, found=false for trimmed ids, the age bound, live gaps, stats, a client it is given.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { EARLIEST, type EngineEvent, HeraldEngineError } from '../../src/engines/engine.js';
import { type RedisEngineOptions, redisEngine } from '../../src/engines/redis.js';
import { Collector } from '../helpers/async.js';
import { engineContract } from '../helpers/engine-contract.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

let redis: TestRedis;
let keys = 0;
const open: { close(): Promise<void> }[] = [];

/** An engine on a fresh stream key (or `key`), closed after the file. */
function engine(options: RedisEngineOptions = {}) {
  const e = redisEngine({ url: redis.url, key: `{t${++keys}}:events`, ...options });
  open.push(e);
  return e;
}

const data = (events: readonly EngineEvent[]): string[] => events.map((e) => e.data);

function engineError(code: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HeraldEngineError, `a HeraldEngineError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

async function publishN(e: ReturnType<typeof engine>, n: number, topic = '/t') {
  const out: EngineEvent[] = [];
  for (let i = 0; i < n; i++) out.push(await e.append({ topics: [topic], data: `d${i}` }));
  return out;
}

describe('redis engine', { skip: redisSkip }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const e of open) await e.close();
    await redis?.stop();
  });

  describe('append, positions and ids', () => {
    it('uses the stream entry id as position and generated id, in increasing order', async () => {
      const e = engine();
      const events = await publishN(e, 5);
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!;
        assert.match(ev.position, /^\d+-\d+$/);
        assert.equal(ev.id, ev.position);
        assert.equal(ev.customId, false);
        assert.equal(ev.time, Number(ev.position.split('-')[0]));
        if (i > 0) {
          assert.ok(e.compare(events[i - 1]!.position, ev.position) < 0);
          assert.ok(e.compare(ev.position, events[i - 1]!.position) > 0);
        }
      }
      assert.equal(e.compare('10-0', '9-5'), 1);
      assert.equal(e.compare('5-10', '5-9'), 1);
      assert.equal(e.compare('18446744073709551615-1', '18446744073709551615-2'), -1);
      assert.equal(e.compare('7-7', '7-7'), 0);
    });

    it('validates options', () => {
      for (const options of [
        { maxEvents: 0 },
        { maxEvents: 1.5 },
        { ttlMs: -5 },
        { blockMs: 0 },
        { key: '' },
      ]) {
        assert.throws(
          () => redisEngine({ url: redis.url, ...options }),
          engineError('INVALID_OPTIONS'),
          JSON.stringify(options),
        );
      }
    });
  });

  describe('history', () => {
    it('with visible, a custom id whose entry was trimmed is unknown: it cannot be checked', async () => {
      const e = engine({ maxEvents: 2, exactTrim: true });
      await e.append({ topics: ['/t'], data: 'x', id: 'trimmed-custom' });
      await publishN(e, 2);
      const plain = await e.history({ after: 'trimmed-custom' });
      assert.equal(plain.found, true, 'nothing after it was lost');
      const checked = await e.history({ after: 'trimmed-custom', visible: () => true });
      assert.equal(checked.found, false);
      assert.deepEqual(data(checked.events), ['d0', 'd1']);
    });

    it('applies the age bound on append', async () => {
      const e = engine({ ttlMs: 1, exactTrim: true });
      const first = await e.append({ topics: ['/t'], data: 'old' });
      // Wait (by events, not time) until the server clock moved on by more than ttlMs.
      let last = first;
      while (Number(last.position.split('-')[0]) - Number(first.position.split('-')[0]) < 2) {
        last = await e.append({ topics: ['/t'], data: 'new' });
      }
      const r = await e.history({ after: EARLIEST });
      assert.ok(!data(r.events).includes('old'));
      assert.equal(await e.resolve(first.id), undefined);
      for (const ev of r.events) assert.ok(ev.time > last.time - 1, 'only young events are kept');
    });
  });

  describe('live delivery', () => {
    it('reports a live gap when entries were trimmed before the reader got them', async () => {
      const key = `{gap${++keys}}:events`;
      const gaps: [string, string][] = [];
      const reader = engine({ key, blockMs: 200, onLiveGap: (x, y) => gaps.push([x, y]) });
      await reader.ready;
      const got = new Collector<EngineEvent>();
      reader.onEvent((ev) => got.push(ev));
      const seen = await reader.append({ topics: ['/t'], data: 'seen' });
      await got.count(1, 'the first event');
      // Another node appends three entries and trims two of them in one transaction: the
      // reader, blocked in XREAD, is only served after it, when they are already gone.
      const ms = Number(seen.position.split('-')[0]) + 1;
      const ids = [`${ms}-0`, `${ms}-1`, `${ms}-2`];
      const writer = new Redis(redis.url);
      await writer
        .multi()
        .call('XADD', key, ids[0]!, 'q', seen.position, 't', '["/t"]', 'd', 'lost1')
        .call('XADD', key, ids[1]!, 'q', ids[0]!, 't', '["/t"]', 'd', 'lost2')
        .call('XADD', key, ids[2]!, 'q', ids[1]!, 't', '["/t"]', 'd', 'kept')
        .call('XTRIM', key, 'MAXLEN', '=', '1')
        .exec();
      await writer.quit();
      await got.count(2, 'the kept event');
      assert.deepEqual(data(got.items), ['seen', 'kept']);
      assert.deepEqual(gaps, [[seen.position, ids[2]]]);
    });
  });

  describe('health, stats, close', () => {
    it('is ready when connected and knows what it appended', async () => {
      const e = engine({ maxEvents: 5, exactTrim: true });
      await e.ready;
      assert.deepEqual(e.health(), { ready: true });
      const ev = await publishN(e, 7);
      const s = e.stats();
      assert.equal(s.events, 5);
      assert.equal(s.oldest, ev[2]!.position);
      assert.equal(s.newest, ev[6]!.position);
      assert.ok(s.bytes > 0);
    });

    it('works over a client it was given, which it leaves open', async () => {
      const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      const e = redisEngine({ client, key: `{c${++keys}}:events` });
      await e.ready;
      const got = new Collector<string>();
      e.onEvent((ev) => got.push(ev.data));
      await e.append({ topics: ['/a'], data: 'via client' });
      await got.count(1, 'the event');
      await e.close();
      assert.equal(await client.call('PING'), 'PONG');
      await client.quit();
    });
  });
});

let contractRedis: TestRedis | undefined;
let contractKeys = 0;
engineContract('redis', {
  skip: redisSkip,
  before: async () => {
    contractRedis = await startRedis();
  },
  after: async () => {
    await contractRedis?.stop();
  },
  make: async ({ store, ...options } = {}) => {
    const key = `{contract-${store ?? ++contractKeys}}:events`;
    const e = redisEngine({ url: contractRedis!.url, key, blockMs: 200, ...options });
    await e.ready;
    return e;
  },
  shared: true,
  reservedId: () => '1-1', // shaped like a stream entry id, long before any
});
