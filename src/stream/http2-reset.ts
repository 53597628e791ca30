import type { Http2Stream } from 'node:http2';

/**
 * Why a server HTTP/2 stream can lose its `'close'` event, and the guard against it.
 *
 * A GET's HEADERS frame carries END_STREAM: node pushes the end of the request body into the
 * stream's readable side at once, but `'end'` is only emitted once something reads it. When the
 * peer then resets the stream with RST_STREAM(NO_ERROR), node's `onStreamClose` does not destroy
 * a stream whose readable side is still open: it waits for `'end'` and then for the writable side
 * to finish (nodejs/node#27863). If the response still had data nghttp2 had not sent — the event
 * stream's headers and first comment, written a moment before the reset — that write never
 * completes: nghttp2 dropped the closed stream's data, and node completes the write only when it
 * destroys the stream's handle, which it does only once the write completed. So the stream is
 * never destroyed and emits no `'close'` (nor does node:http2's compatibility response), and
 * whatever waits for it waits forever. Any other error code destroys at once; a request that was
 * read before the reset (`req.resume()`) has ended its readable side, and is destroyed at once
 * too — which is why reading the request hides the bug, but only when the reading wins the race.
 *
 * The guard: when the readable side ends (`'end'`; node resumes an unread stream itself when it
 * closes) and the stream is already closed at the HTTP/2 level, nothing can be sent or received
 * on it any more, so a stream that is still not destroyed a loop turn later is destroyed. That
 * cancels the stuck write, frees the nghttp2 handle and emits `'close'`. A request body not yet
 * read is never dropped: `'end'` comes only after it was consumed.
 */

/** Marks a stream whose guard is installed (several layers may ask for it). */
const GUARDED = Symbol('herald.http2-reset-guard');

interface Guarded {
  [GUARDED]?: true;
}

// A shared listener (no closure per stream); `this` is the stream.
function onEnd(this: Http2Stream): void {
  if (this.closed && !this.destroyed) setImmediate(destroyIfStuck, this);
}

function destroyIfStuck(stream: Http2Stream): void {
  // A stream node destroyed in the meantime (the normal path) is left alone.
  if (!stream.destroyed) stream.destroy();
}

/**
 * Makes sure a server HTTP/2 stream reset by its peer is destroyed and emits `'close'` (see the
 * module comment for the node:http2 behaviour this works around). Idempotent; costs one
 * listener per stream and nothing until the stream ends.
 * @param stream - a server stream (`'stream'` event, or `Http2ServerResponse.stream`)
 * @internal
 */
export function guardPeerReset(stream: Http2Stream): void {
  const tagged = stream as Http2Stream & Guarded;
  if (tagged[GUARDED] === true || stream.destroyed) return;
  tagged[GUARDED] = true;
  stream.on('end', onEnd);
  // Closed and ended before the guard came: its 'end' is past.
  if (stream.closed && stream.readableEnded) setImmediate(destroyIfStuck, stream);
}
