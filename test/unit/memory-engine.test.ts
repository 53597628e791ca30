import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compareDecimal,
  EARLIEST,
  type EngineEvent,
  EVENT_OVERHEAD_BYTES,
  eventSize,
  HeraldEngineError,
  TOPIC_OVERHEAD_BYTES,
  validateEventInput,
} from '../../src/engines/engine.js';
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_EVENTS,
  type MemoryEngineOptions,
  memoryEngine,
} from '../../src/engines/memory.js';
import { engineContract } from '../helpers/engine-contract.js';

/** A hand-driven clock. */
function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}

function engine(options: MemoryEngineOptions = {}) {
  return memoryEngine({ epoch: 'e1', ...options });
}

async function publishN(
  e: ReturnType<typeof engine>,
  n: number,
  topic = '/t',
): Promise<EngineEvent[]> {
  const out: EngineEvent[] = [];
  for (let i = 0; i < n; i++) out.push(await e.append({ topics: [topic], data: `d${i}` }));
  return out;
}

const data = (events: readonly EngineEvent[]): string[] => events.map((e) => e.data);

function engineError(code: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HeraldEngineError, 'a HeraldEngineError');
    assert.equal(error.code, code);
    return true;
  };
}

describe('memory engine: append, positions and ids', () => {
  it('assigns strictly increasing positions and <epoch>-<position> ids', async () => {
    const e = engine();
    const events = await publishN(e, 12);
    assert.deepEqual(
      events.map((x) => x.position),
      ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'],
    );
    for (let i = 1; i < events.length; i++) {
      assert.ok(e.compare(events[i - 1]!.position, events[i]!.position) < 0);
      assert.ok(e.compare(events[i]!.position, events[i - 1]!.position) > 0);
    }
    assert.equal(e.compare('10', '10'), 0);
    assert.equal(events[9]!.id, 'e1-10');
    assert.equal(events[9]!.customId, false);
    await e.close();
  });

  it('stores the event fields and a byte size', async () => {
    const c = clock();
    const e = engine({ now: c.now });
    const ev = await e.append({
      topics: ['/a', '/b'],
      data: 'héllo',
      type: 'greeting',
      id: 'custom-1',
      retry: 500,
      private: true,
    });
    assert.deepEqual(
      { ...ev },
      {
        position: '1',
        id: 'custom-1',
        customId: true,
        topics: ['/a', '/b'],
        data: 'héllo',
        type: 'greeting',
        retry: 500,
        private: true,
        time: 1_000_000,
        size: EVENT_OVERHEAD_BYTES + 6 + 8 + 2 * TOPIC_OVERHEAD_BYTES + 2 + 2 + 8,
      },
    );
    assert.equal(
      ev.size,
      eventSize({ topics: ['/a', '/b'], data: 'héllo', type: 'greeting' }, 'custom-1'),
    );
    const plain = await e.append({ topics: ['/a'], data: '' });
    assert.equal(plain.private, false);
    assert.equal(plain.type, undefined);
    assert.equal(plain.retry, undefined);
    await e.close();
  });

  it('copies the topics array', async () => {
    const e = engine();
    const topics = ['/a'];
    const ev = await e.append({ topics, data: 'x' });
    topics.push('/b');
    assert.deepEqual(ev.topics, ['/a']);
    await e.close();
  });

  it('gives each instance a random epoch by default', () => {
    const a = memoryEngine();
    const b = memoryEngine();
    assert.match(a.epoch, /^[0-9a-f]{12}$/);
    assert.notEqual(a.epoch, b.epoch);
  });

  it('rejects invalid events with INVALID_EVENT', async () => {
    const e = engine();
    const bad: unknown[] = [
      { topics: [], data: 'x' },
      { topics: [''], data: 'x' },
      { topics: '/a', data: 'x' },
      { topics: ['/a'], data: 1 },
      { topics: ['/a'], data: 'x', type: 'a\nb' },
      { topics: ['/a'], data: 'x', id: '' },
      { topics: ['/a'], data: 'x', id: 'a\rb' },
      { topics: ['/a'], data: 'x', id: 'a\0b' },
      { topics: ['/a'], data: 'x', id: EARLIEST },
      { topics: ['/a'], data: 'x', id: 'e1-5' }, // shaped like a generated id
      { topics: ['/a'], data: 'x', retry: -1 },
      { topics: ['/a'], data: 'x', retry: 1.5 },
      { topics: ['/a'], data: 'x', private: 'yes' },
      // Not well-formed Unicode: on the wire a lone surrogate is U+FFFD.
      { topics: ['/a'], data: 'x', id: 'half-\ud83d' },
      { topics: ['/a'], data: 'x', id: '\ude00' },
      { topics: ['/a'], data: 'x', type: 'chat\ud800' },
      { topics: ['/a\udfff'], data: 'x' },
    ];
    for (const input of bad) {
      await assert.rejects(
        e.append(input as never),
        engineError('INVALID_EVENT'),
        JSON.stringify(input),
      );
    }
    assert.equal(e.stats().newest, null, 'nothing was stored');
    assert.throws(
      () => validateEventInput({ topics: ['/a'], data: 'x', retry: Number.NaN }),
      engineError('INVALID_EVENT'),
    );
    assert.throws(
      () => validateEventInput({ topics: ['/a'], data: 'x', id: 'x\ud800y' }),
      /not well-formed Unicode/,
    );
    // Paired surrogates are one code point; a lone one in the data is only content.
    const emoji = await e.append({ topics: ['/😀'], data: 'half \ud83d', id: '😀', type: 'é😀' });
    assert.equal(emoji.id, '😀');
    await e.close();
  });

  it('counts each topic with its overhead in the event size', () => {
    const topics = Array.from({ length: 1000 }, (_, i) => `/${i}`);
    const size = eventSize({ topics, data: '' }, 'id');
    const chars = topics.reduce((n, t) => n + t.length, 0);
    assert.equal(size, EVENT_OVERHEAD_BYTES + 2 + chars + 1000 * TOPIC_OVERHEAD_BYTES);
  });

  it('validates options', () => {
    for (const options of [
      { maxEvents: -1 },
      { maxEvents: 1.5 },
      { maxBytes: Number.NaN },
      { ttlMs: -5 },
      { sweepIntervalMs: -1 },
      { epoch: '' },
      { epoch: 'a-b' },
      { epoch: 'x'.repeat(65) },
    ]) {
      assert.throws(
        () => memoryEngine(options),
        engineError('INVALID_OPTIONS'),
        JSON.stringify(options),
      );
    }
    assert.equal(DEFAULT_MAX_EVENTS, 10_000);
    assert.equal(DEFAULT_MAX_BYTES, 16 * 1024 * 1024);
    memoryEngine({ maxEvents: Number.POSITIVE_INFINITY, maxBytes: Number.POSITIVE_INFINITY });
  });

  it('compareDecimal orders decimal strings of any length', () => {
    assert.equal(compareDecimal('9', '10'), -1);
    assert.equal(compareDecimal('100', '99'), 1);
    assert.equal(compareDecimal('12345678901234567890', '12345678901234567891'), -1);
    assert.equal(compareDecimal('7', '7'), 0);
  });
});

describe('memory engine: history', () => {
  it('filters with match and pages with limit / cursor', async () => {
    const e = engine();
    for (let i = 0; i < 10; i++)
      await e.append({ topics: [i % 2 === 0 ? '/even' : '/odd'], data: String(i) });
    const match = (ev: EngineEvent) => ev.topics.includes('/even');
    const page1 = await e.history({ after: EARLIEST, match, limit: 2 });
    assert.deepEqual(data(page1.events), ['0', '2']);
    assert.equal(page1.more, true);
    assert.equal(page1.cursor, '3');
    const page2 = await e.history({ after: { position: page1.cursor! }, match, limit: 2 });
    assert.deepEqual(data(page2.events), ['4', '6']);
    const page3 = await e.history({ after: { position: page2.cursor! }, match, limit: 2 });
    assert.deepEqual(data(page3.events), ['8']);
    assert.equal(page3.more, false);
    assert.equal(page3.cursor, '10');
    await e.close();
  });

  it('unknown ids are not found: events start at the oldest retained', async () => {
    const e = engine();
    await publishN(e, 3);
    for (const after of ['nope', 'e2-1', 'e1-99', 'e1-', 'e1-01', 'e1-x']) {
      const r = await e.history({ after });
      assert.equal(r.found, false, after);
      assert.deepEqual(data(r.events), ['d0', 'd1', 'd2'], after);
      assert.equal(r.oldest, 'e1-1');
      assert.equal(r.cursor, '3');
    }
    assert.equal((await e.history({ after: { position: '99' } })).found, false);
    assert.equal((await e.history({ after: { position: 'x' } })).found, false);
    await e.close();
  });

  it('listens-then-reads: a live event at or before the cursor was covered by the read', async () => {
    const e = engine();
    await publishN(e, 2);
    const live: EngineEvent[] = [];
    e.onEvent((ev) => live.push(ev));
    await e.append({ topics: ['/t'], data: 'during' }); // e.g. published while the hub reads
    const r = await e.history({ after: 'e1-1' });
    assert.deepEqual(data(r.events), ['d1', 'during']);
    const fresh = live.filter((ev) => e.compare(ev.position, r.cursor!) > 0);
    assert.deepEqual(fresh, []);
    await e.close();
  });
});

describe('memory engine: history of events the reader may not know of', () => {
  it('answers a start it may not see (custom or generated id) as an unknown id', async () => {
    const e = engine();
    await e.append({ topics: ['/t'], data: 'a' });
    const secret = await e.append({ topics: ['/s'], data: 's', id: 'secret', private: true });
    const generated = await e.append({ topics: ['/s'], data: 's2', private: true });
    await e.append({ topics: ['/t'], data: 'b' });
    const publicOnly = (ev: EngineEvent): boolean => !ev.private;
    const unknown = await e.history({ after: 'never-published', visible: publicOnly });
    assert.equal(unknown.found, false);
    assert.deepEqual(data(unknown.events), ['a', 's', 's2', 'b']);
    for (const id of [secret.id, generated.id]) {
      assert.deepEqual(await e.history({ after: id, visible: publicOnly }), unknown, id);
      const seen = await e.history({ after: id, visible: () => true });
      assert.equal(seen.found, true, `${id} for a reader that may see it`);
    }
    // Positions (a previous read's cursor) and `earliest` are not ids a client sent.
    const byPosition = await e.history({
      after: { position: secret.position },
      visible: publicOnly,
    });
    assert.equal(byPosition.found, true);
    assert.equal((await e.history({ after: EARLIEST, visible: () => false })).found, true);
    await e.close();
  });
});

describe('memory engine: eviction', () => {
  it('count bound bites first', async () => {
    const e = engine({ maxEvents: 3, maxBytes: 1_000_000 });
    await publishN(e, 5);
    assert.deepEqual(e.stats(), {
      events: 3,
      bytes: 3 * (EVENT_OVERHEAD_BYTES + TOPIC_OVERHEAD_BYTES + 2 + 2 + 4),
      oldest: '3',
      newest: '5',
    });
    const all = await e.history({ after: EARLIEST });
    assert.deepEqual(data(all.events), ['d2', 'd3', 'd4']);
    await e.close();
  });

  it('byte bound bites first', async () => {
    const size = EVENT_OVERHEAD_BYTES + TOPIC_OVERHEAD_BYTES + 100 + 2 + 4; // data + topic + id "e1-N"
    const e = engine({ maxEvents: 1000, maxBytes: size * 2 + 10 });
    for (let i = 1; i <= 4; i++) await e.append({ topics: ['/t'], data: String(i).repeat(100) });
    const s = e.stats();
    assert.equal(s.events, 2);
    assert.equal(s.bytes, size * 2);
    assert.equal(s.oldest, '3');
    await e.close();
  });

  it('TTL bites first, lazily on append and on read', async () => {
    const c = clock();
    const e = engine({ ttlMs: 1000, now: c.now, sweepIntervalMs: 0 });
    await e.append({ topics: ['/t'], data: 'old' });
    c.advance(500);
    await e.append({ topics: ['/t'], data: 'mid' });
    c.advance(499);
    assert.equal(e.stats().events, 2, 'stats alone does not evict');
    assert.deepEqual(data((await e.history({ after: EARLIEST })).events), ['old', 'mid']);
    c.advance(1); // "old" is now exactly 1000 ms old
    assert.deepEqual(data((await e.history({ after: EARLIEST })).events), ['mid']);
    c.advance(500);
    await e.append({ topics: ['/t'], data: 'new' }); // evicts "mid" on append
    assert.deepEqual(e.stats(), { events: 1, bytes: e.stats().bytes, oldest: '3', newest: '3' });
    await e.close();
  });

  it('sweep() evicts expired events without traffic', async () => {
    const c = clock();
    const e = engine({ ttlMs: 100, now: c.now, sweepIntervalMs: 0 });
    await publishN(e, 3);
    c.advance(100);
    assert.equal(e.sweep(), 3);
    assert.deepEqual(e.stats(), { events: 0, bytes: 0, oldest: null, newest: '3' });
    await e.close();
  });

  it('evicted ids are not found; the newest evicted one still is (nothing was missed)', async () => {
    const e = engine({ maxEvents: 3 });
    await e.append({ topics: ['/t'], data: 'c0', id: 'custom-0' });
    await publishN(e, 5); // positions 2..6, retains 4..6
    for (const after of ['e1-1', 'e1-2', 'custom-0']) {
      const r = await e.history({ after });
      assert.equal(r.found, false, after);
      assert.equal(r.oldest, 'e1-4');
      assert.deepEqual(data(r.events), ['d2', 'd3', 'd4'], after);
    }
    const justBefore = await e.history({ after: 'e1-3' });
    assert.equal(justBefore.found, true);
    assert.deepEqual(data(justBefore.events), ['d2', 'd3', 'd4']);
    await e.close();
  });

  it('maxEvents 0 keeps nothing but still detects gaps', async () => {
    const e = engine({ maxEvents: 0 });
    const [a, b] = await publishN(e, 2);
    assert.equal(e.stats().events, 0);
    assert.equal((await e.history({ after: b!.id })).found, true);
    const gap = await e.history({ after: a!.id });
    assert.equal(gap.found, false);
    assert.equal(gap.oldest, null);
    assert.deepEqual(gap.events, []);
    await e.close();
  });

  it('resolve maps ids to retained positions only', async () => {
    const e = engine({ maxEvents: 2 });
    await e.append({ topics: ['/t'], data: 'a', id: 'A' });
    await e.append({ topics: ['/t'], data: 'b' });
    assert.equal(await e.resolve('A'), '1');
    assert.equal(await e.resolve('e1-2'), '2');
    assert.equal(await e.resolve('e1-3'), undefined);
    assert.equal(await e.resolve('unknown'), undefined);
    await e.append({ topics: ['/t'], data: 'c' });
    assert.equal(await e.resolve('A'), undefined);
    assert.equal(await e.resolve('e1-1'), undefined);
    await e.close();
  });

  it('keeps working across many ring-buffer wrap-arounds and growths', async () => {
    const e = engine({ maxEvents: 37 });
    for (let i = 0; i < 1000; i++)
      await e.append({ topics: ['/t'], data: String(i), id: `id${i}` });
    const all = await e.history({ after: EARLIEST });
    assert.deepEqual(
      data(all.events),
      Array.from({ length: 37 }, (_, i) => String(963 + i)),
    );
    const mid = await e.history({ after: 'id990' });
    assert.deepEqual(data(mid.events), [
      '991',
      '992',
      '993',
      '994',
      '995',
      '996',
      '997',
      '998',
      '999',
    ]);
    assert.equal(await e.resolve('id962'), undefined);
    assert.equal(await e.resolve('id963'), '964');
    await e.close();
  });
});

describe('memory engine: history property', () => {
  it('history(after) equals a model of the retained suffix', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }), {
          maxLength: 30,
        }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        async (maxEvents, customIds, picks) => {
          const e = engine({ maxEvents });
          const all: EngineEvent[] = [];
          for (const [i, id] of customIds.entries()) {
            try {
              all.push(await e.append({ topics: ['/t'], data: String(i), id }));
            } catch (error) {
              engineError('DUPLICATE_ID')(error);
              const retained = all.slice(Math.max(0, all.length - maxEvents));
              assert.ok(
                retained.some((x) => x.id === id),
                'duplicate only while retained',
              );
            }
          }
          const retained = all.slice(Math.max(0, all.length - maxEvents));
          const candidates = [...all.map((x) => x.id), 'unknown', EARLIEST];
          for (const pick of picks) {
            const after = candidates[pick % candidates.length]!;
            const r = await e.history({ after });
            const k = retained.findIndex((x) => x.id === after);
            const firstRetained = all.length - retained.length; // index in `all`
            const newestEvicted = firstRetained > 0 ? all[firstRetained - 1] : undefined;
            if (after === EARLIEST) {
              assert.equal(r.found, true);
              assert.deepEqual(r.events, retained);
            } else if (k !== -1) {
              assert.equal(r.found, true);
              assert.deepEqual(r.events, retained.slice(k + 1));
            } else if (
              newestEvicted !== undefined &&
              !newestEvicted.customId &&
              newestEvicted.id === after
            ) {
              assert.equal(r.found, true);
              assert.deepEqual(r.events, retained);
            } else {
              assert.equal(r.found, false);
              assert.deepEqual(r.events, retained);
            }
            assert.equal(r.oldest, retained[0]?.id ?? null);
          }
          await e.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('memory engine: latest', () => {
  it('returns the newest n events of each matching topic, once each, in order', async () => {
    const e = engine();
    await e.append({ topics: ['/a'], data: 'a1' });
    await e.append({ topics: ['/b'], data: 'b1' });
    await e.append({ topics: ['/a'], data: 'a2' });
    await e.append({ topics: ['/a', '/b'], data: 'ab' });
    await e.append({ topics: ['/c'], data: 'c1' });
    await e.append({ topics: ['/a'], data: 'a3' });

    const one = await e.latest({ perTopic: 1, match: (t) => t === '/a' || t === '/b' });
    assert.deepEqual(data(one.events), ['ab', 'a3']);
    assert.equal(one.cursor, '6');

    const two = await e.latest({ perTopic: 2, match: (t) => t !== '/c' });
    assert.deepEqual(data(two.events), ['b1', 'ab', 'a3']);

    const limited = await e.latest({ perTopic: 5, match: () => true, limit: 2 });
    assert.deepEqual(data(limited.events), ['c1', 'a3']);

    const privateOnly = await e.latest({ perTopic: 1, match: (_t, ev) => ev.data.startsWith('b') });
    assert.deepEqual(data(privateOnly.events), ['b1']);

    await e.close();
    const empty = engine();
    assert.deepEqual(await empty.latest({ perTopic: 1, match: () => true }), {
      events: [],
      cursor: null,
    });
    await empty.close();
  });
});

describe('memory engine: live delivery', () => {
  it('delivers synchronously, in position order, to every listener', async () => {
    const e = engine();
    const a: string[] = [];
    const b: string[] = [];
    e.onEvent((ev) => a.push(ev.position));
    const off = e.onEvent((ev) => b.push(ev.position));
    const p = e.append({ topics: ['/t'], data: 'x' });
    assert.deepEqual(a, ['1'], 'delivered before append settles');
    await p;
    await publishN(e, 2);
    off();
    off(); // idempotent
    await publishN(e, 1);
    assert.deepEqual(a, ['1', '2', '3', '4']);
    assert.deepEqual(b, ['1', '2', '3']);
    await e.close();
  });

  it('an append from a listener is delivered after the current event reached everyone', async () => {
    const e = engine();
    const first: string[] = [];
    const second: string[] = [];
    e.onEvent((ev) => {
      first.push(ev.data);
      if (ev.data === 'outer') void e.append({ topics: ['/t'], data: 'inner' });
    });
    e.onEvent((ev) => second.push(ev.data));
    await e.append({ topics: ['/t'], data: 'outer' });
    assert.deepEqual(first, ['outer', 'inner']);
    assert.deepEqual(second, ['outer', 'inner']);
    await e.close();
  });

  it('a throwing listener is reported and does not stop the others', async () => {
    const errors: unknown[] = [];
    const e = engine({ onListenerError: (error) => errors.push(error) });
    const got: string[] = [];
    e.onEvent(() => {
      throw new Error('boom');
    });
    e.onEvent((ev) => got.push(ev.data));
    const ev = await e.append({ topics: ['/t'], data: 'x' });
    assert.equal(ev.position, '1');
    assert.deepEqual(got, ['x']);
    assert.equal(errors.length, 1);
    await e.close();
  });

  it('a listener added during delivery starts with the next event', async () => {
    const e = engine();
    const late: string[] = [];
    let added = false;
    e.onEvent(() => {
      if (!added) {
        added = true;
        e.onEvent((ev) => late.push(ev.data));
      }
    });
    await e.append({ topics: ['/t'], data: '1' });
    await e.append({ topics: ['/t'], data: '2' });
    assert.deepEqual(late, ['2']);
    await e.close();
  });
});

describe('memory engine: close', () => {
  it('clears the unref’d sweep timer and rejects further use', async () => {
    const realSetInterval = globalThis.setInterval;
    const timers: NodeJS.Timeout[] = [];
    globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
      const t = realSetInterval(...args);
      timers.push(t);
      return t;
    }) as typeof setInterval;
    let e: ReturnType<typeof engine>;
    try {
      e = engine({ ttlMs: 5000 });
    } finally {
      globalThis.setInterval = realSetInterval;
    }
    assert.equal(timers.length, 1, 'one sweep timer');
    const timer = timers[0]!;
    assert.equal(timer.hasRef(), false, 'unref’d: it never keeps the process alive');
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    timer.ref(); // make it visible to getActiveResourcesInfo()
    const before = timeouts();
    await e.close();
    assert.equal(timeouts(), before - 1, 'close() cleared the timer');
    await e.close(); // idempotent

    assert.deepEqual(e.health(), { ready: false, reason: 'engine closed' });
    await assert.rejects(e.append({ topics: ['/t'], data: 'x' }), engineError('CLOSED'));
    await assert.rejects(e.history({ after: EARLIEST }), engineError('CLOSED'));
    await assert.rejects(e.latest({ perTopic: 1, match: () => true }), engineError('CLOSED'));
    await assert.rejects(e.resolve('x'), engineError('CLOSED'));
    assert.throws(() => e.onEvent(() => {}), engineError('CLOSED'));
    assert.equal(e.sweep(), 0);
  });

  it('starts no timer without a TTL', () => {
    const realSetInterval = globalThis.setInterval;
    let calls = 0;
    globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
      calls++;
      return realSetInterval(...args);
    }) as typeof setInterval;
    try {
      const e = engine();
      assert.deepEqual(e.health(), { ready: true });
      void e.close();
      void engine({ ttlMs: 1000, sweepIntervalMs: 0 }).close();
    } finally {
      globalThis.setInterval = realSetInterval;
    }
    assert.equal(calls, 0);
  });
});

// The engine contract (test/helpers/engine-contract.ts): one process, so its "nodes" are one
// engine.
engineContract('memory', {
  make: async ({ store: _store, pageSize: _pageSize, ...options } = {}) => memoryEngine(options),
  shared: false,
  reservedId: (generated) => `${generated.id.slice(0, generated.id.lastIndexOf('-'))}-99`,
});
