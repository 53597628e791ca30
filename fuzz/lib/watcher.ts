// A subscriber for the fuzzers that keeps every event it receives, so a target can assert
// exactly what reached the wire (with `topic=*` and a token whose `mercure.subscribe` is `*`, it
// sees everything).
import { type ClientRequest, get } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** An open subscription and what it received. */
export interface Watcher {
  /** Every event received so far, in order. */
  readonly events: EventSourceMessage[];
  /** Resolves once an event with id `id` arrived (rejects after `ms`). */
  waitFor(id: string, ms?: number): Promise<void>;
  /** Closes the subscription. */
  close(): void;
}

/**
 * Subscribes to `topics` at `url` with `token` (none: anonymous), resuming after `lastEventId`
 * when given; resolves once the hub answered 200.
 */
export function watch(
  url: string,
  token: string | undefined,
  topics: readonly string[] = ['*'],
  lastEventId?: string,
): Promise<Watcher> {
  const events: EventSourceMessage[] = [];
  const waiters = new Map<string, () => void>();
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
  return new Promise((resolve, reject) => {
    const req: ClientRequest = get(
      `${url}/.well-known/mercure?${query}`,
      {
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
        },
        agent: false,
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`the watcher was refused: ${res.statusCode}`));
          res.resume();
          return;
        }
        const parser = createParser({
          onEvent: (event) => {
            events.push(event);
            if (event.id !== undefined) {
              waiters.get(event.id)?.();
              waiters.delete(event.id);
            }
          },
        });
        res.setEncoding('utf8').on('data', (chunk: string) => parser.feed(chunk));
        resolve({
          events,
          waitFor(id, ms = 10_000) {
            if (events.some((e) => e.id === id)) return Promise.resolve();
            return new Promise<void>((done, fail) => {
              const timer = setTimeout(() => {
                waiters.delete(id);
                fail(new Error(`the watcher did not receive ${id} within ${ms} ms`));
              }, ms);
              waiters.set(id, () => {
                clearTimeout(timer);
                done();
              });
            });
          },
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
  });
}
