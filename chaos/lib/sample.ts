// What the chaos and soak harnesses measure of the hub's process: memory, live handles and file
// descriptors. Taken inside the process (heap and handles are only visible from there).
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let lastElu = performance.eventLoopUtilization();

/** One measurement of a process. */
export interface ProcessSample {
  /** `Date.now()` when taken. */
  at: number;
  /** Resident set size, bytes. */
  rss: number;
  /** V8 heap in use, bytes (after a full GC when asked and available). */
  heapUsed: number;
  /** Memory of Buffers and ArrayBuffers outside the V8 heap, bytes. */
  external: number;
  /** `process.getActiveResourcesInfo().length`: timers, sockets, servers… keeping it alive. */
  handles: number;
  /** The active resources by type (`TCPSocketWrap: 1003`, `Timeout: 12`, …). */
  handleTypes: Record<string, number>;
  /** Open file descriptors (`/proc/self/fd`); -1 where /proc is not available. */
  fds: number;
  /** CPU time used so far (user + system), microseconds. */
  cpu: number;
  /** Longest event-loop delay since the previous sample, ms. */
  loopDelayMax: number;
  /** Event-loop utilization since the previous sample, 0–1. */
  elu: number;
}

/** A full GC, when the process runs with `--expose-gc`. */
function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
}

/** Counts this process's open file descriptors (Linux), or -1. */
function countFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

/**
 * Measures the calling process.
 * @param gc - run a full garbage collection first (needs `--expose-gc`), so heap figures are
 *   live objects rather than garbage waiting to be collected
 */
export function sampleSelf(gc = false): ProcessSample {
  if (gc) collect();
  const memory = process.memoryUsage();
  const resources = process.getActiveResourcesInfo();
  const handleTypes: Record<string, number> = {};
  for (const type of resources) handleTypes[type] = (handleTypes[type] ?? 0) + 1;
  const sample: ProcessSample = {
    at: Date.now(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    handles: resources.length,
    handleTypes,
    fds: countFds(),
    cpu: (() => {
      const { user, system } = process.cpuUsage();
      return user + system;
    })(),
    loopDelayMax: delay.max / 1e6,
    elu: (() => {
      const now = performance.eventLoopUtilization();
      const since = performance.eventLoopUtilization(now, lastElu);
      lastElu = now;
      return since.utilization;
    })(),
  };
  delay.reset();
  return sample;
}
