// The store behind useSubscription (herald/react), in Node against Herald's hub over real
// sockets: what the Chromium test does not reach — no URL, the same stream coming back after a
// pause, a stream that gives up, an invalid URL, bad data, `keep`, and what names a stream.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { EventMap } from '../../src/client/index.js';
import { createHub, type Hub, type Subscription } from '../../src/index.js';
import { createSubscriptionStore, streamIdentity } from '../../src/react/store.js';
import type { SubscriptionState, UseSubscriptionOptions } from '../../src/react/types.js';
import { Collector, deferred, withTimeout } from '../helpers/async.js';
import { closeServer, listen } from '../helpers/net.js';

/** One server-side connection. */
interface Connection {
  sub: Subscription;
  topics: string[];
  lastEventId: string | undefined;
  closed: Promise<void>;
}

let hub: Hub;
let server: http.Server;
let origin: string;
const connections = new Collector<Connection>();

before(async () => {
  hub = createHub({ heartbeatMs: 0 });
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/events') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such stream');
      return;
    }
    const closed = deferred();
    const topics = url.searchParams.getAll('topic');
    const header = req.headers['last-event-id'];
    connections.push({
      sub: hub.subscribe(req, res, { topics, onClose: () => closed.resolve() }),
      topics,
      lastEventId: typeof header === 'string' ? header : undefined,
      closed: closed.promise,
    });
  });
  origin = `http://127.0.0.1:${await listen(server)}`;
});

after(async () => {
  await hub.close();
  await closeServer(server);
});

/** A store with fixed options, as one component with unchanging props would have. */
function storeOf<E extends EventMap>(url: string | null, options: UseSubscriptionOptions<E>) {
  const store = createSubscriptionStore<E>(url, () => options);
  const attach = (next: string | null, nextOptions: UseSubscriptionOptions<E> = options): void => {
    options = nextOptions;
    store.attach(next, streamIdentity(next, options as UseSubscriptionOptions<EventMap>));
  };
  /** Resolves with the state once `check` holds. */
  const until = (check: (state: SubscriptionState<E>) => boolean, what: string) => {
    if (check(store.getSnapshot())) return Promise.resolve(store.getSnapshot());
    const reached = deferred<SubscriptionState<E>>();
    const stop = store.subscribe(() => {
      if (check(store.getSnapshot())) reached.resolve(store.getSnapshot());
    });
    return withTimeout(reached.promise, what).finally(stop);
  };
  return { store, attach, until };
}

const fast = { minDelayMs: 5, maxDelayMs: 20 };
const numbers = (state: SubscriptionState<{ tick: number }>): number[] =>
  state.events.map((event) => event.data);

describe('the useSubscription store', () => {
  test('no URL, no connection; the same stream back after a pause resumes, another starts afresh', async () => {
    const start = connections.items.length;
    const { store, attach, until } = storeOf<{ tick: number }>(null, {
      topics: 'pause',
      json: true,
      keep: 10,
      ...fast,
    });
    assert.equal(store.getSnapshot().status, 'closed');
    attach(null);
    assert.equal(store.getSnapshot().status, 'closed');

    const url = `${origin}/events`;
    attach(url);
    assert.equal(store.getSnapshot().status, 'connecting');
    const [first] = (await connections.count(start + 1, 'the first connection')).slice(start);
    await first!.sub.ready;
    await until((state) => state.status === 'open', 'open');
    const one = (await hub.publish({ topics: 'pause', type: 'tick', data: 1 })).id;
    await until((state) => state.events.length === 1, 'one event');
    assert.equal(connections.items.length, start + 1, 'no connection while there was no URL');

    // A pause (no URL) closes the connection and keeps the state.
    attach(null);
    await first!.closed;
    assert.equal(store.getSnapshot().status, 'closed');
    assert.deepEqual(numbers(store.getSnapshot()), [1]);
    await hub.publish({ topics: 'pause', type: 'tick', data: 2 });

    // The same stream back: resumed after the last event, what was missed comes once.
    attach(url);
    const [, second] = (await connections.count(start + 2, 'the resumption')).slice(start);
    assert.equal(second!.lastEventId, one);
    await hub.publish({ topics: 'pause', type: 'tick', data: 3 });
    const resumed = await until((state) => state.events.length === 3, 'three events');
    assert.deepEqual(numbers(resumed), [1, 2, 3]);
    assert.equal(resumed.status, 'open');

    // Another stream without `resume`: no Last-Event-ID, an empty state.
    attach(url, { topics: 'other', json: true, keep: 10, ...fast });
    assert.deepEqual(store.getSnapshot().events, []);
    assert.equal(store.getSnapshot().lastEventId, '');
    const [, , third] = (await connections.count(start + 3, 'the other stream')).slice(start);
    await second!.closed;
    assert.equal(third!.lastEventId, undefined);
    assert.deepEqual(third!.topics, ['other']);

    store.detach();
    await third!.closed;
  });

  test('detach lets go after the current task unless attach takes the stream back', async () => {
    const start = connections.items.length;
    const url = `${origin}/events`;
    const { store, attach, until } = storeOf(url, { topics: 'strict', ...fast });
    attach(url);
    const [first] = (await connections.count(start + 1, 'the connection')).slice(start);
    await until((state) => state.status === 'open', 'open');
    // StrictMode: cleanup and effect again, synchronously.
    store.detach();
    attach(url);
    await hub.publish({ topics: 'strict', data: 'kept' });
    await until((state) => state.data === 'kept', 'the event');
    assert.equal(first!.sub.closed, false);
    assert.equal(connections.items.length, start + 1);
    // An unmount: closed once the task is over.
    store.detach();
    assert.equal(first!.sub.closed, false);
    await first!.closed;
    assert.equal(store.getSnapshot().status, 'closed');
  });

  test('a stream that gives up is status error with the reason; an invalid URL does not throw', async () => {
    const refused = storeOf(`${origin}/missing`, {});
    refused.attach(`${origin}/missing`);
    const state = await refused.until((s) => s.status === 'error', 'the refusal');
    assert.equal(state.error?.name, 'HeraldClientError');
    assert.equal((state.error as { code?: string }).code, 'BAD_STATUS');

    const invalid = storeOf('http://[', {});
    assert.doesNotThrow(() => invalid.attach('http://['));
    assert.equal(invalid.store.getSnapshot().status, 'error');
    assert.ok(invalid.store.getSnapshot().error instanceof TypeError);
  });

  test('bad data is an error on an open stream; keep bounds events; data is the latest', async () => {
    const start = connections.items.length;
    const url = `${origin}/events`;
    const { store, attach, until } = storeOf<{ tick: number }>(url, {
      topics: 'keep',
      json: true,
      keep: 2,
      ...fast,
    });
    attach(url);
    await (await connections.count(start + 1, 'the connection'))[start]!.sub.ready;
    await until((state) => state.status === 'open', 'open');
    await hub.publish({ topics: 'keep', type: 'tick', data: 'not json {' });
    const bad = await until((state) => state.error !== undefined, 'the INVALID_JSON error');
    assert.equal((bad.error as { code?: string }).code, 'INVALID_JSON');
    assert.equal(bad.status, 'open');
    for (const n of [1, 2, 3]) await hub.publish({ topics: 'keep', type: 'tick', data: n });
    const state = await until((s) => s.data === 3, 'the third event');
    assert.deepEqual(numbers(state), [2, 3]);
    assert.equal(state.event?.type, 'tick');
    store.detach();
  });

  test('what names a stream', () => {
    const id = (url: string | null, options: UseSubscriptionOptions<EventMap>) =>
      streamIdentity(url, options);
    const url = 'https://hub.example/.well-known/mercure';
    assert.equal(id(url, { topics: 'a' }), id(url, { topics: ['a'] }));
    assert.notEqual(id(url, { topics: ['a'] }), id(url, { topics: ['a', 'b'] }));
    assert.notEqual(id(url, {}), id(`${url}?x`, {}));
    assert.equal(id(url, { method: 'post', body: 'p' }), id(url, { method: 'POST', body: 'p' }));
    assert.notEqual(id(url, { method: 'POST', body: 'p' }), id(url, { method: 'POST', body: 'q' }));
    assert.notEqual(id(url, { key: 1 }), id(url, { key: 2 }));
    // Not part of it: what may change on every render.
    assert.equal(
      id(url, { topics: 'a' }),
      id(url, {
        topics: 'a',
        headers: { authorization: 'Bearer x' },
        token: 'x',
        json: true,
        resume: true,
        keep: 5,
        onEvent: () => {},
      }),
    );
    assert.notEqual(id(url, {}), id(null, {}));
  });
});
