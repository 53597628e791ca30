// The NATS JetStream engine against a real nats-server (spawned on a free port): the engine
// contract (test/helpers/engine-contract.ts), and what is NATS's own — sequences and
// <epoch>-<sequence> ids, duplicates refused by the server, the size JetStream stores, options,
// the stream it creates, bounds by count, bytes and age, stats, a connection it is given.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { EARLIEST, type EngineEvent, HeraldEngineError } from '../../src/engines/engine.js';
import { type NatsEngineOptions, natsEngine } from '../../src/engines/nats.js';
import { Collector } from '../helpers/async.js';
import { engineContract } from '../helpers/engine-contract.js';
import { eventually } from '../helpers/hub-server.js';
import { natsSkip, startNats, type TestNats } from '../helpers/nats-server.js';

let nats: TestNats;
let streams = 0;
const open: { close(): Promise<void> }[] = [];

/** An engine on a fresh stream (or `stream`), closed after the file. */
function engine(options: NatsEngineOptions = {}) {
  const e = natsEngine({ url: nats.url, stream: `t${++streams}`, ...options });
  open.push(e);
  return e;
}

/** An engine whose live reader is up, so every later append is delivered to its listeners. */
async function liveEngine(options: NatsEngineOptions = {}) {
  const e = engine(options);
  await e.ready;
  assert.deepEqual(e.health(), { ready: true });
  return e;
}

const _data = (events: readonly EngineEvent[]): string[] => events.map((e) => e.data);

function engineError(code: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HeraldEngineError, `a HeraldEngineError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

async function publishN(e: ReturnType<typeof engine>, n: number, topic = '/t') {
  const out: EngineEvent[] = [];
  for (let i = 0; i < n; i++) out.push(await e.append({ topics: [topic], data: `d${i}` }));
  return out;
}

describe('nats engine', { skip: natsSkip }, () => {
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    for (const e of open) await e.close();
    await nats?.stop();
  });

  describe('append, positions and ids', () => {
    it('uses the stream sequence as position and <epoch>-<sequence> as generated id', async () => {
      const e = engine();
      const events = await publishN(e, 5);
      const epoch = events[0]!.id.split('-')[0]!;
      assert.match(epoch, /^[0-9a-z]+$/);
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!;
        assert.equal(ev.position, String(i + 1));
        assert.equal(ev.id, `${epoch}-${i + 1}`);
        assert.equal(ev.customId, false);
        if (i > 0) assert.ok(e.compare(events[i - 1]!.position, ev.position) < 0);
      }
      assert.equal(e.compare('10', '9'), 1);
      assert.equal(e.compare('9007199254740993', '9007199254740992'), 1);
      assert.equal(e.compare('7', '7'), 0);
      // Another stream (created at another moment) has another epoch.
      const other = (await engine().append({ topics: ['/t'], data: 'x' })).id;
      assert.notEqual(other.split('-')[0], epoch);
    });

    it('refuses a duplicate custom id server-side: of two nodes racing for one id one wins, and a refused append takes no sequence', async () => {
      const stream = `dup${++streams}`;
      const a = engine({ stream, maxEvents: 2 });
      const b = engine({ stream, maxEvents: 2 });
      const id = 'order 7.*> ünï';
      const first = await a.append({ topics: ['/a'], data: '1', id });
      await assert.rejects(b.append({ topics: ['/b'], data: '2', id }), (err: unknown) => {
        engineError('DUPLICATE_ID')(err);
        assert.match((err as Error).message, /is still in history/);
        return true;
      });
      // Two nodes racing for one new id: exactly one wins.
      const race = await Promise.allSettled([
        a.append({ topics: ['/a'], data: 'r1', id: 'race' }),
        b.append({ topics: ['/a'], data: 'r2', id: 'race' }),
      ]);
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1);
      await a.append({ topics: ['/a'], data: '3' });
      assert.equal(await b.resolve(id), undefined, 'evicted by the two appends after it');
      const again = await b.append({ topics: ['/a'], data: '4', id });
      assert.ok(b.compare(again.position, first.position) > 0);
      assert.equal(await a.resolve(id), again.position);
      // A refused append takes no sequence: positions stay gap-free.
      const next = await a.append({ topics: ['/a'], data: '5' });
      assert.equal(Number(next.position), Number(again.position) + 1);
    });

    it('refuses an event bigger than maxBytes, which would otherwise empty the stream', async () => {
      const e = engine({ maxBytes: 1000 });
      const kept = await e.append({ topics: ['/a'], data: 'kept' });
      await assert.rejects(
        e.append({ topics: ['/a'], data: 'x'.repeat(1000) }),
        engineError('EVENT_TOO_LARGE'),
      );
      // Small enough for eventSize, too big as stored by JetStream (metadata, subject, record).
      await assert.rejects(
        e.append({ topics: ['/a'], data: 'x'.repeat(880), id: 'big' }),
        engineError('EVENT_TOO_LARGE'),
      );
      assert.deepEqual(
        (await e.history({ after: EARLIEST })).events.map((x) => x.id),
        [kept.id],
      );
    });

    it('validates options', () => {
      for (const options of [
        { maxEvents: 0 },
        { maxEvents: 1.5 },
        { ttlMs: -5 },
        { ttlMs: 50 }, // JetStream's max_age is at least 100 ms
        { pageSize: 0 },
        { stream: '' },
        { stream: 'a.b' },
        { stream: 'a b' },
        { subjectPrefix: 'a.*' },
        { storage: 'disk' },
        { url: 'redis://127.0.0.1' },
      ]) {
        assert.throws(
          () => natsEngine({ url: nats.url, ...(options as NatsEngineOptions) }),
          engineError('INVALID_OPTIONS'),
          JSON.stringify(options),
        );
      }
    });
  });

  describe('the stream', () => {
    it('is created with the bounds as limits, and an existing one is brought in line', async () => {
      const stream = `limits${++streams}`;
      const e = engine({ stream, maxEvents: 7, maxBytes: 4096, ttlMs: 60_000 });
      await e.ready;
      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        let info = await jsm.streams.info(stream);
        assert.deepEqual(info.config.subjects, [`${stream}.>`]);
        assert.equal(info.config.max_msgs, 7);
        assert.equal(info.config.max_bytes, 4096);
        assert.equal(info.config.max_age, 60_000 * 1e6);
        const f = engine({ stream, maxEvents: 3 });
        await f.ready;
        info = await jsm.streams.info(stream);
        assert.equal(info.config.max_msgs, 3);
        assert.equal(info.config.max_bytes, -1);
        assert.equal(info.config.max_age, 0);

        // A stream that is not Herald's is left alone, with a reason.
        await jsm.streams.add({ name: `foreign${streams}`, subjects: ['elsewhere.>'] });
        const g = engine({ stream: `foreign${streams}` });
        await assert.rejects(g.append({ topics: ['/a'], data: 'x' }), (error: unknown) => {
          engineError('INVALID_OPTIONS')(error);
          assert.match((error as Error).message, /Herald needs a stream of its own/);
          return true;
        });
        assert.equal(g.health().ready, false);
        assert.match(g.health().reason ?? '', /stream of its own/);
      } finally {
        await nc.close();
      }
    });
  });

  describe('history', () => {
    it('evicts by bytes', async () => {
      const e = engine({ maxBytes: 2_000 });
      const ev: EngineEvent[] = [];
      for (let i = 0; i < 20; i++) {
        ev.push(await e.append({ topics: ['/b'], data: `${i}:${'x'.repeat(200)}` }));
      }
      const r = await e.history({ after: ev[0]!.id });
      assert.equal(r.found, false);
      assert.ok(r.events.length > 0 && r.events.length < 10, `${r.events.length} kept`);
      assert.equal(r.events.at(-1)!.id, ev[19]!.id, 'the newest are the ones kept');
      assert.equal(r.oldest, r.events[0]!.id);
    });

    it('evicts by age, also while idle', async () => {
      const e = engine({ ttlMs: 300 });
      const old = await e.append({ topics: ['/t'], data: 'old', id: 'old-one' });
      // The server expires it on its own timer: wait for that, without appending.
      await eventually(async () => (await e.resolve(old.id)) === undefined, 'expiry', 10_000);
      const r = await e.history({ after: old.id });
      assert.equal(r.found, false, 'the custom id is gone with its event');
      assert.deepEqual(r.events, []);
      assert.equal(r.oldest, null);
      const fresh = await e.append({ topics: ['/t'], data: 'new', id: 'old-one' });
      assert.ok(e.compare(fresh.position, old.position) > 0, 'the id is free again');
    });
  });

  describe('health, stats, close', () => {
    it('is ready once its live reader runs, and knows what the stream holds', async () => {
      const e = await liveEngine({ maxEvents: 5 });
      assert.deepEqual(e.health(), { ready: true });
      const ev = await publishN(e, 7);
      await e.history({ after: EARLIEST }); // a read refreshes what stats() knows
      const s = e.stats();
      assert.equal(s.events, 5);
      assert.equal(s.oldest, ev[2]!.position);
      assert.equal(s.newest, ev[6]!.position);
      assert.ok(s.bytes > 0);
    });

    it('works over a connection it was given, which it leaves open', async () => {
      const connection = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
      const e = natsEngine({ connection, stream: `c${++streams}` });
      await e.ready;
      const got = new Collector<string>();
      e.onEvent((ev) => got.push(ev.data));
      await e.append({ topics: ['/a'], data: 'via connection' });
      await got.count(1, 'the event');
      await e.close();
      assert.equal(connection.isClosed(), false);
      await connection.flush();
      await connection.close();
    });
  });
});

let contractNats: TestNats | undefined;
let contractStreams = 0;
engineContract('nats', {
  skip: natsSkip,
  before: async () => {
    contractNats = await startNats();
  },
  after: async () => {
    await contractNats?.stop();
  },
  make: async ({ store, ...options } = {}) => {
    const stream = `contract-${store ?? ++contractStreams}`;
    const e = natsEngine({ url: contractNats!.url, stream, ...options });
    await e.ready;
    assert.deepEqual(e.health(), { ready: true });
    return e;
  },
  shared: true,
  // Shaped like a generated id of this stream: <epoch>-<sequence>.
  reservedId: (generated) => `${generated.id.slice(0, generated.id.lastIndexOf('-'))}-99`,
});
