// Retention classes in every engine (the contract suite of test/helpers/engine-contract.ts):
// memory in process, Redis Streams and NATS JetStream against real servers on free ports.
import { memoryEngine } from '../../src/engines/memory.js';
import { natsEngine } from '../../src/engines/nats.js';
import { redisEngine } from '../../src/engines/redis.js';
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
