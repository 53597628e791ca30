// herald/adapters/express on Express 5 and Express 4 (the `express4` npm alias), with the
// `compression` middleware in front: the shared adapter cases, and an event stream that is
// compressed anyway (no `no-transform`) still delivering each event at once through res.flush().
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { createGunzip } from 'node:zlib';
import compression from 'compression';
import express, { type NextFunction, type Request, type Response } from 'express';
import { eventStream, subscribe } from '../../src/adapters/express.js';
import type { EventStream } from '../../src/index.js';
import { type AdapterSuite, adapterCases } from '../helpers/adapter-cases.js';
import { Collector, withTimeout } from '../helpers/async.js';
import { StreamReader } from '../helpers/sse.js';

// express@4 under an npm alias, without types of its own; the API used here is the same as 5's.
const { default: express4 } = (await import('express4' as string)) as { default: typeof express };

/** Streams of `GET /forced`, whose Cache-Control lets compression happen. */
const forced = new Collector<EventStream>();

function expressSuite(name: string, createApp: typeof express): AdapterSuite {
  return {
    name,
    lastEventIdHeader: true,
    async start(hooks) {
      const app = createApp();
      app.use(compression());
      app.use((_req: Request, res: Response, next: NextFunction) => {
        res.set('X-App', name);
        next();
      });
      app.get('/stream', (req: Request, res: Response) => {
        hooks.streams.push(eventStream(req, res, hooks.streamOptions({ req, res })));
      });
      app.get(
        '/sub',
        subscribe(hooks.hub, (req, res) => hooks.subscribeOptions({ req, res })),
      );
      app.get('/bad', subscribe(hooks.hub, { topics: [] }));
      app.get('/forced', (req: Request, res: Response) => {
        forced.push(
          eventStream(req, res, { heartbeatMs: 0, headers: { 'Cache-Control': 'no-cache' } }),
        );
      });
      app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
        res.status(500).type('text/plain').send(error.message);
      });
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return { server };
    },
  };
}

for (const [name, createApp] of [
  ['express5', express],
  ['express4', express4],
] as const) {
  describe(name, () => {
    const harness = adapterCases(expressSuite(name, createApp));

    test('compressed anyway (Cache-Control without no-transform): each event arrives before the next is sent', async () => {
      const count = forced.items.length;
      const res = await withTimeout(
        new Promise<IncomingMessage>((resolve, reject) => {
          httpGet(
            `${harness.origin}/forced`,
            { headers: { 'Accept-Encoding': 'gzip' }, agent: false },
            resolve,
          ).on('error', reject);
        }),
        'the response head',
      );
      assert.equal(res.headers['content-encoding'], 'gzip');
      const reader = new StreamReader(res.pipe(createGunzip()));
      await forced.count(count + 1, 'the stream');
      const stream = forced.items[count]!;
      for (let i = 1; i <= 3; i++) {
        stream.send({ id: String(i), data: `zipped ${i}` });
        await reader.events.count(i, `zipped event ${i}`);
      }
      stream.close();
      await reader.end();
      assert.deepEqual(
        reader.events.items.map((e) => e.data),
        ['zipped 1', 'zipped 2', 'zipped 3'],
      );
    });
  });
}
