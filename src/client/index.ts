/**
 * `herald/client`: a spec-exact `EventSource` and `subscribe()` with the extras applications
 * need, for Node ≥ 20, browsers, workers, Deno and Bun. Web-platform APIs only (fetch,
 * ReadableStream, TextDecoder, EventTarget, AbortController); no runtime dependencies.
 *
 * - {@link EventSource}: the WHATWG interface, to the letter.
 * - {@link subscribe}: headers, POST bodies, backoff with jitter, heartbeat watchdog, dedupe,
 *   JSON + Standard Schema validation, async iteration, gap reports, visibility pausing.
 * - {@link subscribeHub}: the same against a Mercure-compatible hub.
 * - {@link sharedConnection}: their `shared` option, one connection for all tabs of an origin.
 * @packageDocumentation
 */
export { type BackoffPolicy, backoffDelay } from './backoff.js';
export type { ReadyState } from './connection.js';
export {
  HeraldClientError,
  type HeraldClientErrorCode,
  type HeraldClientErrorDetails,
} from './errors.js';
export {
  type EventHandlerValue,
  EventSource,
  type EventSourceEventMap,
  type HeraldEventSourceInit,
} from './event-source.js';
export { type SubscribeHubOptions, subscribeHub } from './hub.js';
export type { FetchLike } from './request.js';
export { type SharedOptions, sharedConnection } from './shared.js';
export type { StandardSchemaV1 } from './standard-schema.js';
export {
  type EventMap,
  type GapInfo,
  type HeadersLike,
  type HeraldEvent,
  type HeraldEventOf,
  type InvalidEventInfo,
  type SharedMode,
  type StringEvents,
  type SubscribeOptions,
  type Subscription,
  subscribe,
  type VisibilitySource,
} from './subscribe.js';
export type { Timers } from './timers.js';
