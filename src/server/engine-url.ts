import type { Engine, RetentionClass } from '../engines/index.js';
import { memoryEngine } from '../engines/index.js';
import { retentionClass } from '../hub/index.js';
import type { ServerConfig } from './config.js';
import { SUBSCRIPTION_TOPICS } from './subscriptions.js';

/**
 * The retention classes of `--history-topic`, in order; with `--subscriptions`, the
 * subscription events' class first (its bounds: the global ones, unless an entry names its
 * selector); a class without bytes gets `--history-bytes`.
 */
export function retentionClasses(config: ServerConfig): RetentionClass[] {
  const topics = [...config.historyTopics];
  if (config.subscriptions && !topics.some((t) => t.selector === SUBSCRIPTION_TOPICS)) {
    topics.unshift({
      selector: SUBSCRIPTION_TOPICS,
      maxEvents: config.historySize,
      maxBytes: undefined,
    });
  }
  const own = topics.findIndex((t) => t.selector === SUBSCRIPTION_TOPICS);
  if (own > 0) topics.unshift(...topics.splice(own, 1));
  return topics.map((t) =>
    retentionClass({
      selector: t.selector,
      maxEvents: t.maxEvents,
      maxBytes: t.maxBytes ?? config.historyBytes,
    }),
  );
}

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
      retention: retentionClasses(config),
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
      retention: retentionClasses(config),
      // The hub logs live gaps (and closes the subscriptions they concern): no process warning.
      onLiveGap: () => {},
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
      retention: retentionClasses(config),
      onLiveGap: () => {},
    });
  }
  throw new Error(
    `engine ${JSON.stringify(config.engine)} is not available in this version of Herald: use --engine memory:, --engine redis://host:port or --engine nats://host:port`,
  );
}
