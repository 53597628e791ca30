/**
 * CPU time and resident memory of processes, read from Linux's /proc, so the report can put the
 * server's and the generator's CPU use next to every figure.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux). */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds `pid` has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state): utime is
    // field 14 and stime field 15 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Resident set size of `pid` in bytes (VmRSS); 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** The children of `pid` (e.g. nginx's worker under its master). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU use of a set of processes over an interval, as a percentage of one core. */
export class CpuMeter {
  readonly #pids: () => readonly number[];
  readonly #self: boolean;
  #start = 0;
  #startCpu = 0;

  /**
   * @param pids - the processes to measure (read at start and stop)
   * @param includeSelf - add this process's own CPU time
   */
  constructor(pids: () => readonly number[], includeSelf = false) {
    this.#pids = pids;
    this.#self = includeSelf;
  }

  #total(): number {
    let seconds = 0;
    for (const pid of this.#pids()) seconds += cpuSeconds(pid);
    if (this.#self) {
      const own = process.cpuUsage();
      seconds += (own.user + own.system) / 1e6;
    }
    return seconds;
  }

  /** Starts (or restarts) the interval. */
  start(): void {
    this.#start = performance.now();
    this.#startCpu = this.#total();
  }

  /**
   * CPU seconds used since {@link CpuMeter.start}, and as a % of one core over the interval
   * (100 = one full core).
   */
  stop(): { seconds: number; percent: number } {
    const elapsed = (performance.now() - this.#start) / 1000;
    const seconds = this.#total() - this.#startCpu;
    return { seconds, percent: elapsed > 0 ? Math.round((seconds / elapsed) * 100) : 0 };
  }
}
