import type { Engine } from '../engines/index.js';
import { memoryEngine } from '../engines/index.js';
import type { ServerConfig } from './config.js';

/**
 * Builds the engine an `--engine` URL names: `memory:` is the in-process engine bounded by the
 * history options; `redis://` / `rediss://` is the Redis Streams engine (loaded only when
 * chosen, so the memory engine never loads ioredis). `nats://` arrives with the NATS engine.
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
    // The stream's count and age bounds; Redis cannot trim by size (see engines/redis.ts).
    return redisEngine({
      url: config.engine,
      maxEvents: config.historySize,
      ttlMs: config.historyTtlMs,
    });
  }
  throw new Error(
    `engine ${JSON.stringify(config.engine)} is not available in this version of Herald: use --engine memory: or --engine redis://host:port (the NATS engine is coming)`,
  );
}
