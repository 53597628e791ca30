// herald/adapters/hono on Hono 4 served by @hono/node-server, with hono/compress in front: the
// shared adapter cases (the `X-App` header comes from a middleware's c.header(), which a bare
// Response would drop), and the Fetch-API specifics: the first bytes reach the client before any
// event, and a client that leaves cancels the body, which closes the stream.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { test } from 'node:test';
import { type HttpBindings, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { compress } from 'hono/compress';
import { eventStream, subscribe } from '../../src/adapters/hono.js';
import { adapterCases } from '../helpers/adapter-cases.js';
import { deferred, withTimeout } from '../helpers/async.js';
import { openStream } from '../helpers/sse.js';

const harness = adapterCases({
  name: 'hono',
  // The Fetch form of hub.subscribe takes a stream whose headers are already decided.
  lastEventIdHeader: false,
  async start(hooks) {
    const app = new Hono<{ Bindings: HttpBindings }>();
    app.use(compress({ threshold: 0 }));
    app.use(async (c, next) => {
      c.header('X-App', 'hono');
      await next();
    });
    app.onError((error, c) => c.text(error.message, 500));
    app.get('/stream', (c) =>
      eventStream(
        c,
        (stream) => hooks.streams.push(stream),
        hooks.streamOptions({ req: c.env.incoming, res: c.env.outgoing, signal: c.req.raw.signal }),
      ),
    );
    app.get(
      '/sub',
      subscribe(hooks.hub, (c) =>
        hooks.subscribeOptions({
          req: c.env.incoming,
          res: c.env.outgoing,
          signal: c.req.raw.signal,
        }),
      ),
    );
    app.get('/bad', subscribe(hooks.hub, { topics: [] }));
    app.get('/throws', (c) =>
      eventStream(c, () => {
        throw new Error('setup failed');
      }),
    );
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(server, 'listening');
    return { server };
  },
});

test('hono: the comment reaches the client before any event is sent', async () => {
  const count = harness.hooks.streams.items.length;
  const { req, reader } = await openStream(`${harness.origin}/stream`);
  await reader.untilText((text) => text === ': ok\n', 'the initial comment');
  await harness.hooks.streams.count(count + 1, 'the stream');
  const stream = harness.hooks.streams.items[count]!;
  const closed = deferred<void>();
  stream.signal.addEventListener('abort', () => closed.resolve());
  req.destroy();
  await withTimeout(closed.promise, 'the stream to close when the client leaves');
  assert.equal(stream.closeReason, 'client');
});

test('hono: a setup callback that throws answers through onError', async () => {
  const { res, reader } = await openStream(`${harness.origin}/throws`);
  await reader.end();
  assert.equal(res.statusCode, 500);
  assert.equal(reader.text, 'setup failed');
});
