// The NATS JetStream engine through faults, against a real nats-server: a server restart (file
// storage, so the stream survives; memory storage, so it does not) and a network cut of one node
// (a TCP proxy in front of the server). Readiness flips and recovers, appends during the outage
// reject UNAVAILABLE, and every listener ends with exactly the published sequence: nothing lost,
// nothing twice.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EngineEvent, HeraldEngineError } from '../../src/engines/engine.js';
import { type NatsEngine, type NatsEngineOptions, natsEngine } from '../../src/engines/nats.js';
import { Collector, waitFor } from '../helpers/async.js';
import { assertNoDuplicates, assertSameSequence } from '../helpers/hub.js';
import { startNatsReorderProxy } from '../helpers/nats-reorder-proxy.js';
import { natsSkip, startCutProxy, startNats, type TestNats } from '../helpers/nats-server.js';

let nats: TestNats;
let streams = 0;

function unavailable(error: unknown): boolean {
  assert.ok(error instanceof HeraldEngineError, `a HeraldEngineError, got ${String(error)}`);
  assert.equal(error.code, 'UNAVAILABLE');
  assert.match(error.message, /nats is unavailable.*retry once it is reachable/);
  return true;
}

/** Two engines (nodes) on one fresh stream, each recording the ids it is delivered. */
function pair(a: NatsEngineOptions = {}, b: NatsEngineOptions = {}) {
  const common = { url: nats.url, stream: `faults${++streams}`, maxBackoffMs: 100 };
  const engines = [natsEngine({ ...common, ...a }), natsEngine({ ...common, ...b })] as const;
  const [onA, onB] = engines.map((e) => {
    const got = new Collector<string>();
    e.onEvent((ev: EngineEvent) => got.push(ev.id));
    return got;
  }) as [Collector<string>, Collector<string>];
  return { a: engines[0], b: engines[1], onA, onB };
}

async function closeAll(...engines: NatsEngine[]): Promise<void> {
  for (const e of engines) await e.close();
}

describe('nats engine faults', { skip: natsSkip }, () => {
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.stop();
  });

  it('a nats-server restart: not ready, UNAVAILABLE, then resumes with nothing lost or twice', async () => {
    const { a, b, onA, onB } = pair();
    try {
      await Promise.all([a.ready, b.ready]);
      const sent: EngineEvent[] = [];
      for (let i = 0; i < 20; i++) sent.push(await a.append({ topics: ['/t'], data: `${i}` }));
      await onB.count(20, 'events before the restart');

      // Appends in flight while the server dies: each one either succeeds (and is then
      // delivered exactly once) or rejects UNAVAILABLE. None hangs.
      const inFlight = Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => b.append({ topics: ['/t'], data: `flight${i}` })),
      );
      await nats.kill();
      const settled = await inFlight;
      for (const r of settled) if (r.status === 'rejected') unavailable(r.reason);
      await waitFor(() => !a.health().ready && !b.health().ready, 'readiness to go false');
      assert.match(a.health().reason ?? '', /nats unreachable/);
      await assert.rejects(a.append({ topics: ['/t'], data: 'refused' }), unavailable);
      await assert.rejects(b.history({ after: sent[0]!.id }), unavailable);
      await assert.rejects(b.resolve(sent[0]!.id), unavailable);

      await nats.start();
      await waitFor(() => a.health().ready && b.health().ready, 'readiness to come back', 20_000);
      for (let i = 20; i < 40; i++) sent.push(await b.append({ topics: ['/t'], data: `${i}` }));

      // What the stream holds is the truth (an in-flight append may be stored though its
      // caller was told UNAVAILABLE); every node must deliver exactly that, in order.
      const history = (await a.history({ after: 'earliest' })).events;
      const stored = history.map((e) => e.id);
      for (const r of settled) {
        if (r.status === 'fulfilled') assert.ok(stored.includes(r.value.id), 'acknowledged = kept');
      }
      for (const e of sent) assert.ok(stored.includes(e.id), `${e.data} survived the restart`);
      await onA.count(stored.length, 'every stored event on A', 20_000);
      await onB.count(stored.length, 'every stored event on B', 20_000);
      assertNoDuplicates(onA.items, 'node A');
      assertSameSequence(onA.items, stored, 'node A');
      assertSameSequence(onB.items, stored, 'node B');
    } finally {
      await closeAll(a, b);
    }
  });

  it('fails fast when nats was never reachable', async () => {
    const e = natsEngine({ url: 'nats://127.0.0.1:1', maxBackoffMs: 100 });
    try {
      await assert.rejects(e.append({ topics: ['/t'], data: 'x' }), unavailable);
      await assert.rejects(e.history({ after: 'earliest' }), unavailable);
      assert.equal(e.health().ready, false);
      assert.match(e.health().reason ?? '', /nats unreachable/);
    } finally {
      await e.close();
    }
  });

  it('a network cut of one node: it resumes after its last sequence, in order, once', async () => {
    const proxy = await startCutProxy(nats.port);
    const gaps: [string, string][] = [];
    const { a, b, onA, onB } = pair({ url: proxy.url, onLiveGap: (x, y) => gaps.push([x, y]) });
    try {
      await Promise.all([a.ready, b.ready]);
      const sent: string[] = [];
      for (let i = 0; i < 10; i++) sent.push((await a.append({ topics: ['/t'], data: `${i}` })).id);
      await onA.count(10, 'events before the cut');

      proxy.cut();
      await waitFor(() => !a.health().ready, 'A not ready');
      assert.equal(b.health().ready, true, 'B is not affected');
      await assert.rejects(a.append({ topics: ['/t'], data: 'refused' }), unavailable);
      // B goes on publishing while A is away.
      for (let i = 10; i < 40; i++) {
        sent.push((await b.append({ topics: ['/t'], data: `${i}`, id: `b-${i}` })).id);
      }
      await onB.count(40, 'B’s own events');

      const connections = proxy.connections;
      proxy.restore();
      await waitFor(() => a.health().ready, 'A ready again', 20_000);
      assert.ok(proxy.connections > connections, 'A reconnected through the proxy');
      await onA.count(40, 'the events published during the cut, on A', 20_000);
      sent.push((await a.append({ topics: ['/t'], data: 'after' })).id);
      await onA.count(41, 'A’s own event after the cut');
      await onB.count(41, 'A’s event on B');
      assertSameSequence(onA.items, sent, 'node A');
      assertSameSequence(onB.items, sent, 'node B');
      assert.deepEqual(gaps, []);
    } finally {
      await closeAll(a, b);
      await proxy.close();
    }
  });

  it('a history read whose messages arrive after the consumer says it has none left: all read', async () => {
    // The consumer had delivered every message (nothing pending) but they were still on their
    // way when the read, quiet, asked whether anything was left. The read used to end there:
    // a short page with `more: false`, and a subscriber resuming from it went live past the
    // events in between, silently.
    const proxy = await startNatsReorderProxy(nats.port);
    // One pull for the whole range, and pulls of 4 (the held one is not the last).
    try {
      for (const pageSize of [500, 4]) {
        const stream = `reorder${++streams}`;
        const e = natsEngine({ url: proxy.url, stream, maxBackoffMs: 100, pageSize });
        try {
          await e.ready;
          const sent: EngineEvent[] = [];
          for (let i = 0; i < 20; i++) sent.push(await e.append({ topics: ['/t'], data: `${i}` }));
          const before = proxy.held();
          proxy.holdReadsUntilInfo();
          const resumed = await e.history({ after: sent[4]!.id });
          assert.ok(proxy.held() > before, 'the read’s messages were held back behind the answer');
          assert.equal(resumed.found, true);
          assert.equal(resumed.more, false);
          assert.deepEqual(
            resumed.events.map((x) => x.id),
            sent.slice(5).map((x) => x.id),
            `pages of ${pageSize}`,
          );
          assert.equal(resumed.cursor, sent[19]!.position);
        } finally {
          await e.close();
        }
      }
    } finally {
      await proxy.close();
    }
  });

  it('a history read that pulls again after a stall: both pulls’ messages read, none dropped', async () => {
    // A pull the server had not served yet when the read went quiet: the read pulls again, and
    // the server then answers both, back to back. The messages past the first pull's batch
    // used to be dropped when they came in the same chunk as its last one, and the consumer
    // does not deliver them again: a hole in the page, silently.
    const proxy = await startNatsReorderProxy(nats.port);
    const e = natsEngine({ url: proxy.url, stream: `repull${++streams}`, pageSize: 4 });
    try {
      await e.ready;
      const sent: EngineEvent[] = [];
      for (let i = 0; i < 20; i++) sent.push(await e.append({ topics: ['/t'], data: `${i}` }));
      proxy.holdPullUntilRepull(8);
      const resumed = await e.history({ after: sent[4]!.id });
      assert.ok(proxy.held() >= 9, 'the first pull was held, then both answered in one write');
      assert.equal(resumed.found, true);
      assert.equal(resumed.more, false);
      assert.deepEqual(
        resumed.events.map((x) => x.id),
        sent.slice(5).map((x) => x.id),
      );
    } finally {
      await e.close();
      await proxy.close();
    }
  });

  it('a cut longer than the history reaches: the gap is reported, the rest delivered', async () => {
    const proxy = await startCutProxy(nats.port);
    const gaps: [string, string][] = [];
    const options = { maxEvents: 5 };
    const { a, b, onA } = pair(
      { ...options, url: proxy.url, onLiveGap: (x, y) => gaps.push([x, y]) },
      options,
    );
    try {
      await Promise.all([a.ready, b.ready]);
      const seen = await b.append({ topics: ['/t'], data: 'seen' });
      await onA.count(1, 'the first event');
      proxy.cut();
      await waitFor(() => !a.health().ready, 'A not ready');
      const sent: EngineEvent[] = [];
      for (let i = 0; i < 12; i++) sent.push(await b.append({ topics: ['/t'], data: `${i}` }));
      proxy.restore();
      await onA.count(6, 'the retained events', 20_000);
      const kept = sent.slice(-5);
      assertSameSequence(onA.items, [seen.id, ...kept.map((e) => e.id)], 'node A');
      assert.deepEqual(gaps, [[seen.position, kept[0]!.position]]);
    } finally {
      await closeAll(a, b);
      await proxy.close();
    }
  });

  it('a memory-stored stream lost in a restart: new epoch, so old ids name nothing', async () => {
    const gaps: [string, string][] = [];
    const e = natsEngine({
      url: nats.url,
      stream: `mem${++streams}`,
      storage: 'memory',
      maxBackoffMs: 100,
      onLiveGap: (x, y) => gaps.push([x, y]),
    });
    const got = new Collector<EngineEvent>();
    e.onEvent((ev) => got.push(ev));
    try {
      await e.ready;
      const before = [];
      for (let i = 0; i < 3; i++) before.push(await e.append({ topics: ['/t'], data: `${i}` }));
      await got.count(3, 'events before the restart');
      await nats.kill();
      await nats.start();
      await waitFor(() => e.health().ready, 'ready again', 20_000);
      const fresh = await e.append({ topics: ['/t'], data: 'fresh' });
      assert.equal(fresh.position, '1', 'the new stream starts again at 1');
      assert.notEqual(fresh.id, before[0]!.id, 'but its ids are new');
      assert.notEqual(fresh.id.split('-')[0], before[0]!.id.split('-')[0]);
      assert.equal(await e.resolve(before[0]!.id), undefined);
      const r = await e.history({ after: before[2]!.id });
      assert.equal(
        r.found,
        false,
        'an id of the lost stream is unknown: a gap, not a wrong replay',
      );
      assert.deepEqual(
        r.events.map((x) => x.data),
        ['fresh'],
      );
      await got.count(4, 'the fresh event, live');
      assert.equal(got.items[3]!.id, fresh.id);
      assert.deepEqual(gaps, [['3', '1']]);
    } finally {
      await e.close();
    }
  });
});
