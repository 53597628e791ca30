// What only a runtime of its own shows, run under Deno and Bun by test/runtimes/run.mjs:
// createEventStreamResponse served by the runtime's own HTTP server (Deno.serve, Bun.serve) to
// herald/client, and herald/client in the runtime against a `herald serve` hub running on Node.
// Under Node the first part skips: node:http is what the rest of the suite serves with.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventSource, subscribeHub } from '../../src/client/index.js';
import {
  type CloseReason,
  createEventStreamResponse,
  type FetchEventStream,
} from '../../src/index.js';
import { Collector } from '../helpers/async.js';
import { findBinary, requireBinary } from '../helpers/binary.js';
import { type HubNode, startHubNode } from '../helpers/hub-node.js';
import { HUB, publisherToken, publishOk, subscriberToken } from '../helpers/hub-server.js';

type Handler = (request: Request) => Response | Promise<Response>;

/** What the tests need of `Deno.serve` (typed here: the suite type-checks with Node's types). */
interface DenoRuntime {
  serve(
    options: { hostname: string; port: number; signal: AbortSignal; onListen(): void },
    handler: Handler,
  ): { addr: { port: number }; finished: Promise<void> };
}

/** What the tests need of `Bun.serve`. */
interface BunRuntime {
  serve(options: { hostname: string; port: number; idleTimeout: number; fetch: Handler }): {
    port: number;
    stop(closeActiveConnections: boolean): Promise<void> | void;
  };
}

/** A server of the runtime's own. */
interface NativeServer {
  readonly name: string;
  readonly url: string;
  close(): Promise<void>;
}

const globals = globalThis as { Deno?: DenoRuntime; Bun?: BunRuntime };

/** Serves `handler` on 127.0.0.1 and a free port with the runtime's own server, if it has one. */
function serveNative(handler: Handler): NativeServer | undefined {
  if (globals.Deno !== undefined) {
    const stop = new AbortController();
    const server = globals.Deno.serve(
      { hostname: '127.0.0.1', port: 0, signal: stop.signal, onListen() {} },
      handler,
    );
    return {
      name: 'Deno.serve',
      url: `http://127.0.0.1:${server.addr.port}`,
      async close() {
        stop.abort();
        await server.finished;
      },
    };
  }
  if (globals.Bun !== undefined) {
    // idleTimeout 0: Bun.serve closes a connection that sent nothing for 10 s by default, which
    // an event stream with a longer heartbeat (15 s by default) would hit.
    const server = globals.Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      idleTimeout: 0,
      fetch: handler,
    });
    return {
      name: 'Bun.serve',
      url: `http://127.0.0.1:${server.port}`,
      async close() {
        await server.stop(true);
      },
    };
  }
  return undefined;
}

const runtimeName =
  globals.Deno !== undefined ? 'Deno' : globals.Bun !== undefined ? 'Bun' : 'Node';

describe(`createEventStreamResponse on ${runtimeName}'s own server`, {
  skip: runtimeName === 'Node' ? 'Node has no Fetch-API server of its own' : undefined,
}, () => {
  let server: NativeServer;
  const streams = new Collector<FetchEventStream>();
  const closes = new Collector<CloseReason>();

  before(() => {
    server = serveNative((request) => {
      const stream = createEventStreamResponse(request, {
        heartbeatMs: 0,
        retry: 20,
        onClose: (reason) => closes.push(reason),
      });
      streams.push(stream);
      return stream.response;
    })!;
  });
  after(async () => {
    for (const stream of streams.items) stream.close();
    await server.close();
  });

  test('herald/client reads the events in order; closing it closes the stream with reason client', async () => {
    const es = new EventSource(`${server.url}/events`);
    const got = new Collector<string>();
    es.onmessage = (event) => got.push(`${event.lastEventId}=${event.data}`);
    es.addEventListener('tick', (event) => got.push(`tick ${event.lastEventId}=${event.data}`));
    const [stream] = await streams.count(1, 'the request');
    stream!.send({ id: '1', data: 'one' });
    stream!.send({ id: '2', event: 'tick', data: 'two\nlines' });
    stream!.send({ data: 'three' });
    assert.deepEqual(await got.count(3, 'three events'), ['1=one', 'tick 2=two\nlines', '2=three']);
    es.close();
    // The runtime aborts request.signal (or cancels the body) when the client goes away.
    assert.deepEqual(await closes.count(1, "the stream's close"), ['client']);
  });

  test('a stream the server ends is resumed with Last-Event-ID', async () => {
    const before = streams.items.length;
    const es = new EventSource(`${server.url}/events`);
    const got = new Collector<string>();
    es.onmessage = (event) => got.push(`${event.lastEventId}=${event.data}`);
    const first = (await streams.count(before + 1, 'the request'))[before]!;
    first.send({ id: '7', data: 'seven' });
    await got.count(1, 'the first event');
    first.close();
    const second = (await streams.count(before + 2, 'the reconnection'))[before + 1]!;
    assert.equal(second.lastEventId, '7');
    second.send({ id: '8', data: 'eight' });
    assert.deepEqual(await got.count(2, 'the event after the resume'), ['7=seven', '8=eight']);
    es.close();
  });
});

// The hub runs on the Node found on PATH (the machine's); the client runs in this runtime.
const node = findBinary('node');
const nodeSkip = node === undefined ? requireBinary('node', 'install Node.js') : undefined;

describe(`herald/client on ${runtimeName} against herald serve on Node`, { skip: nodeSkip }, () => {
  let hub: HubNode;
  let hubUrl: string;

  before(async () => {
    hub = await startHubNode({ engine: 'memory:', nodePath: node! });
    hubUrl = `${hub.url}${HUB}`;
  });
  after(() => hub?.stop());

  test('subscribeHub replays the history, gets live events (a private one with its token), resumes after an id', async () => {
    const publisher = await publisherToken();
    const token = await subscriberToken(['/runtime/{id}']);
    const ids = [
      await publishOk(hub.url, { topic: '/runtime/1', data: 'a' }, publisher),
      await publishOk(hub.url, { topic: '/runtime/2', data: 'b', private: true }, publisher),
    ];
    const got = new Collector<string>();
    const sub = subscribeHub(hubUrl, {
      topics: ['/runtime/{id}'],
      token,
      lastEventId: 'earliest',
      onEvent: (event) => got.push(`${event.lastEventId}=${event.data}`),
    });
    assert.deepEqual(await got.count(2, 'the replayed history'), [`${ids[0]}=a`, `${ids[1]}=b`]);
    ids.push(await publishOk(hub.url, { topic: '/runtime/3', data: 'c' }, publisher));
    await got.count(3, 'the live event');
    assert.equal(got.items[2], `${ids[2]}=c`);
    sub.close();

    const resumed = new Collector<string>();
    const again = subscribeHub(hubUrl, {
      topics: ['/runtime/{id}'],
      token,
      lastEventId: ids[1]!,
      onEvent: (event) => resumed.push(`${event.lastEventId}=${event.data}`),
    });
    assert.deepEqual(await resumed.count(1, 'the events after the id'), [`${ids[2]}=c`]);
    again.close();
  });
});
