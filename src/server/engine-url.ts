import type { Engine } from '../engines/index.js';
import { memoryEngine } from '../engines/index.js';
import type { ServerConfig } from './config.js';

/**
 * Builds the engine an `--engine` URL names. `memory:` is the in-process engine bounded by the
 * history options; `redis://` and `nats://` arrive with the scale-out engines.
 *
 * @throws Error naming the URL and the engines available
 */
export function createEngine(config: ServerConfig): Engine {
  const scheme = config.engine.split(':', 1)[0]!.toLowerCase();
  if (scheme === 'memory') {
    return memoryEngine({
      maxEvents: config.historySize,
      maxBytes: config.historyBytes,
      ttlMs: config.historyTtlMs,
    });
  }
  throw new Error(
    `engine ${JSON.stringify(config.engine)} is not available in this version of Herald: use --engine memory: (Redis and NATS engines are coming)`,
  );
}
