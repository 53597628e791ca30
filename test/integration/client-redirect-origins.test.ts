// Nothing the caller gives for one origin reaches another: two real origins (127.0.0.1 and
// localhost, on different ports), every redirect status, the three entry points that carry
// credentials (subscribe's headers, subscribeHub's token, an EventSource's own fetch that adds
// a token). The second origin's server records every request it gets, on the first connection
// and on every reconnection.
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  EventSource,
  type HeraldClientError,
  subscribe,
  subscribeHub,
} from '../../src/client/index.js';
import { Collector, withTimeout } from '../helpers/async.js';
import { closeServer, listen } from '../helpers/net.js';

const REDIRECTS = [301, 302, 303, 307, 308] as const;
const SECRET = 'Bearer s3cret';

/** A request a server received. */
interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** One origin: a server whose routes are set per test, and every request it saw. */
interface Origin {
  server: http.Server;
  base: string;
  seen: Collector<Seen>;
  routes: Map<string, (seen: Seen, res: ServerResponse) => void>;
}

async function startOrigin(host: string): Promise<Origin> {
  const seen = new Collector<Seen>();
  const routes = new Map<string, (seen: Seen, res: ServerResponse) => void>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const request = { method: req.method ?? '', path, headers: req.headers, body };
      seen.push(request);
      const route = routes.get(path);
      if (route === undefined) res.writeHead(404).end();
      else route(request, res);
    });
  });
  const port = await listen(server);
  return { server, base: `http://${host}:${port}`, seen, routes };
}

let home: Origin;
let other: Origin;

before(async () => {
  // Two origins: same address, another host name and port ("localhost" resolves to 127.0.0.1,
  // the fetch's happy eyeballs falling back from ::1 where it is tried first).
  home = await startOrigin('127.0.0.1');
  other = await startOrigin('localhost');
});
after(async () => {
  await closeServer(home.server);
  await closeServer(other.server);
});

/** An event stream that sends one event and ends, so the client reconnects. */
function shortStream(res: ServerResponse, n: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(`retry: 5\nid: ${n}\ndata: event ${n}\n\n`);
}

/** Routes `/<name>` on the home origin to a `status` redirect to the other origin's stream. */
function crossRedirect(name: string, status: number): { url: string; reached: () => Seen[] } {
  home.routes.set(`/${name}`, (_seen, res) => {
    res.writeHead(status, { location: `${other.base}/${name}` }).end();
  });
  let n = 0;
  other.routes.set(`/${name}`, (_seen, res) => shortStream(res, ++n));
  return {
    url: `${home.base}/${name}`,
    reached: () => other.seen.items.filter((seen) => seen.path === `/${name}`),
  };
}

/** Asserts the other origin got none of the caller's credentials in any of `requests`. */
function assertNothingLeaked(requests: Seen[], headers: readonly string[]): void {
  assert.ok(requests.length >= 3, `the other origin was reached ${requests.length} times`);
  for (const request of requests) {
    for (const name of headers) {
      assert.equal(request.headers[name], undefined, `${name} reached the other origin`);
    }
  }
}

/** Asserts every request to `path` on the home origin carried `name: value`. */
function assertSentHome(path: string, name: string, value: string): void {
  const requests = home.seen.items.filter((seen) => seen.path === path);
  assert.ok(requests.length >= 3, `the home origin was asked ${requests.length} times`);
  for (const request of requests) assert.equal(request.headers[name], value);
}

describe('redirect to another origin: the caller’s credentials stay home', () => {
  for (const status of REDIRECTS) {
    test(`subscribe() headers, ${status}`, async () => {
      const name = `subscribe-${status}`;
      const { url, reached } = crossRedirect(name, status);
      const events = new Collector<string>();
      const sub = subscribe(url, {
        headers: { authorization: SECRET, 'x-api-key': 'k3y' },
        credentials: 'include',
        minDelayMs: 5,
        maxDelayMs: 10,
        onEvent: (event) => events.push(event.data),
      });
      // Three connections: the first request and two reconnections.
      await events.count(3, 'three events, one per connection');
      sub.close();
      assertNothingLeaked(reached(), ['authorization', 'x-api-key', 'cookie']);
      // The events came from the other origin, and reconnections start from the URL given.
      assert.deepEqual(events.items.slice(0, 3), ['event 1', 'event 2', 'event 3']);
      assertSentHome(`/${name}`, 'x-api-key', 'k3y');
      assert.equal(reached()[1]?.headers['last-event-id'], '1');
    });

    test(`subscribeHub() token, ${status}`, async () => {
      const name = `hub-${status}`;
      const { url, reached } = crossRedirect(name, status);
      const events = new Collector<string>();
      const sub = subscribeHub(url, {
        topics: ['/books/1'],
        token: 's3cret',
        headers: { 'x-api-key': 'k3y' },
        minDelayMs: 5,
        maxDelayMs: 10,
        onEvent: (event) => events.push(event.data),
      });
      await events.count(3, 'three events, one per connection');
      sub.close();
      assertNothingLeaked(reached(), ['authorization', 'x-api-key']);
      assertSentHome(`/${name}`, 'authorization', SECRET);
    });

    test(`EventSource with a fetch that adds a token, ${status}`, async () => {
      const name = `event-source-${status}`;
      const { url, reached } = crossRedirect(name, status);
      const calledWith = new Set<string>();
      const events = new Collector<MessageEvent>();
      const source = new EventSource(url, {
        fetch: (target, init) => {
          calledWith.add(new URL(target).origin);
          const headers = new Headers(init.headers);
          headers.set('authorization', SECRET);
          headers.set('cookie', 'session=s3cret');
          return fetch(target, { ...init, headers });
        },
      });
      source.onmessage = (event) => events.push(event);
      await events.count(3, 'three events, one per connection');
      source.close();
      assertNothingLeaked(reached(), ['authorization', 'cookie']);
      assertSentHome(`/${name}`, 'authorization', SECRET);
      // Its fetch is only ever called with the origin it was given; the events' origin is the
      // final URL's.
      assert.deepEqual([...calledWith], [home.base]);
      assert.equal(events.items[0]?.origin, other.base);
    });
  }
});

describe('redirected POST streams', () => {
  for (const status of [301, 302, 303] as const) {
    test(`${status} to another origin: a GET without the body or its headers`, async () => {
      const name = `post-${status}`;
      const { url, reached } = crossRedirect(name, status);
      const events = new Collector<string>();
      const sub = subscribe(url, {
        method: 'POST',
        body: JSON.stringify({ prompt: 'secret prompt' }),
        headers: { authorization: SECRET, 'content-type': 'application/json' },
        onEvent: (event) => events.push(event.data),
      });
      await events.count(1, 'the redirected stream');
      sub.close();
      const [request] = reached();
      assert.equal(request?.method, 'GET');
      assert.equal(request?.body, '');
      assert.equal(request?.headers['content-type'], undefined);
      assert.equal(request?.headers.authorization, undefined);
    });
  }

  for (const status of [307, 308] as const) {
    test(`${status} to another origin: refused, the body is not sent there`, async () => {
      const name = `post-${status}`;
      const { url, reached } = crossRedirect(name, status);
      const sub = subscribe(url, {
        method: 'POST',
        body: 'secret prompt',
        headers: { authorization: SECRET },
      });
      const reason = (await withTimeout(sub.closed, 'the refusal')) as HeraldClientError;
      assert.equal(reason?.code, 'REDIRECT');
      assert.match(reason.message, /with a body to http:\/\/localhost:\d+, where it is not sent/);
      assert.equal(reason.response?.status, status);
      assert.equal(reached().length, 0);
    });
  }
});

describe('redirect within the origin', () => {
  test('headers follow, and reconnections go to the final URL (as the standard says)', async () => {
    home.routes.set('/same-start', (_seen, res) => {
      res.writeHead(307, { location: '/same-stream' }).end();
    });
    let n = 0;
    home.routes.set('/same-stream', (_seen, res) => shortStream(res, ++n));
    const events = new Collector<string>();
    const sub = subscribe(`${home.base}/same-start`, {
      headers: { authorization: SECRET },
      minDelayMs: 5,
      maxDelayMs: 10,
      onEvent: (event) => events.push(event.data),
    });
    await events.count(3, 'three events');
    sub.close();
    const paths = home.seen.items
      .filter((seen) => seen.path.startsWith('/same-'))
      .map((seen) => `${seen.path} ${seen.headers.authorization}`);
    assert.deepEqual(paths.slice(0, 4), [
      `/same-start ${SECRET}`,
      `/same-stream ${SECRET}`,
      `/same-stream ${SECRET}`,
      `/same-stream ${SECRET}`,
    ]);
  });

  test('more than 20 redirects are refused', async () => {
    home.routes.set('/loop', (_seen, res) => res.writeHead(302, { location: '/loop' }).end());
    const sub = subscribe(`${home.base}/loop`, { headers: { authorization: SECRET } });
    const reason = await withTimeout(sub.closed, 'the refusal');
    assert.equal(reason?.code, 'REDIRECT');
    assert.match(reason?.message ?? '', /more than 20 times/);
  });
});
