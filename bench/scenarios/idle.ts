/**
 * S3 idle connections: the server's resident memory before and after N idle subscribers have
 * connected (and a settling second), divided by N. RSS includes whatever garbage the
 * connections left that the garbage collector has not reclaimed yet (Node peers), and shared
 * memory nginx touched; it is what the operating system charges.
 */
import { rssBytes } from '../generator/proc.js';
import { connectSubscribers, cpuMeters, round } from './common.js';
import type { Scenario } from './types.js';

export const idle: Scenario = async (ctx, c) => {
  const n = c.connections;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = rssBytes(ctx.peer.memoryPid);
  const cpu = cpuMeters(ctx);
  cpu.server.start();
  cpu.generator.start();
  const { seconds } = await connectSubscribers(ctx, n, ctx.peer.subscribe, 0);
  const serverCpu = cpu.server.stop();
  const generatorCpu = cpu.generator.stop();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = rssBytes(ctx.peer.memoryPid);
  const counts = await ctx.pool.counts();
  return {
    connections: n,
    open: counts.open,
    rssBeforeMiB: round(before / 2 ** 20, 1),
    rssAfterMiB: round(after / 2 ** 20, 1),
    kibPerConnection: round((after - before) / n / 1024, 2),
    connectsPerSecond: round(n / seconds),
    serverCpuPercent: serverCpu.percent,
    serverCpuMicrosPerConnection: round((serverCpu.seconds * 1e6) / n),
    generatorCpuPercent: generatorCpu.percent,
  };
};
