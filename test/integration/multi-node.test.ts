// Several `herald serve` nodes, each in its own process, over one shared engine (a real
// redis-server, then a real nats-server -js): events published on one node reach the subscribers of every node in the same
// order; a subscriber whose node is SIGKILLed resumes on another node with Last-Event-ID and
// ends with exactly the published sequence; history bounds and `herald.gap` hold across nodes as
// with the memory engine; open streams survive an engine restart.
//
// The suite is written against any shared engine: each entry of ENGINES runs all of it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deferred } from '../helpers/async.js';
import { assertNoDuplicates, assertSameSequence } from '../helpers/hub.js';
import {
  type HubNode,
  killHubNodes,
  PublishLoop,
  startHubNodes,
  trackedEventSource,
  waitAllReadyz,
} from '../helpers/hub-node.js';
import { idsOf, makeToken, publisherToken, publishOk, subscribe } from '../helpers/hub-server.js';
import { natsSkip, startNats } from '../helpers/nats-server.js';
import { redisSkip, startRedis } from '../helpers/redis-server.js';
import type { OpenedStream } from '../helpers/sse.js';

/** A shared engine server the test owns: its URL, and crash / restart / stop. */
interface EngineServer {
  readonly url: string;
  /** Crashes it (SIGKILL). */
  kill(): Promise<void>;
  /** Starts it again on the same address, with the data it persisted. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** An engine the suite runs against. */
interface EngineUnderTest {
  name: string;
  /** Skip reason when its server binary is missing. */
  skip: string | undefined;
  /** Starts a server that persists every write (so a restart loses nothing). */
  start(): Promise<EngineServer>;
}

const ENGINES: EngineUnderTest[] = [
  { name: 'redis', skip: redisSkip, start: () => startRedis({ persist: true }) },
  { name: 'nats', skip: natsSkip, start: () => startNats() },
];

/** Every node in these tests lets anonymous subscribers in (public updates). */
const FLAGS = ['--anonymous'];

/** Ids of a raw subscriber's events of type `message`, in order. */
function messageIds(stream: OpenedStream): string[] {
  return idsOf(stream.reader.events.items.filter((e) => (e.event ?? 'message') === 'message'));
}

for (const engine of ENGINES) {
  describe(`three hub nodes over one ${engine.name} engine`, { skip: engine.skip }, () => {
    let server: EngineServer;
    let nodes: HubNode[] = [];
    const open: { close(): void }[] = [];

    before(async () => {
      server = await engine.start();
      nodes = await startHubNodes(3, { engine: server.url, flags: FLAGS });
    });

    after(async () => {
      for (const o of open) o.close();
      await killHubNodes(nodes);
      await server?.stop();
    });

    /** Subscribes to `node` with a raw HTTP reader; closed after the suite. */
    async function rawSubscriber(node: HubNode, topics: string[]): Promise<OpenedStream> {
      const s = await subscribe(node.url, topics);
      open.push({ close: () => s.req.destroy() });
      return s;
    }

    test('published on A: subscribers on A, B and C receive identical ordered streams', async () => {
      const [a, b, c] = nodes as [HubNode, HubNode, HubNode];
      const token = await publisherToken();
      const subs = await Promise.all([a, b, c].map((n) => rawSubscriber(n, ['/multi/{id}'])));

      // One publisher on A: the streams are exactly the ids A answered, in that order.
      const sent: { id: string; data: string }[] = [];
      for (let i = 0; i < 30; i++) {
        const data = `from-a-${i}`;
        sent.push({ id: await publishOk(a.url, { topic: `/multi/${i % 3}`, data }, token), data });
      }
      // Then publishers on every node at once: the engine decides one order, the same for all.
      const concurrent = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          publishOk(nodes[i % 3]!.url, { topic: `/multi/${i}`, data: `any-${i}` }, token),
        ),
      );
      const last = new Set([...sent.map((s) => s.id), ...concurrent]);
      for (const [i, sub] of subs.entries()) {
        await sub.reader.events.count(60, `60 events on node ${nodes[i]!.name}`);
        const events = sub.reader.events.items;
        assertSameSequence(
          idsOf(events.slice(0, 30)),
          sent.map((s) => s.id),
          `node ${nodes[i]!.name}: ids of A's publishes`,
        );
        assert.deepEqual(
          events.slice(0, 30).map((e) => e.data),
          sent.map((s) => s.data),
        );
        assertNoDuplicates(idsOf(events), `node ${nodes[i]!.name}`);
        assert.deepEqual(new Set(idsOf(events)), last, 'every published id, nothing else');
      }
      assertSameSequence(messageIds(subs[1]!), messageIds(subs[0]!), 'B’s stream against A’s');
      assertSameSequence(messageIds(subs[2]!), messageIds(subs[0]!), 'C’s stream against A’s');
    });

    test('engine restart with open streams: not ready, 503 with a reason, then the exact sequence', async () => {
      const [a, b, c] = nodes as [HubNode, HubNode, HubNode];
      const token = await publisherToken();
      const onB = await rawSubscriber(b, ['/restart']);
      const onC = await rawSubscriber(c, ['/restart']);
      const loop = new PublishLoop(() => a.url, '/restart', token);
      try {
        await loop.ok.count(10, 'publishes before the restart');
        await server.kill();
        await waitAllReadyz(nodes, 503);
        const reason = await b.readyz();
        assert.match(reason.body, /not ready: .*\S/, 'readiness says why');
        const refusedBefore = loop.refused.items.length;
        await loop.refused.count(refusedBefore + 3, 'publishes refused during the outage');
        await server.start();
        await waitAllReadyz(nodes);
        const okAfter = loop.ok.items.length;
        await loop.ok.count(okAfter + 10, 'publishes after the restart');
      } finally {
        await loop.stop();
      }

      // Fail fast, and say why: 503 with the engine's reason, never a silent drop or a 500.
      for (const refused of loop.refused.items) {
        assert.equal(refused.status, 503, `publish #${refused.seq}: ${refused.body}`);
        assert.match(refused.body, /unavailable|not ready/);
      }
      const okIds = loop.ok.items;
      const lastId = okIds[okIds.length - 1]!;
      for (const [name, sub] of [
        ['B', onB],
        ['C', onC],
      ] as const) {
        // The same connection all along: the stream stayed open through the outage.
        await sub.reader.events.until(
          (events) => idsOf(events).includes(lastId),
          `node ${name} to deliver the last publish`,
          20_000,
        );
        const got = sub.reader.events.items;
        assertNoDuplicates(idsOf(got), `node ${name}`);
        const seqs = got.map((e) => Number(e.data));
        assert.deepEqual(
          seqs,
          [...seqs].sort((x, y) => x - y),
          `node ${name}: in publish order`,
        );
        // A publish whose answer was lost with the connection (503) may still have been stored:
        // the engine says so (UNAVAILABLE "although Redis may have stored it"). Only such a
        // publish may appear beyond the accepted ones.
        const refusedSeqs = new Set(loop.refused.items.map((r) => r.seq));
        const accepted = got.filter((e) => okIds.includes(e.id ?? ''));
        for (const extra of got.filter((e) => !okIds.includes(e.id ?? ''))) {
          assert.ok(
            refusedSeqs.has(Number(extra.data)),
            `node ${name}: event ${extra.id} (${extra.data}) was neither accepted nor in flight`,
          );
        }
        assert.ok(got.length - accepted.length <= 1, `node ${name}: at most the in-flight one`);
        assertSameSequence(idsOf(accepted), okIds, `node ${name}: every accepted publish`);
      }
    });

    test('SIGKILL of node B mid-stream: its clients resume on C with Last-Event-ID, exactly', async () => {
      const [a, b, c] = nodes as [HubNode, HubNode, HubNode];
      const token = await publisherToken();
      const path = '/.well-known/mercure?topic=/failover';
      // Two EventSource clients that know the hub addresses B then C; a raw control on C.
      // They reconnect only once A published 10 more events after the kill, so those can only
      // reach them through the replay on C, after their Last-Event-ID.
      const missed = deferred();
      const clients = [0, 1].map(() =>
        trackedEventSource(path, {
          origins: () => [b.url, c.url],
          beforeReconnect: () => missed.promise,
        }),
      );
      for (const client of clients) open.push({ close: () => client.es.close() });
      const control = await rawSubscriber(c, ['/failover']);
      await Promise.all(clients.map((client) => client.opens.count(1, 'the first open on B')));

      const loop = new PublishLoop(() => a.url, '/failover', token, 100);
      let killedAfter: number;
      try {
        await Promise.all(clients.map((client) => client.ids.count(15, 'events before the kill')));
        await b.kill('SIGKILL');
        killedAfter = loop.ok.items.length;
        await loop.ok.count(killedAfter + 10, 'publishes while B’s clients are away');
        missed.resolve();
        // Each client notices, reconnects (B refuses, C accepts) and opens again.
        await Promise.all(
          clients.map((client) => client.opens.count(2, 'the reopen on C', 15_000)),
        );
        const reopened = loop.ok.items.length;
        await loop.ok.count(reopened + 15, 'publishes after the reconnection');
      } finally {
        await loop.stop();
      }
      assert.ok(killedAfter > 0);
      const sent = loop.ok.items;
      const lastId = sent[sent.length - 1]!;
      for (const [i, client] of clients.entries()) {
        await client.ids.until(
          (ids) => ids.includes(lastId),
          `client ${i} to get the last publish`,
          15_000,
        );
        assertSameSequence(client.ids.items, sent, `client ${i} (B, then C)`);
        const resumed = client.attempts.find((t) => t.origin === c.url);
        assert.ok(
          resumed !== undefined,
          `client ${i} reconnected to C: ${JSON.stringify(client.attempts)}`,
        );
        assert.equal(resumed.outcome, '200');
        const resumedAt = sent.indexOf(resumed.lastEventId ?? '');
        assert.ok(
          resumedAt >= 0 && resumedAt < killedAfter,
          `client ${i} resumed with a Last-Event-ID it had received before the kill (${resumed.lastEventId})`,
        );
        assert.ok(
          client.attempts.some((t) => t.origin === b.url && t.outcome !== '200'),
          'B was tried first and refused',
        );
      }
      await control.reader.events.until((e) => idsOf(e).includes(lastId), 'the control on C');
      assertSameSequence(messageIds(control), sent, 'the control subscriber on C');
      assert.equal(b.alive, false);
    });
  });

  describe(`history bounds across nodes over ${engine.name}, as with memory`, {
    skip: engine.skip,
  }, () => {
    const TTL_MS = 2000;
    // Bounds: the newest 5 events, none older than 2 s.
    const BOUNDS = ['--history-size', '5', '--history-ttl', `${TTL_MS}ms`];
    // Redis trims whole radix-tree nodes (`MAXLEN ~`, `MINID ~`); an event over
    // stream-node-max-bytes (4 KiB by default) fills a node by itself, so the bounds show
    // exactly, as with memory. (Small events may keep up to one node more.)
    const DATA = 'x'.repeat(5000);
    let server: EngineServer;
    let shared: HubNode[] = [];
    let memory: HubNode[] = [];

    before(async () => {
      server = await engine.start();
      // allSettled: when one group fails to start, the other is still kept for after() to kill
      // (a node left running keeps this file's process, and so the whole run, from ending).
      const [sharedStart, memoryStart] = await Promise.allSettled([
        startHubNodes(2, { engine: server.url, flags: [...FLAGS, ...BOUNDS] }),
        startHubNodes(1, { engine: 'memory:', flags: [...FLAGS, ...BOUNDS] }),
      ]);
      if (sharedStart.status === 'fulfilled') shared = sharedStart.value;
      if (memoryStart.status === 'fulfilled') memory = memoryStart.value;
      for (const start of [sharedStart, memoryStart]) {
        if (start.status === 'rejected') throw start.reason;
      }
    });

    after(async () => {
      await killHubNodes([...shared, ...memory]);
      await server?.stop();
    });

    /** Publishes `count` events in one JSON request; their ids in order. */
    async function publishBatch(node: HubNode, count: number, token: string): Promise<string[]> {
      const res = await fetch(`${node.url}/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(
          Array.from({ length: count }, (_, i) => ({ topic: '/bounded', data: `${i}:${DATA}` })),
        ),
      });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      return (JSON.parse(body) as { ids: string[] }).ids;
    }

    /**
     * Subscribes after `lastEventId` and reads until `lastId` arrived: the gap events (their
     * data parsed) and the ids replayed, and the response's Last-Event-ID header.
     */
    async function replay(
      node: HubNode,
      lastEventId: string,
      lastId: string,
    ): Promise<{ gaps: unknown[]; ids: string[]; header: string | undefined }> {
      const s = await subscribe(node.url, ['/bounded'], {
        headers: { 'last-event-id': lastEventId },
      });
      try {
        await s.reader.events.until((e) => idsOf(e).includes(lastId), `${lastId} on ${node.name}`);
        const events = s.reader.events.items;
        return {
          gaps: events.filter((e) => e.event === 'herald.gap').map((e) => JSON.parse(e.data)),
          ids: messageIds(s),
          header: s.res.headers['last-event-id'] as string | undefined,
        };
      } finally {
        s.req.destroy();
      }
    }

    test('count: the newest events are kept whichever node appended them; a gap is announced', async () => {
      const token = await makeToken({ publish: ['*'] });
      const [a, b] = shared as [HubNode, HubNode];
      const [m] = memory as [HubNode];
      // 4 on A, then 4 on B: the newest 5 are A's last and B's four.
      const onShared = [...(await publishBatch(a, 4, token)), ...(await publishBatch(b, 4, token))];
      const onMemory = [...(await publishBatch(m, 4, token)), ...(await publishBatch(m, 4, token))];
      const kept = onShared.slice(-5);

      for (const node of [a, b]) {
        const all = await replay(node, 'earliest', kept[4]!);
        assert.deepEqual(all.ids, kept, `node ${node.name} retains the newest 5`);
        assert.deepEqual(all.gaps, []);
        // Resuming after an evicted id: herald.gap first, then what is retained (memory too).
        const gap = await replay(node, onShared[0]!, kept[4]!);
        assert.deepEqual(gap.gaps, [{ lastEventId: onShared[0], oldestAvailable: kept[0] }]);
        assert.deepEqual(gap.ids, kept);
        assert.equal(gap.header, 'earliest');
      }
      const mem = await replay(m, onMemory[0]!, onMemory[7]!);
      assert.deepEqual(mem.gaps, [{ lastEventId: onMemory[0], oldestAvailable: onMemory[3] }]);
      assert.deepEqual(mem.ids, onMemory.slice(-5));
      assert.equal(mem.header, 'earliest');
      // Resuming after a retained id needs no gap, on the other node either.
      const fine = await replay(b, kept[1]!, kept[4]!);
      assert.deepEqual(fine, { gaps: [], ids: kept.slice(2), header: kept[1] });
    });

    test('age: an event older than the TTL leaves when another node appends', async () => {
      const token = await makeToken({ publish: ['*'] });
      const [a, b] = shared as [HubNode, HubNode];
      const [m] = memory as [HubNode];
      const olds = await publishBatch(a, 2, token);
      const oldsM = await publishBatch(m, 2, token);
      // Let the TTL pass (the bound is applied when an event is appended, on any node).
      await new Promise((resolve) => setTimeout(resolve, TTL_MS + 300));
      const [fresh] = await publishBatch(b, 1, token);
      const [freshM] = await publishBatch(m, 1, token);
      const check = async (node: HubNode, old: string[], newest: string): Promise<void> => {
        const all = await replay(node, 'earliest', newest);
        assert.deepEqual(all.ids, [newest], `node ${node.name} keeps only the fresh event`);
        // After the first old event: the second is lost, so a gap is announced.
        const gap = await replay(node, old[0]!, newest);
        assert.deepEqual(gap.gaps, [{ lastEventId: old[0], oldestAvailable: newest }]);
        assert.deepEqual(gap.ids, [newest]);
        // After the newest evicted event nothing was lost: no gap, though its id is gone.
        const none = await replay(node, old[1]!, newest);
        assert.deepEqual(none, { gaps: [], ids: [newest], header: old[1] });
      };
      await check(a, olds, fresh!);
      await check(b, olds, fresh!);
      await check(m, oldsM, freshM!);
    });
  });
}
