import type { Engine } from '../engines/index.js';
import { memoryEngine } from '../engines/index.js';
import type { ServerConfig } from './config.js';

/**
 * Builds the engine an `--engine` URL names: `memory:` is the in-process engine bounded by the
 * history options; `redis://` / `rediss://` is the Redis Streams engine (loaded only when
 * chosen, so the memory engine never loads ioredis); `nats://host:port[?stream=name]` is the
 * NATS JetStream engine (loaded only when chosen too).
 *
 * @throws Error naming the URL and the engines available
 */
export async function createEngine(config: ServerConfig): Promise<Engine> {
  const scheme = config.engine.split(':', 1)[0]!.toLowerCase();
  if (scheme === 'memory') {
    return memoryEngine({
      maxEvents: config.historySize,
      maxBytes: config.historyBytes,
      ttlMs: config.historyTtlMs,
    });
  }
  if (['redis', 'rediss', 'redis+sentinel', 'redis+cluster'].includes(scheme)) {
    const { redisEngine } = await import('../engines/redis.js');
    // Count, bytes and age: the append script trims by all three (see engines/redis.ts).
    return redisEngine({
      url: config.engine,
      maxEvents: config.historySize,
      maxBytes: config.historyBytes,
      ttlMs: config.historyTtlMs,
    });
  }
  if (scheme === 'nats') {
    const { natsEngine } = await import('../engines/nats.js');
    // `?stream=<name>` picks the JetStream stream (default `herald`); the rest is the server.
    const url = new URL(config.engine);
    const stream = url.searchParams.get('stream') ?? undefined;
    url.search = '';
    // Count, bytes and age are all stream limits, enforced by the server (see engines/nats.ts).
    return natsEngine({
      url: url.href,
      stream,
      maxEvents: config.historySize,
      maxBytes: config.historyBytes,
      ttlMs: config.historyTtlMs,
    });
  }
  throw new Error(
    `engine ${JSON.stringify(config.engine)} is not available in this version of Herald: use --engine memory:, --engine redis://host:port or --engine nats://host:port`,
  );
}
