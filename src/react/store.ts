import type { HeraldClientError } from '../client/errors.js';
import { subscribeHub } from '../client/hub.js';
import {
  type EventMap,
  type HeraldEventOf,
  type SubscribeOptions,
  type Subscription,
  subscribe,
} from '../client/subscribe.js';
import type { SubscriptionState, UseSubscriptionOptions } from './types.js';

/**
 * One component's stream and its state, outside React: the hook attaches it when its effect
 * runs and detaches it when the effect is cleaned up; React reads the state through
 * `useSyncExternalStore`. Events update the state whether or not a component is attached, so
 * nothing received between a detach and the next attach is lost.
 */
export interface SubscriptionStore<E extends EventMap> {
  /** The current state (the same object until something changes). */
  getSnapshot(): SubscriptionState<E>;
  /** Calls `listener` after every change; returns the function that removes it. */
  subscribe(listener: () => void): () => void;
  /**
   * Uses the stream `identity` names at `url` (none when `url` is `null`): keeps the open one
   * when it is the same stream, else closes it and opens this one.
   */
  attach(url: string | null, identity: string): void;
  /**
   * Lets go of the stream after the current task, unless `attach` takes it back first: React's
   * StrictMode cleans an effect up and runs it again at once, which must not reconnect.
   */
  detach(): void;
}

/**
 * What names a stream: a change of any of these opens a new one. Options that cannot be
 * compared by value (a `FormData` body) are left to `key`.
 *
 * @param url - the URL, or `null` for none
 * @param options - the hook's options
 */
export function streamIdentity(
  url: string | null,
  options: UseSubscriptionOptions<EventMap>,
): string {
  const { topics, method = 'GET', body, key } = options;
  return JSON.stringify([
    url,
    topics === undefined ? null : typeof topics === 'string' ? [topics] : topics,
    method.toUpperCase(),
    typeof body === 'string' ? body : null,
    key ?? null,
  ]);
}

/** The state of a stream that has received nothing yet. */
function initialState<E extends EventMap>(
  status: SubscriptionState<E>['status'],
  lastEventId: string,
): SubscriptionState<E> {
  return { status, data: undefined, event: undefined, events: [], lastEventId, error: undefined };
}

/** The latest `keep` events with `event` appended. */
function append<T>(events: readonly T[], event: T, keep: number): readonly T[] {
  const next = events.length >= keep ? events.slice(events.length - keep + 1) : events.slice();
  next.push(event);
  return next;
}

/**
 * Creates the store of one `useSubscription` call.
 *
 * @param url - the URL of the first render (`null` for none): the initial status
 * @param latest - returns the options of the latest render (read when a connection opens, and
 *   for callbacks, headers and the token on every call)
 */
export function createSubscriptionStore<E extends EventMap>(
  url: string | null,
  latest: () => UseSubscriptionOptions<E>,
): SubscriptionStore<E> {
  let state = initialState<E>(url === null ? 'closed' : 'connecting', latest().lastEventId ?? '');
  const listeners = new Set<() => void>();
  const update = (patch: Partial<SubscriptionState<E>>): void => {
    state = { ...state, ...patch };
    for (const listener of listeners) listener();
  };
  // The open stream, and the last one let go of (to resume it, or not, on the next attach).
  let current: { identity: string; sub?: Subscription<E> } | undefined;
  let left: { identity: string; lastEventId: string } | undefined;
  let releaseTimer: ReturnType<typeof setTimeout> | undefined;

  const release = (): void => {
    clearTimeout(releaseTimer);
    releaseTimer = undefined;
    const open = current;
    if (!open) return;
    current = undefined;
    left = { identity: open.identity, lastEventId: open.sub?.lastEventId ?? state.lastEventId };
    open.sub?.close();
    update({ status: 'closed' });
  };

  const open = (url: string, identity: string, lastEventId: string): void => {
    const {
      topics,
      token,
      key: _key,
      resume: _resume,
      keep: _keep,
      headers: _headers,
      ...options
    } = latest();
    const connection: { identity: string; sub?: Subscription<E> } = { identity };
    current = connection;
    const live = (): boolean => current === connection;
    const settings: SubscribeOptions<E> = {
      ...options,
      lastEventId,
      headers: () => {
        const headers = latest().headers;
        return typeof headers === 'function' ? headers() : headers;
      },
      onOpen(response) {
        if (live()) update({ status: 'open', error: undefined });
        latest().onOpen?.(response);
      },
      onEvent(event: HeraldEventOf<E>) {
        if (live()) {
          const keep = latest().keep ?? 0;
          update({
            data: event.data,
            event,
            events: keep > 0 ? append(state.events, event, keep) : state.events,
            lastEventId: event.lastEventId,
          });
        }
        latest().onEvent?.(event);
      },
      onError(error: HeraldClientError) {
        // A connection failure leaves readyState CONNECTING when it is retried; one event's
        // bad data leaves it as it was.
        if (live()) {
          update({ error, status: connection.sub?.readyState === 0 ? 'connecting' : state.status });
        }
        latest().onError?.(error);
      },
      onClose(reason) {
        // Ended by itself: it gave up (a reason), or an abort signal passed in the options.
        if (live()) {
          current = undefined;
          left = { identity, lastEventId: connection.sub?.lastEventId ?? state.lastEventId };
          update(reason ? { status: 'error', error: reason } : { status: 'closed' });
        }
        latest().onClose?.(reason);
      },
      onGap: (gap) => latest().onGap?.(gap),
      onInvalid: (info) => latest().onInvalid?.(info),
    };
    try {
      connection.sub =
        topics === undefined
          ? subscribe<E>(url, settings)
          : subscribeHub<E>(url, {
              ...settings,
              topics,
              token:
                token === undefined
                  ? undefined
                  : () => {
                      const value = latest().token ?? token;
                      return typeof value === 'function' ? value() : value;
                    },
            });
    } catch (error) {
      // An invalid URL or lastEventId (a TypeError): reported, not thrown into React.
      current = undefined;
      update({ status: 'error', error: error as TypeError });
    }
  };

  return {
    getSnapshot: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    attach(url, identity) {
      clearTimeout(releaseTimer);
      releaseTimer = undefined;
      if (current?.identity === identity) return;
      release();
      if (url === null) {
        // No stream: the state stays as it was, to be resumed if the same stream comes back.
        update({ status: 'closed' });
        return;
      }
      const options = latest();
      // The stream last let go of resumes where it was left; another one only with `resume`.
      const from =
        left && (left.identity === identity || options.resume) ? left.lastEventId : undefined;
      if (from === undefined) state = initialState('connecting', options.lastEventId ?? '');
      update({ status: 'connecting', error: undefined });
      open(url, identity, from ?? options.lastEventId ?? '');
    },
    detach() {
      clearTimeout(releaseTimer);
      releaseTimer = setTimeout(release, 0);
    },
  };
}
