import { constants, type Http2ServerRequest } from 'node:http2';
import type { NodeRequest, NodeResponse } from '../stream/index.js';

/** An HTTP error a handler answers with: a status and a reason a person can act on. */
export class HttpError extends Error {
  /** The HTTP status code. */
  readonly status: number;
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`, …). */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * @param status - the HTTP status code
   * @param reason - the response body: what was wrong and what to do
   * @param headers - extra response headers
   */
  constructor(status: number, reason: string, headers: Readonly<Record<string, string>> = {}) {
    super(reason);
    this.name = 'HttpError';
    this.status = status;
    this.headers = headers;
  }
}

/** Answers `res` with a plain-text body (no-op when the response already started). */
export function sendText(
  res: NodeResponse,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body.endsWith('\n') ? body : `${body}\n`);
}

/** Answers `res` with a JSON body. */
export function sendJson(
  res: NodeResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Answers `res` with an {@link HttpError}'s status, headers and reason, plus `extraHeaders`. */
export function sendError(
  res: NodeResponse,
  error: HttpError,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  sendText(res, error.status, error.message, { ...extraHeaders, ...error.headers });
}

/**
 * Reads a request body up to `limit` bytes, within `timeoutMs` (0 = no deadline).
 *
 * The deadline bounds a client that trickles its body (slowloris); over HTTP/1.1 node:http's
 * request timeout bounds the same thing from the connection's side, over HTTP/2 this is the
 * only bound: the stream is reset shortly after the 408 went out.
 *
 * @throws HttpError 413 when the body is larger, 408 when it does not arrive in time, 400 when
 *   the client aborts mid-body
 */
export function readBody(req: NodeRequest, limit: number, timeoutMs = 0): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(tooLarge(limit, req));
  }
  // The client may be gone before the body is read (it left while the token was verified):
  // its 'aborted' / 'close' events have fired already and will not fire again.
  if (req.destroyed) return Promise.reject(cutOff());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(tooLarge(limit, req));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(cutOff());
    };
    const onAborted = (): void => onError();
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            cleanup();
            reject(tooSlow(timeoutMs, req));
          }, timeoutMs)
        : undefined;
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function tooSlow(timeoutMs: number, req: NodeRequest): HttpError {
  if (req.httpVersionMajor === 2) {
    // The client may go on trickling: once the 408 had a moment to leave, end the stream.
    const stream = (req as Http2ServerRequest).stream;
    setTimeout(() => {
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    }, 1000).unref();
  }
  return new HttpError(
    408,
    `the request body did not arrive within ${timeoutMs} ms (--request-timeout); send the whole request at once`,
    req.httpVersionMajor === 1 ? { connection: 'close' } : {},
  );
}

function cutOff(): HttpError {
  return new HttpError(400, 'the request body was cut off before its end');
}

function tooLarge(limit: number, req: NodeRequest): HttpError {
  return new HttpError(
    413,
    `request body too large: the limit is ${limit} bytes (--max-body-bytes); send less data per update`,
    // The rest of the body is not read: on HTTP/1.x end the connection rather than keep
    // draining it (HTTP/2 resets just the stream, and forbids the header).
    req.httpVersionMajor === 1 ? { connection: 'close' } : {},
  );
}
