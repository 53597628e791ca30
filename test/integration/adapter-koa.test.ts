// herald/adapters/koa on Koa 3, with koa-compress in front: the shared adapter cases, and Koa
// leaving the response alone afterwards — middleware that sets a body, a status or headers
// after the chain settled neither breaks the stream nor makes Koa report an error.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import Koa from 'koa';
import compress from 'koa-compress';
import { eventStream, subscribe } from '../../src/adapters/koa.js';
import { adapterCases } from '../helpers/adapter-cases.js';
import { Collector } from '../helpers/async.js';
import { openStream } from '../helpers/sse.js';

/** Errors Koa reported through `app.on('error')`. */
const appErrors: unknown[] = [];
/** Requests whose whole middleware chain settled, by path. */
const settled = new Collector<string>();

const harness = adapterCases({
  name: 'koa',
  lastEventIdHeader: true,
  async start(hooks) {
    const app = new Koa();
    app.on('error', (error) => appErrors.push(error));
    // Error handling the Koa way: the outermost middleware turns errors into a response.
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        ctx.status = 500;
        ctx.type = 'text/plain';
        ctx.body = (error as Error).message;
      }
    });
    app.use(compress({ threshold: 0 }));
    // Runs after the stream took over: everything here must be ignored by Koa.
    app.use(async (ctx, next) => {
      ctx.set('X-App', 'koa');
      await next();
      if (ctx.path === '/stream' || ctx.path === '/sub') {
        ctx.set('X-Too-Late', '1');
        ctx.status = 418;
        ctx.body = 'too late';
        settled.push(ctx.path);
      }
    });
    const subscribeRoute = subscribe(hooks.hub, (ctx) =>
      hooks.subscribeOptions({ req: ctx.req, res: ctx.res }),
    );
    const badRoute = subscribe(hooks.hub, { topics: [] });
    app.use(async (ctx, next) => {
      switch (ctx.path) {
        case '/stream':
          hooks.streams.push(eventStream(ctx, hooks.streamOptions({ req: ctx.req, res: ctx.res })));
          return;
        case '/sub':
          return subscribeRoute(ctx, next);
        case '/bad':
          return badRoute(ctx, next);
        default:
          return next();
      }
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { server };
  },
});

test('koa: after the chain settled, late body, status and headers are ignored and Koa reports no error', async () => {
  const count = harness.hooks.streams.items.length;
  const before = settled.items.length;
  const { req, res, reader } = await openStream(`${harness.origin}/stream`);
  assert.equal(res.statusCode, 200);
  await settled.count(before + 1, 'the middleware chain to settle');
  await harness.hooks.streams.count(count + 1, 'the stream');
  const stream = harness.hooks.streams.items[count]!;
  stream.send({ data: 'still streaming' });
  await reader.events.count(1);
  assert.equal(res.headers['x-too-late'], undefined);
  assert.equal(reader.text.includes('too late'), false);
  stream.close();
  await reader.end();
  req.destroy();
  assert.deepEqual(appErrors, []);
});
