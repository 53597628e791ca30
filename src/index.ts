/**
 * `herald`: real-time server push over Server-Sent Events, server side.
 *
 * - {@link createEventStream} answers a node:http / node:http2 request (or a raw HTTP/2 stream)
 *   with an event stream; {@link createEventStreamResponse} does the same for a Fetch-API
 *   `Request` and hands back a `Response`.
 * - Each {@link EventStream} sends events (`send`, or `sendBytes` for pre-encoded fan-out),
 *   keeps the connection alive with heartbeats, bounds what a slow client can make the server
 *   hold (`queueBytes`, `overflow`), and reports its close once (`onClose`, `signal`).
 *
 * - {@link createHub} adds topics (exact, `*`, URI templates), encode-once fan-out, bounded
 *   history and gap-free replay after `Last-Event-ID`, over an engine ({@link memoryEngine} by
 *   default).
 *
 * The wire format itself lives in `herald/protocol`.
 * @packageDocumentation
 */
export * from './engines/index.js';
export * from './hub/index.js';
export * from './stream/index.js';
