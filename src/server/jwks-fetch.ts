/**
 * Fetching a JSON Web Key Set within bounds. The JWKS server is configured by the operator, but
 * what it answers is not under the hub's control (a misconfigured or compromised server, a
 * proxy's error page, a redirect to something else): a 300 MB answer was once read whole
 * (+620 MB RSS). So its size is bounded — counted in decoded bytes, so that a compressed answer
 * cannot inflate past the bound either — and so is the time to get all of it, body included.
 * @packageDocumentation
 */

/** The default bound of a JWKS response body, in bytes (`--jwks-max-bytes`). */
export const DEFAULT_JWKS_MAX_BYTES = 1024 * 1024;
/** The default bound of a JWKS fetch, headers and body, in ms (`--jwks-timeout`). */
export const DEFAULT_JWKS_TIMEOUT_MS = 5000;

/** A JWKS response larger than the bound. */
export class JwksTooLargeError extends Error {
  /** The bound, in bytes. */
  readonly maxBytes: number;

  /**
   * @param maxBytes - the bound
   * @param declared - the `Content-Length` it announced, when that is what gave it away
   */
  constructor(maxBytes: number, declared?: number) {
    super(
      declared === undefined
        ? `the response is larger than ${maxBytes} bytes (--jwks-max-bytes); it was not read further`
        : `the response announces ${declared} bytes, more than ${maxBytes} (--jwks-max-bytes); it was not read`,
    );
    this.name = 'JwksTooLargeError';
    this.maxBytes = maxBytes;
  }
}

/**
 * A `fetch` that reads at most `maxBytes` of the response body (decoded) and hands back a
 * `Response` holding them; past the bound it cancels the body and throws
 * {@link JwksTooLargeError}. The caller's `signal` (jose passes a timeout) covers the body too:
 * the body is read here, before the promise resolves.
 * @param maxBytes - the bound of the body
 * @param fetchImpl - the underlying fetch (the global one by default)
 */
export function boundedFetch(
  maxBytes: number,
  fetchImpl: typeof fetch = fetch,
): (url: string, init: RequestInit) => Promise<Response> {
  return async (url, init) => {
    const response = await fetchImpl(url, init);
    if (response.status !== 200) {
      // Refused by the caller anyway (a JWKS is a 200): not worth reading. (Cancelling is not
      // awaited: it may wait for the server, which is what the bounds are about.)
      response.body?.cancel().catch(() => {});
      return new Response(null, { status: response.status, statusText: response.statusText });
    }
    const length = response.headers.get('content-length');
    const declared = length === null ? Number.NaN : Number(length);
    // A compressed body's Content-Length is its compressed size: only the decoded count is
    // conclusive, but a plain announcement past the bound needs no reading at all.
    if (
      Number.isFinite(declared) &&
      declared > maxBytes &&
      response.headers.get('content-encoding') === null
    ) {
      response.body?.cancel().catch(() => {});
      throw new JwksTooLargeError(maxBytes, declared);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (response.body !== null) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          reader.cancel().catch(() => {});
          throw new JwksTooLargeError(maxBytes);
        }
        chunks.push(value);
      }
    }
    const body = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      body.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return new Response(body, { status: 200, statusText: response.statusText });
  };
}
