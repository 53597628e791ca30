// runtime.ts for the browser bundle (the build maps runtime.ts to this file): a browser, whose
// fetch has no timeouts of its own.

/** Whether this is a browser: the browser bundle runs in one. */
export const inBrowser = true;

/**
 * True for the errors a runtime's own fetch timeouts produce: a browser's fetch has none.
 *
 * @param _error - what fetch or a body read threw
 */
export function isRuntimeTimeout(_error: unknown): boolean {
  return false;
}
