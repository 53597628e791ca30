// The stream API: one Server-Sent Events response (headers, heartbeat, bounded queue with
// backpressure, close), used directly by applications and by the hub for each subscriber.
// Re-exported by the `herald` entry point (src/index.ts).
export { ByteBudget } from './byte-budget.js';
export { createEventStream } from './create-event-stream.js';
export { HeraldStreamError, type HeraldStreamErrorCode } from './errors.js';
export { createEventStreamResponse } from './fetch.js';
export { EVENT_STREAM_CONTENT_TYPE } from './headers.js';
export { LAST_EVENT_ID_QUERY_PARAM } from './last-event-id.js';
export type { NodeRequest, NodeResponse } from './node.js';
export { DEFAULT_HEARTBEAT_MS, DEFAULT_QUEUE_BYTES, DEFAULT_STALL_TIMEOUT_MS } from './options.js';
export type {
  CloseReason,
  EventStream,
  EventStreamOptions,
  FetchEventStream,
  HeaderValue,
  OverflowInfo,
  OverflowPolicy,
} from './types.js';
