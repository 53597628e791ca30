import type { Timers } from './timers.js';

/** An idle timer: `kick()` restarts the countdown, `stop()` cancels it. */
export interface Watchdog {
  /** (Re)starts the countdown. */
  kick(): void;
  /** Cancels the countdown. */
  stop(): void;
}

/**
 * Creates a watchdog that calls `onIdle` when `kick()` has not been called for `ms`
 * milliseconds. With `ms` of 0 (or less, or not finite) it never fires.
 *
 * @param ms - the idle time allowed
 * @param timers - the timer functions
 * @param onIdle - called once per expired countdown
 */
export function createWatchdog(ms: number, timers: Timers, onIdle: () => void): Watchdog {
  let handle: unknown;
  const stop = (): void => timers.clearTimeout(handle);
  return {
    kick() {
      stop();
      if (ms > 0 && ms < Infinity) handle = timers.setTimeout(onIdle, ms);
    },
    stop,
  };
}
