// Property: whatever the schedule of publishes and connection drops, a subscriber that comes back
// with the last id it saw ends up with exactly its matching publish stream — no gap, no
// duplicate — as long as history still holds what it missed; when it does not, the hub says so
// with a `herald.gap` event first and replays from the oldest retained event.
//
// Clients are real: the `eventsource` package (which reconnects by itself, sending
// `Last-Event-ID`) and raw HTTP clients (node:http and fetch) that reconnect with the header
// themselves. Drops are forced from the server (closing the Subscription, destroying the socket)
// and, for raw clients, from the client (aborting the request).
import assert from 'node:assert/strict';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { createHub, type EngineEvent, GAP_EVENT_TYPE, type Hub } from '../../src/index.js';
import { Collector, waitFor, withTimeout } from '../helpers/async.js';
import {
  assertNoDuplicates,
  assertSameSequence,
  type HubServer,
  startHubServer,
  topicsOf,
} from '../helpers/hub.js';

/** Reconnection delay the hub tells clients (`retry:`), so eventsource comes back at once. */
const RETRY_MS = 2;
const NUM_RUNS = 100;

// -- topics and selectors ---------------------------------------------------------------------

const TOPICS = ['/a', '/b', '/books/1', '/books/2', '/c/x'] as const;
/** Selectors with an independent oracle each. */
const SELECTORS: Record<string, (topic: string) => boolean> = {
  '/a': (t) => t === '/a',
  '/b': (t) => t === '/b',
  '*': () => true,
  '/books/{id}': (t) => /^\/books\/[^/?#]+$/.test(t),
  '/c/{x}': (t) => /^\/c\/[^/?#]+$/.test(t),
};
const SELECTOR_NAMES = Object.keys(SELECTORS);

const selects = (selectors: readonly string[], event: EngineEvent): boolean =>
  event.topics.some((topic) => selectors.some((s) => SELECTORS[s]!(topic)));

// -- clients ----------------------------------------------------------------------------------

type Item =
  | { kind: 'event'; id: string; data: string }
  | { kind: 'gap'; lastEventId: unknown; oldestAvailable: unknown };

/** One connection's worth of what a client saw. */
interface Segment {
  items: Item[];
}

interface Client {
  readonly name: string;
  readonly selectors: readonly string[];
  /** Connections, in order; a new one starts at each successful (200) connection. */
  readonly segments: Segment[];
  /** Every event (not gap) seen, over all connections. */
  readonly events: Collector<string>;
  /** Connected now (a 200 answer arrived and the body has not ended). */
  readonly connected: boolean;
  /** Client-side abort of the current connection (raw clients only). */
  abort?(): void;
  close(): void;
}

function gapItem(data: string): Item {
  const parsed = JSON.parse(data) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed).sort(), ['lastEventId', 'oldestAvailable']);
  return { kind: 'gap', lastEventId: parsed.lastEventId, oldestAvailable: parsed.oldestAvailable };
}

function streamUrl(origin: string, name: string, selectors: readonly string[]): string {
  const query = new URLSearchParams({ client: name });
  for (const s of selectors) query.append('topic', s);
  return `${origin}/.well-known/mercure?${query}`;
}

/** The `eventsource` package: it reconnects by itself with `Last-Event-ID`. */
function eventSourceClient(origin: string, name: string, selectors: readonly string[]): Client {
  const segments: Segment[] = [];
  const events = new Collector<string>();
  let connected = false;
  const es = new EventSource(streamUrl(origin, name, selectors));
  es.addEventListener('open', () => {
    connected = true;
    segments.push({ items: [] });
  });
  es.addEventListener('error', () => {
    connected = false;
  });
  es.addEventListener('message', (event) => {
    // eventsource sets lastEventId to the event's own id.
    segments.at(-1)!.items.push({ kind: 'event', id: event.lastEventId, data: event.data });
    events.push(event.lastEventId);
  });
  es.addEventListener(GAP_EVENT_TYPE, (event) => {
    segments.at(-1)!.items.push(gapItem((event as MessageEvent<string>).data));
  });
  return {
    name,
    selectors,
    segments,
    events,
    get connected() {
      return connected && es.readyState === es.OPEN;
    },
    close: () => es.close(),
  };
}

/**
 * A raw HTTP client (node:http or fetch) that reconnects as soon as its response ends, sending
 * the last id it saw in `Last-Event-ID`.
 */
function rawClient(
  origin: string,
  name: string,
  selectors: readonly string[],
  via: 'http' | 'fetch',
): Client {
  const segments: Segment[] = [];
  const events = new Collector<string>();
  const url = streamUrl(origin, name, selectors);
  let lastId = '';
  let connected = false;
  let stopped = false;
  let abortCurrent: (() => void) | undefined;

  const parserFor = (segment: Segment) =>
    createParser({
      onEvent: (event) => {
        if (event.event === GAP_EVENT_TYPE) {
          segment.items.push(gapItem(event.data));
          return;
        }
        segment.items.push({ kind: 'event', id: event.id!, data: event.data });
        lastId = event.id!;
        events.push(event.id!);
      },
    });

  const headers = (): Record<string, string> => (lastId === '' ? {} : { 'Last-Event-ID': lastId });

  const connectHttp = (done: () => void): void => {
    const req = httpGet(url, { headers: headers(), agent: false }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) clientErrors.push(`${name}: status ${res.statusCode}`);
      const segment: Segment = { items: [] };
      segments.push(segment);
      connected = true;
      const parser = parserFor(segment);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      res.on('error', () => {});
      res.once('close', () => {
        connected = false;
        done();
      });
    });
    req.on('error', () => {
      connected = false;
      done();
    });
    abortCurrent = () => req.destroy();
  };

  const connectFetch = (done: () => void): void => {
    const controller = new AbortController();
    abortCurrent = () => controller.abort();
    (async () => {
      try {
        const res = await fetch(url, { headers: headers(), signal: controller.signal });
        if (res.status !== 200) clientErrors.push(`${name}: status ${res.status}`);
        const segment: Segment = { items: [] };
        segments.push(segment);
        connected = true;
        const parser = parserFor(segment);
        const decoder = new TextDecoder();
        const body = res.body!.getReader();
        for (;;) {
          const { done, value } = await body.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
        }
      } catch {
        // dropped: reconnect below
      }
      connected = false;
      done();
    })();
  };

  let once = false;
  const loop = (): void => {
    if (stopped) return;
    once = false;
    const done = (): void => {
      // 'close' and 'error' may both fire for one connection.
      if (once) return;
      once = true;
      setImmediate(loop);
    };
    if (via === 'http') connectHttp(done);
    else connectFetch(done);
  };
  loop();

  return {
    name,
    selectors,
    segments,
    events,
    get connected() {
      return connected;
    },
    abort: () => abortCurrent?.(),
    close: () => {
      stopped = true;
      abortCurrent?.();
    },
  };
}

/** What went wrong inside client callbacks, where a throw would not reach the test. */
const clientErrors: string[] = [];

// -- the server -------------------------------------------------------------------------------

let hub: Hub | undefined;
let server: HubServer;
before(async () => {
  server = await startHubServer((req, res, url) => {
    if (hub === undefined) throw new Error('no hub right now');
    return hub.subscribe(req, res, { topics: topicsOf(url), stream: { retry: RETRY_MS } });
  });
});
after(() => server.close());

// -- the property -----------------------------------------------------------------------------

type ClientKind = 'eventsource' | 'http' | 'fetch';
type Step =
  | { op: 'publish'; topics: string[]; count: number }
  | { op: 'drop'; client: number; how: 'close' | 'destroy' | 'abort' }
  | { op: 'yield'; times: number }
  | { op: 'settle' };

interface Scenario {
  /** `undefined`: history holds everything (no eviction). */
  maxEvents: number | undefined;
  clients: Array<{ kind: ClientKind; selectors: string[] }>;
  steps: Step[];
}

const topicsArb = fc
  .tuple(fc.constantFrom(...TOPICS), fc.subarray([...TOPICS], { maxLength: 2 }))
  .map(([canonical, alternates]) => [canonical, ...alternates.filter((t) => t !== canonical)]);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  maxEvents: fc.option(fc.integer({ min: 2, max: 12 }), { freq: 2 }).map((v) => v ?? undefined),
  clients: fc.array(
    fc.record({
      kind: fc.constantFrom<ClientKind>('eventsource', 'http', 'fetch'),
      selectors: fc.subarray(SELECTOR_NAMES, { minLength: 1, maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  steps: fc.array(
    fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          op: fc.constant('publish' as const),
          topics: topicsArb,
          count: fc.integer({ min: 1, max: 6 }),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          op: fc.constant('drop' as const),
          client: fc.nat(3),
          how: fc.constantFrom('close' as const, 'destroy' as const, 'abort' as const),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constant('yield' as const),
          times: fc.integer({ min: 1, max: 4 }),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ op: 'settle' as const }) },
    ),
    { minLength: 1, maxLength: 40 },
  ),
});

/** Every topic at once: an event every client selects. */
const EVERY_TOPIC = [...TOPICS];

let run = 0;
/** What the runs exercised, summed: the property must not pass vacuously. */
const totals = { reconnections: 0, gaps: 0, events: 0, eventsource: 0, http: 0, fetch: 0 };

async function check(scenario: Scenario): Promise<void> {
  run++;
  const h = createHub({
    heartbeatMs: 0,
    history: { maxEvents: scenario.maxEvents ?? 100_000 },
  });
  hub = h;
  const log: EngineEvent[] = [];
  h.on('publish', (event) => log.push(event));
  const clients: Client[] = scenario.clients.map((c, i) => {
    const name = `r${run}-c${i}`;
    return c.kind === 'eventsource'
      ? eventSourceClient(server.origin, name, c.selectors)
      : rawClient(server.origin, name, c.selectors, c.kind);
  });
  const publishMany = async (topics: string[], count: number): Promise<void> => {
    for (let i = 0; i < count; i++) await h.publish({ topics, data: `${log.length}` });
  };
  /**
   * Publishes an event every client selects and waits until each has it. (The newest event is
   * always retained, so even a client that lost events to eviction gets this one.)
   */
  const settle = async (what: string): Promise<void> => {
    await publishMany(EVERY_TOPIC, 1);
    const fence = log.at(-1)!.id;
    await Promise.all(
      clients.map((client) =>
        client.events.until(
          (ids) => ids.includes(fence),
          `${client.name} to receive ${fence} (${what})`,
          15_000,
        ),
      ),
    );
  };

  try {
    // Connected and live before anything is published, then one event everyone selects, so
    // that every later reconnection carries a last event id.
    await Promise.all(clients.map((c) => server.nth(c.name, 0).then((s) => s.sub.ready)));
    await waitFor(() => clients.every((c) => c.connected), 'every client to be connected');
    await settle('the first event');

    for (const step of scenario.steps) {
      if (step.op === 'publish') {
        await publishMany(step.topics, step.count);
      } else if (step.op === 'drop') {
        const client = clients[step.client % clients.length]!;
        const current = server.latest(client.name);
        if (step.how === 'close') current?.sub.close();
        else if (step.how === 'destroy') current?.req.socket.destroy();
        else if (client.abort !== undefined) client.abort();
        else current?.sub.close();
      } else if (step.op === 'yield') {
        for (let i = 0; i < step.times; i++) await new Promise(setImmediate);
      } else {
        await settle('a settle step');
      }
    }
    // A last event everyone selects: once a client has it, it has everything it will get.
    await settle('the last event');

    assert.deepEqual(clientErrors, []);
    for (const client of clients) verify(client, log, scenario.maxEvents !== undefined);
    scenario.clients.forEach((c, i) => {
      const segments = clients[i]!.segments;
      totals[c.kind]++;
      totals.reconnections += segments.length - 1;
      for (const s of segments) {
        for (const item of s.items) totals[item.kind === 'gap' ? 'gaps' : 'events']++;
      }
    });
  } finally {
    for (const client of clients) client.close();
    // Closing the clients ends their subscriptions; the hub forgets them.
    await waitFor(() => h.stats().subscribers === 0, 'the hub to drop every subscription', 15_000);
    await h.close();
    hub = undefined;
  }
}

/** Checks one client's connections against the publish log. */
function verify(client: Client, log: readonly EngineEvent[], bounded: boolean): void {
  const indexOf = new Map(log.map((e, i) => [e.id, i] as const));
  const matching = log.filter((e) => selects(client.selectors, e));
  const what = `${client.name} (${client.selectors.join(' ')})`;
  const all: Item[] = client.segments.flatMap((s) => s.items);
  const ids = all.flatMap((item) => (item.kind === 'event' ? [item.id] : []));
  assertNoDuplicates(ids, `${what}: ids`);
  for (const item of all) {
    if (item.kind === 'event') {
      assert.equal(item.data, log[indexOf.get(item.id)!]?.data, `${what}: data of ${item.id}`);
    }
  }

  if (!bounded) {
    // History holds everything: the union of all connections is the matching stream, exactly.
    assert.ok(
      all.every((item) => item.kind === 'event'),
      `${what}: no gap event while history holds everything`,
    );
    assertSameSequence(
      ids,
      matching.map((e) => e.id),
      `${what}: ids over all connections`,
    );
    return;
  }

  // Bounded history: each connection continues right after the last id seen — or, after a
  // herald.gap event that comes first and names that id, from the oldest retained event.
  let lastSeen: string | undefined;
  client.segments.forEach((segment, n) => {
    const seg = `${what}, connection ${n}`;
    const events = segment.items.flatMap((item) => (item.kind === 'event' ? [item.id] : []));
    const gaps = segment.items.filter((item) => item.kind === 'gap');
    let from: number; // index in `log` the connection resumes at
    if (lastSeen === undefined) {
      assert.equal(gaps.length, 0, `${seg}: no gap on the first connection`);
      from = 0;
    } else if (gaps.length === 0) {
      from = indexOf.get(lastSeen)! + 1;
    } else {
      assert.equal(gaps.length, 1, `${seg}: one gap event`);
      assert.equal(segment.items[0]!.kind, 'gap', `${seg}: the gap event comes first`);
      const gap = gaps[0] as Extract<Item, { kind: 'gap' }>;
      assert.equal(gap.lastEventId, lastSeen, `${seg}: the gap names the id sent`);
      assert.equal(typeof gap.oldestAvailable, 'string', `${seg}: oldestAvailable is an id`);
      const oldest = indexOf.get(gap.oldestAvailable as string);
      assert.ok(oldest !== undefined, `${seg}: oldestAvailable names a published event`);
      // A real gap: the event right after the one the client saw was no longer retained.
      assert.ok(oldest > indexOf.get(lastSeen)! + 1, `${seg}: gap reported but nothing lost`);
      from = oldest;
    }
    const expected = matching
      .filter((e) => indexOf.get(e.id)! >= from)
      .slice(0, events.length)
      .map((e) => e.id);
    assertSameSequence(events, expected, `${seg}: events`);
    if (events.length > 0) lastSeen = events.at(-1);
  });
  assert.equal(ids.at(-1), log.at(-1)!.id, `${what}: ends with the last event`);
}

test(`random publishes and drops: every client ends up with its matching stream (${NUM_RUNS} runs)`, async () => {
  // To replay a failure: FC_SEED=<seed> FC_PATH=<path> (both printed with the counterexample).
  const replay =
    process.env.FC_SEED === undefined
      ? {}
      : { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH };
  await withTimeout(
    fc.assert(fc.asyncProperty(scenarioArb, check), {
      numRuns: NUM_RUNS,
      // Shrinking replays scenarios over sockets; the seed and path suffice to reproduce.
      endOnFailure: true,
      includeErrorInReport: true,
      ...replay,
    }),
    'the property runs',
    120_000,
  );
  // The runs exercised what the property is about (over 100 runs these are in the hundreds).
  assert.ok(totals.reconnections > 0, 'clients reconnected');
  assert.ok(totals.gaps > 0, 'some reconnections were beyond the history bounds');
  assert.ok(totals.eventsource > 0 && totals.http > 0 && totals.fetch > 0, 'every kind of client');
});
