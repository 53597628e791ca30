import { resolveUrl } from './request.js';
import {
  type EventMap,
  type StringEvents,
  type SubscribeOptions,
  type Subscription,
  subscribe,
} from './subscribe.js';

/** Options of {@link subscribeHub}: the topics and credentials, plus every {@link subscribe} option. */
export interface SubscribeHubOptions<E extends EventMap = StringEvents>
  extends SubscribeOptions<E> {
  /** Topic selectors: exact topics, `*`, or URI templates (one `topic` query parameter each). */
  topics: string | readonly string[];
  /**
   * A subscriber JWT, sent as `Authorization: Bearer …`; a function is called before every
   * attempt, so a refreshed token is used on reconnection.
   */
  token?: string | (() => string | Promise<string>);
}

/**
 * Subscribes to a Mercure-compatible hub (such as `herald serve`): builds the subscription URL
 * (`?topic=…` once per selector), sends the token as a bearer header and resumes after
 * `lastEventId`.
 *
 * ```ts
 * const sub = subscribeHub('https://hub.example/.well-known/mercure', {
 *   topics: ['/books/{id}'],
 *   token,
 *   json: true,
 *   onGap: ({ oldestAvailable }) => reloadEverything(oldestAvailable),
 * });
 * ```
 *
 * @param hubUrl - the hub's URL, usually ending in `/.well-known/mercure`
 * @param options - topics, token, and the {@link SubscribeOptions}
 */
export function subscribeHub<E extends EventMap = StringEvents>(
  hubUrl: string | URL,
  options: SubscribeHubOptions<E>,
): Subscription<E> {
  const { topics, token, headers, ...rest } = options;
  const url = resolveUrl(hubUrl);
  for (const topic of typeof topics === 'string' ? [topics] : topics) {
    url.searchParams.append('topic', topic);
  }
  return subscribe<E>(url, {
    ...rest,
    headers:
      token === undefined
        ? headers
        : async () => {
            const merged = new Headers(typeof headers === 'function' ? await headers() : headers);
            merged.set(
              'authorization',
              `Bearer ${typeof token === 'function' ? await token() : token}`,
            );
            return merged;
          },
  });
}
