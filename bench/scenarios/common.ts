/** Steps the scenarios share: connecting subscribers, priming them, measuring CPU. */
import type { Counts } from '../generator/messages.js';
import { CpuMeter } from '../generator/proc.js';
import { Publisher } from '../generator/publisher.js';
import type { SubscribeRequest } from '../peers/types.js';
import type { ScenarioCase, ScenarioContext } from './types.js';

/** Connection attempts in flight over all workers while a scenario sets up. */
const SETUP_CONCURRENCY = 256;

/** Opens `count` subscribers with `request`; throws when any failed. */
export async function connectSubscribers(
  ctx: ScenarioContext,
  count: number,
  request: SubscribeRequest,
  sampleEvery: number,
): Promise<{ seconds: number }> {
  const result = await ctx.pool.connect(
    {
      port: ctx.peer.port,
      path: request.path,
      headers: request.headers,
      concurrency: SETUP_CONCURRENCY,
      sampleEvery,
      completeAt: 0,
      timeoutMs: 30_000,
    },
    count,
  );
  if (result.opened < count) {
    throw new Error(
      `only ${result.opened} of ${count} subscribers connected: ${result.counts.firstError ?? 'no error reported'}`,
    );
  }
  return { seconds: result.seconds };
}

/**
 * Publishes until every subscriber has received an event (so each is registered for
 * fan-out, whatever the server does between sending headers and registering), then for
 * `warmSeconds` more so both sides' JIT is warm, waits for the stream to settle, and zeroes the
 * counts.
 */
export async function prime(
  ctx: ScenarioContext,
  publisher: Publisher,
  subscribers: number,
  warmSeconds: number,
): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const error = await publisher.one();
    if (error !== undefined) throw new Error(`priming publish failed: ${error}`);
    const counts = await ctx.pool.counts();
    if (counts.primed >= subscribers) break;
    if (counts.dropped > 0 || performance.now() > deadline) {
      throw new Error(
        `only ${counts.primed} of ${subscribers} subscribers received an event while priming: ${counts.firstError ?? 'timeout'}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (warmSeconds > 0) await publisher.flood(warmSeconds, 2);
  await settle(ctx);
  await ctx.pool.reset();
}

/** Waits until no event arrived for a moment (at most 30 s). */
export async function settle(ctx: ScenarioContext): Promise<Counts> {
  const { counts } = await ctx.pool.waitFor(() => false, { quietMs: 300, maxMs: 30_000 });
  return counts;
}

/** CPU meters for the server's processes and for the generator (workers + this process). */
export function cpuMeters(ctx: ScenarioContext): { server: CpuMeter; generator: CpuMeter } {
  return {
    server: new CpuMeter(() => ctx.peer.pids()),
    generator: new CpuMeter(() => ctx.pool.pids, true),
  };
}

/** A publisher for this case's peer. */
export function publisherFor(ctx: ScenarioContext, c: ScenarioCase): Publisher {
  return new Publisher(ctx.peer.publish, c.eventBytes, Math.max(2, c.inflight));
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
