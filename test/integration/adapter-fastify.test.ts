// herald/adapters/fastify on Fastify 5, with @fastify/compress registered globally: the shared
// adapter cases (the `X-App` header comes from an onRequest hook via reply.header(), which the
// hijack would lose if the adapter did not hand it to the stream), and Fastify's hooks: onResponse
// (and the "request completed" log line) when the server ends a stream, onRequestAbort when the
// client leaves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fastifyCompress from '@fastify/compress';
import Fastify from 'fastify';
import { eventStream, subscribe } from '../../src/adapters/fastify.js';
import { adapterCases } from '../helpers/adapter-cases.js';
import { Collector } from '../helpers/async.js';
import { openStream } from '../helpers/sse.js';

/** What Fastify's hooks and logger reported, as `<what> <url>`. */
const lifecycle = new Collector<string>();

const harness = adapterCases({
  name: 'fastify',
  lastEventIdHeader: true,
  async start(hooks) {
    const app = Fastify({
      logger: {
        level: 'info',
        stream: {
          write: (line: string) => {
            const entry = JSON.parse(line) as { msg: string; req?: { url: string } };
            if (entry.msg === 'request completed') lifecycle.push(`log:completed`);
          },
        },
      },
    });
    await app.register(fastifyCompress, { threshold: 0 });
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('X-App', 'fastify');
    });
    app.addHook('onResponse', async (request) => {
      lifecycle.push(`onResponse ${request.url}`);
    });
    app.addHook('onRequestAbort', async (request) => {
      lifecycle.push(`onRequestAbort ${request.url}`);
    });
    app.setErrorHandler((error: Error, _request, reply) => {
      reply.code(500).type('text/plain').send(error.message);
    });
    app.get('/stream', (request, reply) => {
      hooks.streams.push(
        eventStream(request, reply, hooks.streamOptions({ req: request.raw, res: reply.raw })),
      );
    });
    app.get(
      '/sub',
      subscribe(hooks.hub, (request, reply) =>
        hooks.subscribeOptions({ req: request.raw, res: reply.raw }),
      ),
    );
    app.get('/bad', subscribe(hooks.hub, { topics: [] }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { server: app.server, close: () => app.close() };
  },
});

test('fastify: onResponse and the request log run when the server ends the stream, onRequestAbort when the client leaves', async () => {
  const { origin, hooks } = harness;
  let count = hooks.streams.items.length;
  const serverEnded = await openStream(`${origin}/stream?end=server`);
  await hooks.streams.count(count + 1, 'the stream');
  lifecycle.items.length = 0;
  hooks.streams.items[count]!.close();
  await serverEnded.reader.end();
  await lifecycle.count(2, 'onResponse and the log line');
  assert.deepEqual(lifecycle.items.sort(), ['log:completed', 'onResponse /stream?end=server']);

  count = hooks.streams.items.length;
  const clientEnded = await openStream(`${origin}/stream?end=client`);
  await hooks.streams.count(count + 1, 'the stream');
  lifecycle.items.length = 0;
  clientEnded.req.destroy();
  await lifecycle.count(1, 'onRequestAbort');
  assert.deepEqual(lifecycle.items, ['onRequestAbort /stream?end=client']);
});
