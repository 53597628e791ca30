/**
 * S1 fan-out: N subscribers on one topic; the publisher sends as fast as the server answers
 * (`inflight` requests at a time) for `seconds`, then the generator waits until every event has
 * arrived or nothing moved for 3 s. Delivered events/s counts from the first publish to the last
 * event received, so a server that accepts publishes faster than it writes them pays for its
 * backlog; lost = published × N − received, and must be 0.
 */
import { percentiles } from '../generator/histogram.js';
import { rssBytes } from '../generator/proc.js';
import { connectSubscribers, cpuMeters, prime, publisherFor, round } from './common.js';
import type { Scenario } from './types.js';

/** Latency is read on one subscriber in this many (the others only count). */
const SAMPLE_EVERY = 16;

export const fanout: Scenario = async (ctx, c) => {
  const n = c.connections;
  await connectSubscribers(ctx, n, ctx.peer.subscribe, SAMPLE_EVERY);
  const publisher = publisherFor(ctx, c);
  try {
    await prime(ctx, publisher, n, Math.min(1, c.seconds / 4));
    const cpu = cpuMeters(ctx);
    cpu.server.start();
    cpu.generator.start();
    const run = await publisher.flood(c.seconds, c.inflight);
    if (run.published === 0) throw new Error(`no publish succeeded: ${run.firstError}`);
    const expected = run.published * n;
    const waited = await ctx.pool.waitFor((counts) => counts.events >= expected, {
      quietMs: 3000,
      maxMs: 120_000,
    });
    const serverCpu = cpu.server.stop();
    const generatorCpu = cpu.generator.stop();
    const counts = waited.counts;
    const { latency } = await ctx.pool.collect();
    const lat = percentiles(latency);
    const publishSeconds = (run.endMicros - run.startMicros) / 1e6;
    const deliverSeconds =
      (Math.max(counts.lastEventMicros, run.endMicros) - run.startMicros) / 1e6;
    return {
      subscribers: n,
      published: run.published,
      publishFailures: run.failed,
      publishesPerSecond: round(run.published / publishSeconds),
      delivered: counts.events,
      deliveredPerSecond: round(counts.events / deliverSeconds),
      lost: Math.max(0, expected - counts.events),
      dropped: counts.dropped,
      drainSeconds: round(deliverSeconds - publishSeconds, 2),
      wireBytesPerEvent: counts.events > 0 ? round(counts.bytes / counts.events, 1) : 0,
      latencyP50Ms: lat.p50,
      latencyP99Ms: lat.p99,
      serverCpuPercent: serverCpu.percent,
      // Server CPU per delivered event: less sensitive to a busy machine than events/s.
      serverCpuMicrosPerEvent:
        counts.events > 0 ? round((serverCpu.seconds * 1e6) / counts.events, 2) : 0,
      generatorCpuPercent: generatorCpu.percent,
      serverRssMiB: round(rssBytes(ctx.peer.memoryPid) / 2 ** 20, 1),
    };
  } finally {
    publisher.close();
  }
};
