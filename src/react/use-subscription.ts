import { useEffect, useInsertionEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { EventMap, StringEvents } from '../client/subscribe.js';
import { createSubscriptionStore, streamIdentity } from './store.js';
import type { SubscriptionState, UseSubscriptionOptions } from './types.js';

/**
 * Subscribes a component to an event stream with `subscribe()` from `herald/client` (or, with
 * `topics`, to a Mercure hub as `subscribeHub()` does) and returns its latest state.
 *
 * ```tsx
 * function Ticker() {
 *   const { data, status } = useSubscription<{ tick: Quote }>('/quotes', { json: true });
 *   return <p>{status === 'open' ? data?.price : status}</p>;
 * }
 * ```
 *
 * - One connection per mounted component: React's StrictMode, which mounts, cleans up and
 *   mounts again, keeps the same connection (a later re-mount with the same stream resumes it
 *   after its last event ID).
 * - Re-rendering does not reconnect. Only a change of the URL, `topics`, `method`, a string
 *   `body` or `key` opens a new stream: afresh, or after the last event ID with `resume`.
 * - Unmounting closes the stream. A dropped connection reconnects with `Last-Event-ID`, so
 *   nothing is lost or repeated.
 *
 * @param url - the stream's URL (relative to the page), or `null` / `undefined` for no stream
 * @param options - `subscribe()`'s options and the hook's (see {@link UseSubscriptionOptions})
 * @returns the stream's status, latest event and data, kept events, last event ID and error
 */
export function useSubscription(
  url: string | URL | null | undefined,
  options?: UseSubscriptionOptions<StringEvents> & { json?: false },
): SubscriptionState<StringEvents>;
/**
 * Subscribes with a typed event map: `useSubscription<{ tick: Quote }>(url, { json: true })`
 * gives `data: Quote | undefined`.
 *
 * @param url - the stream's URL, or `null` / `undefined` for no stream
 * @param options - see {@link UseSubscriptionOptions}
 * @returns the stream's state
 */
export function useSubscription<E extends EventMap>(
  url: string | URL | null | undefined,
  options?: UseSubscriptionOptions<E>,
): SubscriptionState<E>;
export function useSubscription<E extends EventMap>(
  url: string | URL | null | undefined,
  options: UseSubscriptionOptions<E> = {},
): SubscriptionState<E> {
  const href = url == null ? null : String(url);
  // Callbacks and headers come from the latest committed render, so that passing new ones
  // (inline functions, a refreshed token) never reconnects.
  const latest = useRef(options);
  useInsertionEffect(() => {
    latest.current = options;
  });
  const [store] = useState(() => createSubscriptionStore<E>(href, () => latest.current));
  const identity = streamIdentity(href, options as UseSubscriptionOptions<EventMap>);
  useEffect(() => {
    store.attach(href, identity);
    return () => store.detach();
  }, [store, href, identity]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
