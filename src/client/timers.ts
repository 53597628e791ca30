/**
 * The timer functions the client schedules reconnections and watchdogs with. Inject a fake
 * (see the tests) to drive time by hand; the default is the global `setTimeout`.
 */
export interface Timers {
  /** Calls `callback` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a pending call (a handle `setTimeout` returned, or `undefined`). */
  clearTimeout(handle: unknown): void;
}

/** The global timers (looked up at call time, so test frameworks that patch them still work). */
export const systemTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as Parameters<typeof clearTimeout>[0]),
};
