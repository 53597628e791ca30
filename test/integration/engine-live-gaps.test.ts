// A node whose live reader falls further behind than a retention class keeps: the events it can
// no longer read must not be lost silently. Node A reaches its server (redis-server, nats-server)
// through a TCP proxy that the test cuts; node B publishes meanwhile, and its busy class evicts
// events A never read. When A's reader is back, its engine reports the gap with the classes that
// lost events (`onGap`), and A's hub closes exactly the subscriptions those classes concern:
// they resume with Last-Event-ID, get `herald.gap` and every retained event once, while the
// others stay live and miss nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Engine, EngineGap } from '../../src/engines/engine.js';
import { natsEngine } from '../../src/engines/nats.js';
import { redisEngine } from '../../src/engines/redis.js';
import {
  createHub,
  EARLIEST,
  GAP_EVENT_TYPE,
  type Hub,
  type RetentionClass,
  retentionClass,
} from '../../src/index.js';
import { Collector, waitFor, withTimeout } from '../helpers/async.js';
import { type HubServer, received, startHubServer, topicsOf } from '../helpers/hub.js';
import { natsSkip, startCutProxy, startNats, type TestNats } from '../helpers/nats-server.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { openStream } from '../helpers/sse.js';

interface Setup {
  name: string;
  skip: string | undefined;
  start(): Promise<{ port: number; url: string; stop(): Promise<void> }>;
  engine(url: string, key: string, retention: RetentionClass[]): Engine & { ready: Promise<void> };
}

let redis: TestRedis | undefined;
let nats: TestNats | undefined;
const SETUPS: Setup[] = [
  {
    name: 'redis',
    skip: redisSkip,
    async start() {
      redis = await startRedis();
      return { port: redis.port, url: redis.url, stop: () => redis!.stop() };
    },
    engine: (url, key, retention) =>
      redisEngine({ url, key: `{${key}}:events`, retention, blockMs: 200, maxBackoffMs: 50 }),
  },
  {
    name: 'nats',
    skip: natsSkip,
    async start() {
      nats = await startNats();
      return { port: nats.port, url: nats.url, stop: () => nats!.stop() };
    },
    engine: (url, key, retention) =>
      natsEngine({ url, stream: key, retention, maxBackoffMs: 50, pingIntervalMs: 200 }),
  },
];

for (const setup of SETUPS) {
  describe(`${setup.name}: a live reader that falls behind a retention class`, {
    skip: setup.skip,
  }, () => {
    let server: { port: number; url: string; stop(): Promise<void> };
    let hubServer: HubServer;
    let hub: Hub;
    before(async () => {
      server = await setup.start();
      hubServer = await startHubServer((req, res, url) =>
        hub.subscribe(req, res, { topics: topicsOf(url) }),
      );
    });
    after(async () => {
      await hubServer.close();
      await server.stop();
    });

    it('reports the gap with its classes, and closes only the subscriptions it concerns', async () => {
      const proxy = await startCutProxy(server.port);
      const scheme = setup.name === 'redis' ? 'redis' : 'nats';
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 3 });
      const a = setup.engine(proxy.url.replace(/^nats:/, `${scheme}:`), 'gaps', [busy]);
      const b = setup.engine(server.url, 'gaps', [busy]);
      const reported = new Collector<EngineGap>();
      a.onGap?.((gap) => reported.push(gap));
      hub = createHub({ engine: a, heartbeatMs: 0 });
      try {
        await Promise.all([a.ready, b.ready]);
        const open = async (client: string, topic: string) => {
          const { res, reader } = await openStream(
            `${hubServer.origin}/sub?client=${client}&topic=${encodeURIComponent(topic)}`,
          );
          assert.equal(res.statusCode, 200);
          return reader;
        };
        const onBusy = await open('busy', '/busy/{n}');
        const onFeed = await open('feed', '/feed');
        const busy0 = await b.append({ topics: ['/busy/0'], data: 'busy0' });
        await b.append({ topics: ['/feed'], data: 'feed0' });
        await onBusy.events.count(1, 'busy0 live on A');
        await onFeed.events.count(1, 'feed0 live on A');

        proxy.cut();
        await waitFor(() => !a.health().ready, 'A to notice the cut');
        await b.append({ topics: ['/feed'], data: 'feed1' });
        for (let i = 1; i <= 20; i++) await b.append({ topics: [`/busy/${i}`], data: `busy${i}` });
        await b.append({ topics: ['/feed'], data: 'feed2' });
        // B's class keeps 3 busy events (NATS trims within moments).
        await withTimeout(
          (async () => {
            for (;;) {
              const { events } = await b.history({ after: EARLIEST });
              if (events.filter((e) => e.data.startsWith('busy')).length <= 4) return;
              await new Promise((r) => setTimeout(r, 20));
            }
          })(),
          'B to trim the busy class',
        );
        proxy.restore();

        const [gap] = await reported.count(1, 'the live gap on A', 20_000);
        assert.deepEqual(gap!.classes, [busy.name], 'only the busy class lost events');
        // The busy subscriber is closed, to resume from history; the feed one stays live.
        await onBusy.end('the busy subscription closed by the hub');
        await onFeed.events.count(3, 'feed1 and feed2 live on A', 20_000);
        assert.deepEqual(
          onFeed.events.items.map((e) => e.data),
          ['feed0', 'feed1', 'feed2'],
        );
        assert.deepEqual(
          onBusy.events.items.map((e) => e.data),
          ['busy0'],
        );

        // It resumes with its last id: told about the gap, then the retained busy events once.
        const resumed = await openStream(`${hubServer.origin}/sub?client=busy2&topic=/busy/{n}`, {
          'Last-Event-ID': busy0.id,
        });
        const got = await resumed.reader.events.until(
          (items) => items.some((e) => e.data === 'busy20'),
          'the replay up to busy20',
        );
        const events = got.map(received);
        assert.equal(events[0]!.type, GAP_EVENT_TYPE);
        const replayed = events.slice(1).map((e) => e.data);
        assert.equal(events.filter((e) => e.type === GAP_EVENT_TYPE).length, 1);
        assert.equal(new Set(replayed).size, replayed.length, 'nothing twice');
        assert.deepEqual(replayed.slice(-3), ['busy18', 'busy19', 'busy20']);
        assert.ok(!replayed.includes('busy0') && !replayed.includes('busy1'));
        resumed.req.destroy();
      } finally {
        await hub.close();
        await a.close();
        await b.close();
        await proxy.close();
      }
    });
  });
}
