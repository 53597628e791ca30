// What depends on the runtime the client runs in. The browser bundle uses runtime.browser.ts
// instead (the build maps this file to it), where both answers are known in advance.

/**
 * Whether this is a browser (a page or a browser worker): there, fetch applies CORS and honours
 * the cache mode. Node, Deno and Bun have neither `document` nor `WorkerGlobalScope`.
 */
export const inBrowser =
  typeof document !== 'undefined' ||
  typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';

const UNDICI_TIMEOUT = /^UND_ERR_(BODY|HEADERS)_TIMEOUT$/;

/**
 * True for the errors undici's own body / headers timeouts produce (Node's fetch).
 *
 * @param error - what fetch or a body read threw
 */
export function isRuntimeTimeout(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' && UNDICI_TIMEOUT.test(cause.code);
}
