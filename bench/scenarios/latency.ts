/**
 * S2 latency: N subscribers, `rate` publishes per second on a fixed schedule for `seconds`;
 * every subscriber reads the send stamp of every event, so the percentiles are over
 * N × published samples of publish → receive time (including the publish request itself).
 */
import { percentiles } from '../generator/histogram.js';
import { connectSubscribers, cpuMeters, prime, publisherFor } from './common.js';
import type { Scenario } from './types.js';

export const latency: Scenario = async (ctx, c) => {
  const n = c.connections;
  await connectSubscribers(ctx, n, ctx.peer.subscribe, 1);
  const publisher = publisherFor(ctx, c);
  try {
    await prime(ctx, publisher, n, 0.5);
    const cpu = cpuMeters(ctx);
    cpu.server.start();
    cpu.generator.start();
    const run = await publisher.paced(c.rate, c.seconds);
    if (run.published === 0) throw new Error(`no publish succeeded: ${run.firstError}`);
    const expected = run.published * n;
    const { counts } = await ctx.pool.waitFor((k) => k.events >= expected, {
      quietMs: 3000,
      maxMs: 60_000,
    });
    const serverCpu = cpu.server.stop();
    const generatorCpu = cpu.generator.stop();
    const lat = percentiles((await ctx.pool.collect()).latency);
    return {
      subscribers: n,
      published: run.published,
      publishFailures: run.failed,
      samples: lat.count,
      p50Ms: lat.p50,
      p90Ms: lat.p90,
      p99Ms: lat.p99,
      p999Ms: lat.p999,
      maxMs: lat.max,
      lost: Math.max(0, expected - counts.events),
      dropped: counts.dropped,
      serverCpuPercent: serverCpu.percent,
      generatorCpuPercent: generatorCpu.percent,
    };
  } finally {
    publisher.close();
  }
};
