// Two `herald serve` nodes over one redis-server behind nginx (the config docs/scaling.md
// shows): a subscriber keeps exactly the published sequence while the node serving it is
// SIGKILLed — its client reconnects through nginx, lands on the other node and resumes with
// Last-Event-ID. Once with the `eventsource` package, once with Chromium's own EventSource.
// And a node that cannot reach Redis (not ready, 503) is skipped for new subscribers.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { deferred } from '../helpers/async.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { assertSameSequence } from '../helpers/hub.js';
import {
  type HubNode,
  killHubNodes,
  PublishLoop,
  startHubNode,
  subscriberConnections,
  trackedEventSource,
} from '../helpers/hub-node.js';
import { eventually, publisherToken, subscribe } from '../helpers/hub-server.js';
import { listen } from '../helpers/net.js';
import { nginxSkipReason, startNginx, type TestNginx } from '../helpers/nginx.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

const FLAGS = ['--anonymous'];
const skip = redisSkip ?? nginxSkipReason();

/** A TCP proxy to Redis whose connections a test can cut: one node's network to Redis. */
async function startCutProxy(port: number): Promise<{
  url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}> {
  const open = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        open.delete(from);
        to.destroy();
      });
    }
  });
  const proxyPort = await listen(server);
  return {
    url: `redis://127.0.0.1:${proxyPort}`,
    cut() {
      refusing = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('two hub nodes behind nginx', { skip }, () => {
  let redis: TestRedis;
  let nodes: HubNode[] = [];
  let nginx: TestNginx | undefined;
  let browser: Browser | undefined;
  let proxy: Awaited<ReturnType<typeof startCutProxy>>;

  before(async () => {
    redis = await startRedis();
    // Node A reaches Redis through a proxy the first test cuts; node B directly.
    proxy = await startCutProxy(redis.port);
    // allSettled: when one node fails to start, the other is still kept for after() to kill
    // (a node left running keeps this file's process, and so the whole run, from ending).
    const started = await Promise.allSettled([
      startHubNode({ engine: proxy.url, flags: FLAGS, name: 'A' }),
      startHubNode({ engine: redis.url, flags: FLAGS, name: 'B' }),
    ]);
    nodes = started.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
    for (const start of started) if (start.status === 'rejected') throw start.reason;
  });

  after(async () => {
    await browser?.close();
    await nginx?.stop();
    await killHubNodes(nodes);
    await proxy?.close();
    await redis?.stop();
  });

  /** A fresh nginx in front of both nodes (so no node is marked failed from a previous test). */
  async function freshNginx(): Promise<TestNginx> {
    await nginx?.stop();
    nginx = await startNginx({ upstreams: nodes.map((n) => `127.0.0.1:${n.port}`) });
    return nginx;
  }

  /** The node nginx sent the (only) subscriber to, and the other one. */
  async function servingNode(): Promise<{ serving: HubNode; other: HubNode }> {
    let counts: number[] = [];
    await eventually(async () => {
      counts = await Promise.all(nodes.map(subscriberConnections));
      return counts.reduce((x, y) => x + y) === 1;
    }, 'one subscriber connection on the nodes');
    const i = counts.indexOf(1);
    return { serving: nodes[i]!, other: nodes[1 - i]! };
  }

  /** Restarts a node that a test killed, on its old port (nginx's upstream list is fixed). */
  async function revive(): Promise<void> {
    nodes = await Promise.all(
      nodes.map((node) =>
        node.alive
          ? node
          : startHubNode({ engine: redis.url, flags: FLAGS, port: node.port, name: node.name }),
      ),
    );
  }

  test('a node that cannot reach Redis is not ready: nginx sends new subscribers to the other', async () => {
    const lb = await freshNginx();
    const [a, b] = nodes as [HubNode, HubNode];
    proxy.cut();
    try {
      await a.waitReadyz(503);
      assert.equal((await b.readyz()).status, 200);
      // Round robin would send every other request to A, which answers 503: nginx tries B.
      const subs = [];
      for (let i = 0; i < 4; i++) subs.push(await subscribe(lb.url, ['/not-ready']));
      assert.deepEqual(
        await Promise.all(nodes.map(subscriberConnections)),
        [0, 4],
        'every subscriber on B',
      );
      for (const s of subs) s.req.destroy();
    } finally {
      proxy.restore();
    }
    await a.waitReadyz(200);
    await eventually(
      async () => (await subscriberConnections(b)) === 0,
      'the closed subscribers to leave B',
    );
  });

  test('an eventsource client through nginx keeps the exact sequence when its node dies', async () => {
    const lb = await freshNginx();
    const token = await publisherToken();
    // It reconnects only once 10 events were published after the kill: those must come from
    // the replay on the other node.
    const missed = deferred();
    const client = trackedEventSource(`${lb.url}/.well-known/mercure?topic=/lb`, {
      beforeReconnect: () => missed.promise,
    });
    try {
      await client.opens.count(1, 'the first open');
      const { serving, other } = await servingNode();
      // The backend publishes to a node that stays up (A publish in flight to a dying node
      // would be answered 502 although it may have been stored.)
      const loop = new PublishLoop(() => other.url, '/lb', token, 100);
      let killedAfter: number;
      try {
        await client.ids.count(15, 'events before the kill');
        await serving.kill('SIGKILL');
        killedAfter = loop.ok.items.length;
        await loop.ok.count(killedAfter + 10, 'publishes while the client is away');
        missed.resolve();
        await client.opens.count(2, 'the reopen through nginx', 15_000);
        await loop.ok.count(loop.ok.items.length + 15, 'publishes after the reconnection');
      } finally {
        await loop.stop();
      }
      const sent = loop.ok.items;
      await client.ids.until((ids) => ids.includes(sent.at(-1)!), 'the last publish', 15_000);
      assertSameSequence(client.ids.items, sent, 'the client behind nginx');
      // The reconnection went through nginx with the last id the client had before the kill.
      const resumed = client.attempts.at(-1)!;
      assert.equal(resumed.outcome, '200');
      const at = sent.indexOf(resumed.lastEventId ?? '');
      assert.ok(at >= 0 && at < killedAfter, `resumed after ${resumed.lastEventId}`);
      assert.equal(await subscriberConnections(other), 1, 'the other node serves it now');
      assert.equal(serving.alive, false);
    } finally {
      client.es.close();
    }
    // Gone from the node too, so the next test counts only its own subscriber.
    await eventually(
      async () => (await subscriberConnections(nodes.find((n) => n.alive)!)) === 0,
      'the closed client to leave its node',
    );
  });

  test('Chromium’s EventSource through nginx stays subscribed while its node is killed', async (t) => {
    const chromiumSkip = chromiumSkipReason();
    if (chromiumSkip !== undefined) {
      t.skip(chromiumSkip);
      return;
    }
    await revive();
    const lb = await freshNginx();
    const token = await publisherToken();
    browser = await launchChromium();
    const page: Page = await browser.newPage();
    // A page of the same origin as the hub (through nginx), so no CORS is involved.
    await page.goto(`${lb.url}/healthz`);
    await page.evaluate(() => {
      const w = window as unknown as { ids: string[]; opens: number; es: EventSource };
      w.ids = [];
      w.opens = 0;
      w.es = new EventSource('/.well-known/mercure?topic=/browser');
      w.es.onmessage = (event) => w.ids.push(event.lastEventId);
      w.es.onopen = () => {
        w.opens++;
      };
    });
    type PageState = { ids: string[]; opens: number; readyState: number };
    const state = (): Promise<PageState> =>
      page.evaluate(() => {
        const w = window as unknown as { ids: string[]; opens: number; es: EventSource };
        return { ids: w.ids.slice(), opens: w.opens, readyState: w.es.readyState };
      });
    const until = async (check: (s: PageState) => boolean, what: string): Promise<PageState> => {
      let last: PageState | undefined;
      try {
        await eventually(
          async () => {
            last = await state();
            return check(last);
          },
          what,
          15_000,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}: ${JSON.stringify(last)}\n${lb.output}`);
      }
      return last!;
    };

    await until((s) => s.opens === 1, 'the page’s EventSource to open');
    const { serving, other } = await servingNode();
    const loop = new PublishLoop(() => other.url, '/browser', token, 100);
    try {
      const before = await until((s) => s.ids.length >= 15, 'events before the kill');
      await serving.kill('SIGKILL');
      await until((s) => s.opens === 2, 'the browser to reconnect through nginx');
      await loop.ok.count(loop.ok.items.length + 15, 'publishes after the reconnection');
      assert.ok(before.ids.length >= 15);
    } finally {
      await loop.stop();
    }
    const sent = loop.ok.items;
    const final = await until((s) => s.ids.includes(sent.at(-1)!), 'the last publish');
    assertSameSequence(final.ids, sent, 'the ids Chromium received');
    assert.equal(final.readyState, 1, 'EventSource.OPEN: still subscribed');
    assert.equal(await subscriberConnections(other), 1, 'the other node serves the page now');
    await page.close();
  });
});
