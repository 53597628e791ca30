// Why a server refused a stream, in its own words: from a short plain-text or JSON body, or an
// RFC 6750 `WWW-Authenticate` error description.

import type { Timers } from './timers.js';

/** The most of a refusal's body that is read, in bytes. */
export const MAX_REASON_BYTES = 4096;

/** How long a refusal's body is waited for, in ms: a body that trickles gives what came by then. */
const MAX_REASON_MS = 2000;

/** The reason of a JSON body: `reason`, `message`, `error` (a string, or an object's `message`). */
function jsonReason(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as Record<string, unknown> | null;
    for (const value of [body?.reason, body?.message, body?.error]) {
      if (typeof value === 'string') return value;
      const nested = (value as { message?: unknown } | null | undefined)?.message;
      if (typeof nested === 'string') return nested;
    }
  } catch {}
  return undefined;
}

/**
 * Reads up to {@link MAX_REASON_BYTES} of `body` within 2 s, then cancels the rest: what
 * {@link refusalReason} reads of a refused response (the shared mode's worker hands these bytes
 * to the tabs, whose `refusalReason` reads them as if from the network).
 *
 * @param body - the refused response's body
 * @param timers - for the deadline
 */
export async function readRefusal(
  body: ReadableStream<Uint8Array>,
  timers: Timers,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader();
  const bytes = new Uint8Array(MAX_REASON_BYTES);
  let length = 0;
  // Cancelling ends a pending read as done.
  const timer = timers.setTimeout(() => reader.cancel().catch(() => {}), MAX_REASON_MS);
  try {
    while (length < MAX_REASON_BYTES) {
      const chunk = await reader.read();
      if (chunk.done) break;
      const part = chunk.value.subarray(0, MAX_REASON_BYTES - length);
      bytes.set(part, length);
      length += part.length;
    }
  } finally {
    timers.clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
  return bytes.subarray(0, length);
}

/**
 * The reason a refused response gives, on one line, or `undefined`: a `text/plain` body, a JSON
 * body's `reason` / `message` / `error` (or `error.message`), else the `error_description` of a
 * `WWW-Authenticate` challenge. At most {@link MAX_REASON_BYTES} of the body are read, for at
 * most 2 s; the body is always consumed or cancelled, and a body that breaks off gives no reason.
 *
 * @param response - the refused response
 * @param timers - for the deadline
 */
export async function refusalReason(
  response: Response,
  timers: Timers,
): Promise<string | undefined> {
  const type = (response.headers.get('content-type') ?? '').toLowerCase();
  const json = /^application\/([\w.-]+\+)?json\b/.test(type);
  let reason: string | undefined;
  if (response.body) {
    if (json || type.startsWith('text/plain')) {
      try {
        const text = new TextDecoder().decode(await readRefusal(response.body, timers));
        reason = json ? jsonReason(text) : text;
      } catch {}
    } else {
      response.body.cancel().catch(() => {});
    }
  }
  // RFC 6750 §3: error_description, "a human-readable ASCII text providing additional
  // information".
  reason ||= /error_description="([^"]*)"/.exec(
    response.headers.get('www-authenticate') ?? '',
  )?.[1];
  // One line: control characters (line breaks too) become spaces.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what is replaced
  return reason?.replace(/[\0-\x1f\x7f]+/g, ' ').trim() || undefined;
}
