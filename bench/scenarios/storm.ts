/**
 * S4 connect storm: on a fresh server holding `replay` events, N new subscribers connect as
 * fast as the generator can ask (256 attempts in flight) and each replays the whole history
 * (`Last-Event-ID` / nchan's oldest message). A subscription counts once its last replayed
 * event has arrived; the rate is N over the time from the first request to the last such event.
 */
import { percentiles } from '../generator/histogram.js';
import { cpuMeters, publisherFor, round } from './common.js';
import type { Scenario } from './types.js';

const STORM_CONCURRENCY = 256;

export const storm: Scenario = async (ctx, c) => {
  const n = c.connections;
  const publisher = publisherFor(ctx, c);
  try {
    const history = await publisher.sequence(c.replay);
    if (history.failed > 0) throw new Error(`publishing the history failed: ${history.firstError}`);
  } finally {
    publisher.close();
  }
  await ctx.pool.reset();
  const cpu = cpuMeters(ctx);
  cpu.server.start();
  cpu.generator.start();
  const result = await ctx.pool.connect(
    {
      port: ctx.peer.port,
      path: ctx.peer.replay.path,
      headers: ctx.peer.replay.headers,
      concurrency: STORM_CONCURRENCY,
      sampleEvery: 0,
      completeAt: c.replay,
      timeoutMs: 30_000,
    },
    n,
  );
  const serverCpu = cpu.server.stop();
  const generatorCpu = cpu.generator.stop();
  const counts = await ctx.pool.counts();
  const connect = percentiles((await ctx.pool.collect()).connect);
  if (result.opened < n) {
    throw new Error(
      `only ${result.opened} of ${n} subscribers received their ${c.replay} history events: ${counts.firstError ?? 'no error reported'}`,
    );
  }
  return {
    subscriptions: n,
    replayedEvents: counts.events,
    subscriptionsPerSecond: round(result.opened / result.seconds),
    seconds: round(result.seconds, 3),
    connectP50Ms: connect.p50,
    connectP99Ms: connect.p99,
    serverCpuPercent: serverCpu.percent,
    serverCpuMicrosPerSubscription: round((serverCpu.seconds * 1e6) / n),
    generatorCpuPercent: generatorCpu.percent,
  };
};
