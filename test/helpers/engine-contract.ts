// The engine contract as a suite any engine can run, in two parts.
//
// engineContract: what `append` stores and refuses, ids and custom ids (a duplicate refused
// from any node), `history` after an id, a position or `earliest`, unknown and evicted ids,
// paging, ids a reader may not see, `latest`, live delivery (once each, one order across
// nodes, past a throwing listener), `close`, and two hubs over one store. Run by
// test/unit/memory-engine.test.ts, test/integration/engine-redis.test.ts and
// test/integration/engine-nats.test.ts.
//
// retentionContract: retention classes are bounded on their own, `history` reports a loss only
// for the classes a reader cares about, resumes exactly after a known start point even when it
// reports one, and starts after the newest eviction when the start point is unknown — so a gap
// never brings back an event the client saw — and answers a start the reader may not see
// exactly as an unknown one. Run by test/integration/engine-retention.test.ts for the memory,
// Redis and NATS engines.
//
// Another engine runs both the same way: see docs/engines.md, "Writing an engine".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULT_RETENTION_CLASS,
  EARLIEST,
  type Engine,
  type EngineEvent,
  HeraldEngineError,
  type RetentionClass,
} from '../../src/engines/engine.js';
import { retentionClass } from '../../src/hub/retention.js';
import { createHub } from '../../src/index.js';
import { Collector, withTimeout } from './async.js';
import { received, startHubServer, topicsOf } from './hub.js';
import { openStream } from './sse.js';

/** What the suite needs from an engine. */
export interface RetentionContractSetup {
  /** Why the suite is skipped (a server binary is missing), if it is. */
  skip?: string | undefined;
  /** Starts what the engines need. */
  before?(): Promise<void>;
  /** Stops it (the suite has closed every engine by then). */
  after?(): Promise<void>;
  /** A fresh engine (its own stream or key) with these bounds; the suite closes it. */
  make(options: { maxEvents: number; retention: RetentionClass[] }): Promise<Engine>;
  /**
   * How many events over its count bound a class may hold between two trims (an engine that
   * trims after the fact, in batches); 0 for exact bounds.
   */
  slack: number;
  /**
   * Whether generated ids name times rather than a counter (Redis entry ids), so that most ids
   * between two events name nothing. Such an engine answers an id the reader may not see below
   * the newest eviction as it answers an id that names nothing there (its own test shows it).
   */
  sparseIds?: boolean;
}

const data = (events: readonly EngineEvent[]): string[] => events.map((e) => e.data);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Appends `n` events on `topic(i)`, one after the other. */
async function appendN(
  e: Engine,
  n: number,
  topic: (i: number) => string,
  label: string,
): Promise<EngineEvent[]> {
  const out: EngineEvent[] = [];
  for (let i = 0; i < n; i++)
    out.push(await e.append({ topics: [topic(i)], data: `${label}${i}` }));
  return out;
}

/**
 * Reads all retained history until `check` holds: engines that trim after the fact (NATS)
 * get there within moments. Only a wait, never a timing assertion.
 */
async function settled(
  e: Engine,
  check: (events: EngineEvent[]) => boolean,
  what: string,
): Promise<EngineEvent[]> {
  const poll = async (): Promise<EngineEvent[]> => {
    for (;;) {
      const { events } = await e.history({ after: EARLIEST });
      if (check(events)) return events;
      await sleep(20);
    }
  };
  return withTimeout(poll(), what);
}

const count = (events: readonly EngineEvent[], prefix: string): number =>
  events.filter((ev) => ev.data.startsWith(prefix)).length;

/** Registers the retention contract suite for one engine. */
export function retentionContract(name: string, setup: RetentionContractSetup): void {
  describe(`${name}: retention classes (engine contract)`, { skip: setup.skip }, () => {
    const open: Engine[] = [];
    const make = async (options: {
      maxEvents: number;
      retention: RetentionClass[];
    }): Promise<Engine> => {
      const e = await setup.make(options);
      open.push(e);
      return e;
    };
    before(async () => {
      await setup.before?.();
    });
    after(async () => {
      for (const e of open) await e.close();
      await setup.after?.();
    });

    it('a busy class evicts only its own events; other readers resume without a gap', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 4 });
      const e = await make({ maxEvents: 6, retention: [busy] });
      assert.deepEqual(
        e.retention?.map((c) => c.name),
        [busy.name],
      );
      const feed = await appendN(e, 3, () => '/feed', 'f');
      await appendN(e, 30, (i) => `/busy/${i}`, 'b');
      feed.push(...(await appendN(e, 1, () => '/feed', 'g')));
      const all = await settled(e, (ev) => count(ev, 'b') <= 4 + setup.slack, 'busy trimmed');
      assert.deepEqual(
        data(all.filter((ev) => ev.topics[0] === '/feed')),
        ['f0', 'f1', 'f2', 'g0'],
        'the default class kept every event',
      );
      const kept = count(all, 'b');
      assert.ok(kept >= 4 && kept <= 4 + setup.slack, `busy keeps 4 (+${setup.slack}): ${kept}`);
      assert.ok(data(all).includes('b29') && !data(all).includes('b0'), 'the newest stay');

      const onFeed = (ev: EngineEvent): boolean => ev.topics[0] === '/feed';
      const reader = await e.history({
        after: feed[0]!.id,
        match: onFeed,
        concerns: (c) => c === DEFAULT_RETENTION_CLASS,
      });
      assert.equal(reader.found, true, 'nothing a /feed reader could receive was evicted');
      assert.deepEqual(data(reader.events), ['f1', 'f2', 'g0']);

      const everyone = await e.history({ after: feed[0]!.id, match: onFeed });
      assert.equal(everyone.found, false, 'without concerns, every class counts');
      assert.deepEqual(data(everyone.events), ['f1', 'f2', 'g0'], 'exactly after the id, still');

      const busyReader = await e.history({ after: feed[0]!.id, concerns: (c) => c === busy.name });
      assert.equal(busyReader.found, false, 'a busy reader is told');
    });

    it('a reader of an evicting class is told, and resumes exactly after its id', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 3 });
      const e = await make({ maxEvents: 100, retention: [busy] });
      const early = await appendN(e, 2, () => '/feed', 'f');
      const b = await appendN(e, 20, (i) => `/busy/${i}`, 'b');
      await appendN(e, 1, () => '/feed', 'g');
      await settled(e, (ev) => count(ev, 'b') <= 3 + setup.slack, 'busy trimmed');
      const r = await e.history({ after: b[5]!.id, concerns: (c) => c === busy.name });
      assert.equal(r.found, false);
      assert.ok(
        r.events.every((ev) => e.compare(ev.position, b[5]!.position) > 0),
        'nothing at or before the id it resumed after',
      );
      assert.ok(data(r.events).includes('g0'));
      assert.ok(!data(r.events).includes(early[1]!.data));
      // Its own class's last retained event is a complete start point again.
      const last = await e.history({ after: b[19]!.id, concerns: (c) => c === busy.name });
      assert.equal(last.found, true);
      assert.deepEqual(data(last.events), ['g0']);
    });

    it('an unknown id starts after the newest eviction, so nothing the client saw comes again', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 2 });
      const e = await make({ maxEvents: 100, retention: [busy] });
      await appendN(e, 3, () => '/feed', 'f');
      await appendN(e, 10, (i) => `/busy/${i}`, 'b');
      await appendN(e, 2, () => '/feed', 'g');
      await settled(e, (ev) => count(ev, 'b') <= 2 + setup.slack, 'busy trimmed');
      for (const after of ['never-published', 'earliest-not', '99999999999999999999-0']) {
        const r = await e.history({ after });
        assert.equal(r.found, false, after);
        assert.ok(!data(r.events).some((d) => d.startsWith('f')), `${after}: older feed events`);
        assert.deepEqual(
          data(r.events).filter((d) => d.startsWith('g')),
          ['g0', 'g1'],
          after,
        );
      }
    });

    it('a start the reader may not see is answered exactly as an unknown id', async () => {
      // Issue 14, item 7 under retention classes: an id the reader may not see (a private
      // update it is not authorized for) must not be confirmed by resuming after it, so its
      // answer is an unknown id's — after the newest eviction, whichever class evicted — for any
      // set of classes the reader is concerned by. A reader that may see it resumes exactly
      // after it.
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 2 });
      const e = await make({ maxEvents: 100, retention: [busy] });
      const f = await appendN(e, 2, () => '/feed', 'f');
      const early = await e.append({
        topics: ['/feed'],
        data: 'h0',
        id: 'secret-early',
        private: true,
      });
      const earlyGenerated = await e.append({ topics: ['/feed'], data: 'h0g', private: true });
      await appendN(e, 8, (i) => `/busy/${i}`, 'b');
      await settled(e, (ev) => count(ev, 'b') <= 2 + setup.slack, 'busy trimmed');
      const custom = await e.append({
        topics: ['/feed'],
        data: 'h1',
        id: 'secret-late',
        private: true,
      });
      const generated = await e.append({ topics: ['/feed'], data: 'h2', private: true });
      await appendN(e, 2, () => '/feed', 'g');
      const publicOnly = (ev: EngineEvent): boolean => !ev.private;
      const concerned = [
        undefined,
        (c: string) => c === DEFAULT_RETENTION_CLASS,
        (c: string) => c === busy.name,
      ];
      for (const concerns of concerned) {
        const label = concerns === undefined ? 'every class' : 'one class';
        for (const match of [undefined, publicOnly]) {
          const ask = (after: string, visible = publicOnly) =>
            e.history({ after, match, concerns, visible });
          const unknown = await ask('never-published');
          assert.equal(unknown.found, false);
          assert.ok(!data(unknown.events).some((d) => d.startsWith('f')), 'after the eviction');
          assert.deepEqual(
            data(unknown.events).filter((d) => d.startsWith('g')),
            ['g0', 'g1'],
            label,
          );
          // Custom ids before and after the newest eviction, a generated one after it (and
          // before it, where generated ids are a counter).
          const hidden = [early.id, custom.id, generated.id];
          if (setup.sparseIds !== true) hidden.push(earlyGenerated.id);
          for (const id of hidden) {
            assert.deepEqual(await ask(id), unknown, `${id}, ${label}`);
          }
          // What the reader may see it resumes exactly after, told of a loss only in a class
          // it is concerned by.
          const seen = await ask(custom.id, () => true);
          assert.equal(seen.found, true, `nothing was evicted after ${custom.id}`);
          assert.deepEqual(
            data(seen.events),
            match === undefined ? ['h2', 'g0', 'g1'] : ['g0', 'g1'],
          );
          const before = await ask(f[1]!.id, () => true);
          const busyCounts = concerns === undefined || concerns(busy.name);
          assert.equal(before.found, !busyCounts, `busy evicted after ${f[1]!.id}, ${label}`);
          assert.equal(
            data(before.events).filter((d) => d.startsWith('h'))[0],
            match === undefined ? 'h0' : undefined,
          );
          assert.ok(
            before.events.every((ev) => e.compare(ev.position, f[1]!.position) > 0),
            'exactly after it',
          );
        }
      }
    });

    it('a known start the reader may see resumes exactly after it, even evicted and with a loss', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 3 });
      const e = await make({ maxEvents: 100, retention: [busy] });
      await appendN(e, 1, () => '/feed', 'f');
      const b = await appendN(e, 12, (i) => `/busy/${i}`, 'b');
      await appendN(e, 1, () => '/feed', 'g');
      await settled(e, (ev) => count(ev, 'b') <= 3 + setup.slack, 'busy trimmed');
      const everyone = (): boolean => true;
      // b[2] was evicted (its visibility cannot be checked: a position the reader resumes
      // after); b[11] is retained and visible.
      const r = await e.history({ after: b[2]!.id, visible: everyone });
      assert.equal(r.found, false, 'busy events after it were evicted');
      assert.ok(r.events.every((ev) => e.compare(ev.position, b[2]!.position) > 0));
      assert.ok(data(r.events).includes('g0') && data(r.events).includes('b11'));
      const last = await e.history({ after: b[11]!.id, visible: everyone });
      assert.equal(last.found, true);
      assert.deepEqual(data(last.events), ['g0']);
    });

    it('an event belongs to a class only when the class claims every one of its topics', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 2 });
      const e = await make({ maxEvents: 100, retention: [busy] });
      await e.append({ topics: ['/busy/x', '/feed'], data: 'mixed' });
      await appendN(e, 10, (i) => `/busy/${i}`, 'b');
      const all = await settled(e, (ev) => count(ev, 'b') <= 2 + setup.slack, 'busy trimmed');
      assert.ok(data(all).includes('mixed'), 'kept with the default class');
    });

    it('custom ids are unique across classes, and free again once evicted', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 2 });
      const e = await make({ maxEvents: 100, retention: [busy] });
      await e.append({ topics: ['/feed'], data: 'x', id: 'shared' });
      await assert.rejects(
        e.append({ topics: ['/busy/1'], data: 'y', id: 'shared' }),
        (error: unknown) => error instanceof HeraldEngineError && error.code === 'DUPLICATE_ID',
      );
      await e.append({ topics: ['/busy/0'], data: 'c', id: 'recycled' });
      await appendN(e, 6, (i) => `/busy/${i}`, 'b');
      await settled(e, (ev) => !data(ev).includes('c'), 'the custom-id event evicted');
      assert.equal(await e.resolve('recycled'), undefined);
      const again = await e.append({ topics: ['/feed'], data: 'again', id: 'recycled' });
      assert.equal(again.id, 'recycled');
    });

    it('the default class keeps its own bound and reports its own losses', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 50 });
      const e = await make({ maxEvents: 3, retention: [busy] });
      const b = await appendN(e, 2, (i) => `/busy/${i}`, 'b');
      const f = await appendN(e, 12, () => '/feed', 'f');
      const all = await settled(e, (ev) => count(ev, 'f') <= 3 + setup.slack, 'feed trimmed');
      assert.equal(count(all, 'b'), 2, 'the busy class keeps its events');
      const feedReader = await e.history({ after: f[0]!.id });
      assert.equal(feedReader.found, false);
      const busyReader = await e.history({
        after: b[1]!.id,
        concerns: (c) => c === busy.name,
        match: (ev) => ev.topics[0]!.startsWith('/busy/'),
      });
      assert.equal(busyReader.found, true, 'a loss in the default class does not concern it');
      assert.deepEqual(data(busyReader.events), []);
    });

    it('live delivery and latest keep one position order across classes', async () => {
      const busy = retentionClass({ selector: '/busy/{n}', maxEvents: 100 });
      const e = await make({ maxEvents: 100, retention: [busy] });
      const got = new Collector<EngineEvent>();
      e.onEvent((ev) => got.push(ev));
      const appended: EngineEvent[] = [];
      for (let i = 0; i < 10; i++) {
        appended.push(
          await e.append({ topics: [i % 3 === 0 ? '/feed' : `/busy/${i}`], data: `e${i}` }),
        );
      }
      await got.count(10, 'ten live events');
      assert.deepEqual(data(got.items), data(appended));
      for (let i = 1; i < got.items.length; i++) {
        assert.ok(e.compare(got.items[i - 1]!.position, got.items[i]!.position) < 0);
      }
      const latest = await e.latest({ perTopic: 1, match: () => true });
      for (let i = 1; i < latest.events.length; i++) {
        assert.ok(e.compare(latest.events[i - 1]!.position, latest.events[i]!.position) < 0);
      }
      assert.equal(latest.events.at(-1)!.data, 'e9');
    });
  });
}

// -- the rest of the contract ----------------------------------------------------------------

/** Options the contract asks of an engine (each engine maps them to its own). */
export interface ContractEngineOptions {
  /** Most events kept. */
  maxEvents?: number;
  /** Most bytes kept; a larger event is refused. */
  maxBytes?: number;
  /** Events an engine reads at once, when it reads in pages (small, to cross pages). */
  pageSize?: number;
  /** Called when a listener throws. */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
  /** Engines made with the same `store` share one history (nodes of one deployment). */
  store?: string;
}

/** What {@link engineContract} needs from an engine. */
export interface EngineContractSetup {
  /** Why the suite is skipped (a server binary is missing), if it is. */
  skip?: string | undefined;
  /** Starts what the engines need. */
  before?(): Promise<void>;
  /** Stops it (the suite has closed every engine by then). */
  after?(): Promise<void>;
  /**
   * A started engine (its live reader running) with these options, on a fresh store unless
   * `options.store` names one made before; the suite closes it.
   */
  make(options?: ContractEngineOptions): Promise<Engine>;
  /**
   * Whether two engines can share a store (`store`): the tests of several nodes run only then.
   * An engine of one process (memory) answers `false`, and the node tests use one engine.
   */
  shared: boolean;
  /**
   * An id shaped like the engine's generated ids that it never handed out: refused as a custom
   * id, and unknown as a start point (`found: false`).
   */
  reservedId(generated: EngineEvent): string;
}

function isEngineError(code: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HeraldEngineError, `a HeraldEngineError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

/**
 * The engine contract as every engine keeps it: what `append` stores and refuses, ids and
 * custom ids, `history` after an id, a position or `earliest`, paging, ids a reader may not
 * see, `latest`, live delivery (once each, in one order across nodes, past a throwing
 * listener), `close`, and two hubs sharing one engine store. Engine-specific behaviour (id
 * shapes, bounds, faults) stays in each engine's own tests.
 *
 * @param name - the engine's name in the suite's title
 * @param setup - how to start and make engines
 */
export function engineContract(name: string, setup: EngineContractSetup): void {
  describe(`engine contract: ${name}`, { skip: setup.skip }, () => {
    const made: Engine[] = [];
    let stores = 0;
    const engine = async (options: ContractEngineOptions = {}): Promise<Engine> => {
      const e = await setup.make(options);
      made.push(e);
      return e;
    };
    /** Two engines on one store (or, for an engine of one process, the same one twice). */
    const pair = async (options: ContractEngineOptions = {}): Promise<[Engine, Engine]> => {
      if (!setup.shared) {
        const e = await engine(options);
        return [e, e];
      }
      const store = `pair${++stores}`;
      return [await engine({ ...options, store }), await engine({ ...options, store })];
    };
    const publishN = async (e: Engine, n: number, topic = '/t'): Promise<EngineEvent[]> => {
      const out: EngineEvent[] = [];
      for (let i = 0; i < n; i++) out.push(await e.append({ topics: [topic], data: `d${i}` }));
      return out;
    };

    before(async () => {
      await setup.before?.();
    });
    after(async () => {
      for (const e of made) await e.close();
      await setup.after?.();
    });

    describe('append, positions and ids', () => {
      it('stores every field and reads it back the same', async () => {
        const e = await engine();
        const input = {
          topics: ['/a', 'urn:x.y.*.>', 'with space', 'ünï\ncode 🎉'],
          data: 'héllo\nworld\r\n{"json":true}',
          type: 'greeting',
          id: 'custom-1',
          retry: 500,
          private: true,
        };
        const ev = await e.append(input);
        assert.equal(ev.id, 'custom-1');
        assert.equal(ev.customId, true);
        const [read] = (await e.history({ after: EARLIEST })).events;
        assert.deepEqual({ ...read }, { ...ev });
        const plain = await e.append({ topics: ['/a'], data: '' });
        const back = (await e.history({ after: 'custom-1' })).events[0]!;
        assert.deepEqual({ ...back }, { ...plain });
        assert.equal(back.private, false);
        assert.equal(back.type, undefined);
        assert.equal(back.retry, undefined);
      });

      it('rejects invalid events with INVALID_EVENT, storing nothing', async () => {
        const e = await engine();
        const first = await e.append({ topics: ['/a'], data: 'first' });
        const bad: unknown[] = [
          { topics: [], data: 'x' },
          { topics: [''], data: 'x' },
          { topics: ['/a'], data: 1 },
          { topics: ['/a'], data: 'x', type: 'a\nb' },
          { topics: ['/a'], data: 'x', id: '' },
          { topics: ['/a'], data: 'x', id: 'a\rb' },
          { topics: ['/a'], data: 'x', id: EARLIEST },
          { topics: ['/a'], data: 'x', id: setup.reservedId(first) }, // like a generated id
          { topics: ['/a'], data: 'x', retry: -1 },
          { topics: ['/a'], data: 'x', private: 'yes' },
        ];
        for (const input of bad) {
          await assert.rejects(
            e.append(input as never),
            isEngineError('INVALID_EVENT'),
            JSON.stringify(input),
          );
        }
        assert.deepEqual(data((await e.history({ after: EARLIEST })).events), ['first']);
      });

      it('rejects a duplicate custom id while the older event is retained, from any node', async () => {
        const [a, b] = await pair({ maxEvents: 2 });
        const id = 'order 7.*> ünï';
        const first = await a.append({ topics: ['/a'], data: '1', id });
        await assert.rejects(b.append({ topics: ['/b'], data: '2', id }), (err: unknown) => {
          isEngineError('DUPLICATE_ID')(err);
          assert.ok(
            (err as Error).message.includes(`${JSON.stringify(id)} is still in history`),
            (err as Error).message,
          );
          return true;
        });
        await a.append({ topics: ['/a'], data: '2' });
        await a.append({ topics: ['/a'], data: '3' }); // evicts the first
        await settled(b, (events) => events.length <= 2, 'the first event evicted');
        assert.equal(await b.resolve(id), undefined);
        const again = await b.append({ topics: ['/a'], data: '4', id });
        assert.ok(b.compare(again.position, first.position) > 0);
        assert.equal(await a.resolve(id), again.position);
      });

      it('refuses an event bigger than maxBytes', async () => {
        const e = await engine({ maxBytes: 100 });
        await assert.rejects(
          e.append({ topics: ['/a'], data: 'x'.repeat(100) }),
          isEngineError('EVENT_TOO_LARGE'),
        );
      });
    });

    describe('history', () => {
      it('returns events strictly after a generated id, a custom id or a position', async () => {
        const e = await engine();
        const ev = await publishN(e, 3);
        const custom = await e.append({ topics: ['/t'], data: 'custom', id: 'my-id' });
        const tail = await publishN(e, 2, '/u');

        const byId = await e.history({ after: ev[1]!.id });
        assert.equal(byId.found, true);
        assert.deepEqual(data(byId.events), ['d2', 'custom', 'd0', 'd1']);
        assert.equal(byId.oldest, ev[0]!.id);
        assert.equal(byId.cursor, tail[1]!.position);
        assert.equal(byId.more, false);

        const byCustom = await e.history({ after: 'my-id' });
        assert.equal(byCustom.found, true);
        assert.deepEqual(
          byCustom.events.map((x) => x.id),
          tail.map((x) => x.id),
        );

        const byPosition = await e.history({ after: { position: custom.position } });
        assert.deepEqual(data(byPosition.events), ['d0', 'd1']);

        const newest = await e.history({ after: tail[1]!.id });
        assert.equal(newest.found, true);
        assert.deepEqual(newest.events, []);
        assert.equal(newest.cursor, tail[1]!.position);
      });

      it('earliest returns everything retained', async () => {
        const e = await engine();
        const empty = await e.history({ after: EARLIEST });
        assert.deepEqual(empty, {
          events: [],
          found: true,
          oldest: null,
          cursor: null,
          more: false,
        });
        await publishN(e, 3);
        const all = await e.history({ after: 'earliest' });
        assert.equal(all.found, true);
        assert.deepEqual(data(all.events), ['d0', 'd1', 'd2']);
      });

      it('filters with match and pages with limit / cursor (across read pages)', async () => {
        const e = await engine({ pageSize: 3 });
        for (let i = 0; i < 10; i++)
          await e.append({ topics: [i % 2 ? '/odd' : '/even'], data: `${i}` });
        const got: string[] = [];
        let after: string | { position: string } = EARLIEST;
        let pages = 0;
        for (;;) {
          const r = await e.history({ after, limit: 2, match: (x) => x.topics[0] === '/odd' });
          got.push(...data(r.events));
          pages++;
          if (!r.more) break;
          after = { position: r.cursor! };
        }
        assert.deepEqual(got, ['1', '3', '5', '7', '9']);
        assert.equal(pages, 3);
        const all = await e.history({ after: EARLIEST, match: (x) => x.topics[0] === '/even' });
        assert.deepEqual(data(all.events), ['0', '2', '4', '6', '8']);
        assert.equal(all.more, false);
        const exact = await e.history({ after: EARLIEST, limit: 10 });
        assert.equal(exact.events.length, 10);
        assert.equal(exact.more, false, 'limit reached at the newest event');
      });

      it('reports found=false for unknown or evicted ids (count bound) and replays from the oldest', async () => {
        const e = await engine({ maxEvents: 3 });
        const ev = await publishN(e, 6);
        const unknown = await e.history({ after: 'never-published' });
        assert.equal(unknown.found, false);
        assert.deepEqual(data(unknown.events), ['d3', 'd4', 'd5']);
        assert.equal(unknown.oldest, ev[3]!.id);

        const evicted = await e.history({ after: ev[1]!.id });
        assert.equal(evicted.found, false, 'd2 after it was evicted');
        assert.deepEqual(data(evicted.events), ['d3', 'd4', 'd5']);

        const edge = await e.history({ after: ev[2]!.id });
        assert.equal(edge.found, true, 'evicted itself, but nothing after it was lost');
        assert.deepEqual(data(edge.events), ['d3', 'd4', 'd5']);

        const made = await e.history({ after: setup.reservedId(ev[0]!) });
        assert.equal(made.found, false, 'an id that was never handed out');
        const garbage = await e.history({ after: { position: 'nope' } });
        assert.equal(garbage.found, false);
        assert.equal(await e.resolve(ev[1]!.id), undefined);
        assert.equal(await e.resolve(ev[4]!.id), ev[4]!.position);
        assert.equal(await e.resolve('never-published'), undefined);
      });

      it('answers a start the reader may not see as an unknown id (custom or generated)', async () => {
        const e = await engine();
        await e.append({ topics: ['/t'], data: 'a' });
        const secret = await e.append({ topics: ['/s'], data: 's', id: 'secret-x', private: true });
        const generated = await e.append({ topics: ['/s'], data: 's2', private: true });
        await e.append({ topics: ['/t'], data: 'b' });
        const publicOnly = (ev: EngineEvent): boolean => !ev.private;
        const unknown = await e.history({ after: 'never-published', visible: publicOnly });
        assert.equal(unknown.found, false);
        assert.deepEqual(data(unknown.events), ['a', 's', 's2', 'b']);
        for (const id of [secret.id, generated.id]) {
          assert.deepEqual(await e.history({ after: id, visible: publicOnly }), unknown, id);
          const seen = await e.history({ after: id, visible: (ev) => ev.id === id });
          assert.equal(seen.found, true, `${id} for a reader that may see it`);
          assert.deepEqual(data(seen.events), id === secret.id ? ['s2', 'b'] : ['b']);
        }
      });
    });

    describe('latest', () => {
      it('returns the newest n of each matching topic, in position order', async () => {
        const e = await engine({ pageSize: 2 });
        for (let i = 0; i < 12; i++) {
          await e.append({ topics: [['/a', '/b', '/c'][i % 3]!], data: String(i) });
        }
        const both = await e.append({ topics: ['/a', '/b'], data: 'both' });
        const r = await e.latest({ perTopic: 2, match: (topic) => topic !== '/c' });
        assert.deepEqual(data(r.events), ['9', '10', 'both']);
        assert.equal(r.cursor, both.position);
        const limited = await e.latest({ perTopic: 3, match: () => true, limit: 2 });
        assert.deepEqual(data(limited.events), ['11', 'both']);
        const none = await (await engine()).latest({ perTopic: 1, match: () => true });
        assert.deepEqual(none, { events: [], cursor: null });
      });
    });

    describe('live delivery', () => {
      it('delivers its own appends once each, in order, and stops after unsubscribing', async () => {
        const e = await engine();
        const got = new Collector<EngineEvent>();
        const off = e.onEvent((ev) => got.push(ev));
        const sent = await publishN(e, 20);
        await got.count(20, 'own events');
        assert.deepEqual(
          got.items.map((x) => ({ ...x })),
          sent.map((x) => ({ ...x })),
        );
        off();
        await e.append({ topics: ['/t'], data: 'after' });
        const marker = new Collector<EngineEvent>();
        e.onEvent((ev) => marker.push(ev));
        await e.append({ topics: ['/t'], data: 'marker' });
        await marker.until((x) => x.some((ev) => ev.data === 'marker'), 'the marker');
        assert.equal(got.items.length, 20);
      });

      it('two engines on one store deliver every event of both to both, in one order', async () => {
        const [a, b] = await pair();
        const onA = new Collector<EngineEvent>();
        const onB = new Collector<EngineEvent>();
        a.onEvent((ev) => onA.push(ev));
        if (b !== a) b.onEvent((ev) => onB.push(ev));
        else a.onEvent((ev) => onB.push(ev));
        const sends: Promise<EngineEvent>[] = [];
        for (let i = 0; i < 100; i++) {
          sends.push(a.append({ topics: ['/t'], data: `a${i}` }));
          sends.push(b.append({ topics: ['/t', '/u'], data: `b${i}`, id: `b-${i}` }));
        }
        const sent = await Promise.all(sends);
        await onA.count(200, 'events on A');
        await onB.count(200, 'events on B');
        const order = [...sent].sort((x, y) => a.compare(x.position, y.position));
        assert.deepEqual(
          onA.items.map((x) => x.id),
          order.map((x) => x.id),
        );
        assert.deepEqual(
          onB.items.map((x) => x.id),
          order.map((x) => x.id),
        );
        const as = onA.items.filter((x) => x.data.startsWith('a')).map((x) => x.data);
        assert.deepEqual(
          as,
          Array.from({ length: 100 }, (_, i) => `a${i}`),
          'each node keeps its own append order',
        );
        const history = await b.history({ after: EARLIEST });
        assert.deepEqual(
          history.events.map((x) => x.id),
          order.map((x) => x.id),
        );
      });

      it('reports listener errors and keeps delivering', async () => {
        const errors: unknown[] = [];
        const e = await engine({ onListenerError: (error) => errors.push(error) });
        const got = new Collector<string>();
        e.onEvent(() => {
          throw new Error('boom');
        });
        e.onEvent((ev) => got.push(ev.data));
        await publishN(e, 2);
        await got.count(2, 'events after a throwing listener');
        assert.equal(errors.length, 2);
      });
    });

    describe('close', () => {
      it('rejects CLOSED after close, and closes twice', async () => {
        const e = await engine();
        await e.close();
        await e.close();
        assert.deepEqual(e.health(), { ready: false, reason: 'engine closed' });
        await assert.rejects(e.append({ topics: ['/a'], data: 'x' }), isEngineError('CLOSED'));
        await assert.rejects(e.history({ after: EARLIEST }), isEngineError('CLOSED'));
        assert.throws(() => e.onEvent(() => {}), isEngineError('CLOSED'));
      });
    });

    describe('two hubs on one store', () => {
      it('replays after Last-Event-ID on B what was published on A, then goes live', async () => {
        const [a, b] = await pair();
        const hubA = createHub({ engine: a });
        const hubB = b === a ? hubA : createHub({ engine: b });
        const server = await startHubServer((req, res, url) =>
          hubB.subscribe(req, res, { topics: topicsOf(url) }),
        );
        try {
          const ids: string[] = [];
          for (let i = 0; i < 5; i++)
            ids.push((await hubA.publish({ topics: '/x', data: `${i}` })).id);
          const { res, reader } = await openStream(`${server.origin}/?client=c&topic=%2Fx`, {
            'last-event-id': ids[1]!,
          });
          assert.equal(res.statusCode, 200);
          const { sub } = await server.nth('c', 0);
          await withTimeout(sub.ready, 'the replay');
          const live = (await hubA.publish({ topics: '/x', data: 'live', id: 'live-1' })).id;
          await reader.events.until(
            (items) => items.some((ev) => ev.id === live),
            'the live event from hub A',
          );
          sub.close();
          await reader.end();
          const got = reader.events.items.map(received);
          assert.deepEqual(
            got.map((ev) => [ev.id, ev.data]),
            [
              [ids[2], '2'],
              [ids[3], '3'],
              [ids[4], '4'],
              ['live-1', 'live'],
            ],
          );
        } finally {
          await server.close();
          await hubA.close();
          if (hubB !== hubA) await hubB.close();
        }
      });
    });
  });
}
