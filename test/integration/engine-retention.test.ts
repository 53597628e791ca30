// Retention classes in every engine (the contract suite of test/helpers/engine-contract.ts):
// memory in process, Redis Streams and NATS JetStream against real servers on free ports; and
// how Redis answers an id the reader may not see where most entry ids name nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_RETENTION_CLASS, type EngineEvent } from '../../src/engines/engine.js';
import { memoryEngine } from '../../src/engines/memory.js';
import { natsEngine } from '../../src/engines/nats.js';
import { redisEngine } from '../../src/engines/redis.js';
import { retentionClass } from '../../src/hub/retention.js';
import { retentionContract } from '../helpers/engine-contract.js';
import { natsSkip, startNats, type TestNats } from '../helpers/nats-server.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

retentionContract('memory', {
  make: async (options) => memoryEngine(options),
  slack: 0,
});

let redis: TestRedis | undefined;
let keys = 0;
retentionContract('redis', {
  skip: redisSkip,
  before: async () => {
    redis = await startRedis();
  },
  after: async () => {
    await redis?.stop();
  },
  make: async (options) => {
    const e = redisEngine({ url: redis!.url, key: `{r${++keys}}:events`, ...options });
    await e.ready;
    return e;
  },
  slack: 0,
  sparseIds: true,
});

let nats: TestNats | undefined;
let streams = 0;
retentionContract('nats', {
  skip: natsSkip,
  before: async () => {
    nats = await startNats();
  },
  after: async () => {
    await nats?.stop();
  },
  make: async (options) => {
    const e = natsEngine({ url: nats!.url, stream: `r${++streams}`, ...options });
    await e.ready;
    return e;
  },
  // Trimmed after the fact, once a class is over its bound by 2 % (at least one event).
  slack: 1,
});

const data = (events: readonly EngineEvent[]): string[] => events.map((e) => e.data);

// Redis entry ids are times: most ids between two entries name nothing, and an id that names
// nothing at or before the newest eviction may have been an evicted event's (a position to
// resume after). So that resuming cannot tell whether an entry exists at an id, an entry the
// reader may not see is answered as if it were not there: above every eviction as an unknown
// id, below the newest one as an id naming nothing at that point.
describe('redis: ids the reader may not see, among entry ids that name nothing', {
  skip: redisSkip,
}, () => {
  let server: TestRedis | undefined;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });

  test('answered exactly as the entry id right after it, which names nothing', async () => {
    const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 2 });
    const e = redisEngine({ url: server!.url, key: '{hidden}:events', retention: [busy] });
    await e.ready;
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 5));
    /** The entry id after `id` in the same millisecond. */
    const next = (id: string): string => {
      const [ms, seq] = id.split('-') as [string, string];
      return `${ms}-${BigInt(seq) + 1n}`;
    };
    try {
      await e.append({ topics: ['/feed'], data: 'f0' });
      const low = await e.append({ topics: ['/feed'], data: 'h0', private: true });
      await pause(); // the next entry has another millisecond: next(low.id) names nothing
      const after = await e.append({ topics: ['/feed'], data: 'f1' });
      assert.notEqual(after.id, next(low.id), 'the entry after it is a millisecond later');
      for (let i = 0; i < 8; i++) await e.append({ topics: [`/busy/${i}`], data: `b${i}` });
      await pause();
      const high = await e.append({ topics: ['/feed'], data: 'h1', private: true });
      await pause();
      await e.append({ topics: ['/feed'], data: 'f2' });
      const publicOnly = (ev: EngineEvent): boolean => !ev.private;
      for (const concerns of [undefined, (c: string) => c === DEFAULT_RETENTION_CLASS]) {
        const ask = (id: string) =>
          e.history({ after: id, visible: publicOnly, match: publicOnly, concerns });
        // Below the newest eviction (b5): a point to resume after, hidden or not there.
        const below = await ask(low.id);
        assert.deepEqual(below, await ask(next(low.id)));
        assert.deepEqual(data(below.events), ['f1', 'b6', 'b7', 'f2']);
        assert.equal(below.found, concerns !== undefined, 'busy events were evicted after it');
        // Above it: nothing was ever evicted there, so an id that names nothing is unknown —
        // and so is the hidden one.
        const unknown = await ask('never-published');
        assert.deepEqual(await ask(high.id), unknown);
        assert.deepEqual(await ask(next(high.id)), unknown);
        assert.equal(unknown.found, false);
        assert.deepEqual(data(unknown.events), ['b6', 'b7', 'f2']);
      }
    } finally {
      await e.close();
    }
  });
});
