// The engine contract's retention part, as a suite any engine can run: retention classes are
// bounded on their own, `history` reports a loss only for the classes a reader cares about,
// resumes exactly after a known start point even when it reports one, and starts after the
// newest eviction when the start point is unknown — so a gap never brings back an event the
// client saw — and answers a start the reader may not see exactly as an unknown one. Run by
// test/integration/engine-retention.test.ts for the memory, Redis and NATS engines; another
// engine can run it the same way.
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
import { Collector, withTimeout } from './async.js';

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
