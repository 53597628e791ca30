// Byte bounds of the engines, against real servers: a history page asked for with `maxBytes`
// comes back within it (the first event always, however large), `more` and `cursor` let the
// reader go on without missing or repeating an event — memory, Redis and NATS alike — and the
// Redis stream is bounded by bytes (--history-bytes): the append script trims the oldest entries
// exactly, a resume from a trimmed id is a gap, and the retained bytes are reported.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EARLIEST, type Engine, type EngineEvent } from '../../src/engines/engine.js';
import { memoryEngine } from '../../src/engines/memory.js';
import { natsEngine } from '../../src/engines/nats.js';
import { redisEngine } from '../../src/engines/redis.js';
import { natsSkip, startNats, type TestNats } from '../helpers/nats-server.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Sizes that vary a lot: small, big, line breaks (7× on the wire; many, or a few CRs and LFs
 * among other text, which Redis counts another way), one larger than a page.
 */
function payload(i: number): string {
  if (i === 7) return 'L'.repeat(40_000);
  if (i % 5 === 0) return '\n'.repeat(2000);
  if (i % 5 === 3) return `${i}\r\n${'b'.repeat(i * 31)}\r${'\n'.repeat(i % 60)}end`;
  return `${i}:${'p'.repeat((i * 997) % 3000)}`;
}

/** Reads all history in pages of at most `maxBytes`, checking each page. */
async function readAll(
  engine: Engine,
  maxBytes: number,
  match?: (e: EngineEvent) => boolean,
): Promise<EngineEvent[]> {
  const out: EngineEvent[] = [];
  let after: string | { position: string } = EARLIEST;
  for (let pages = 0; pages < 1000; pages++) {
    const r = await engine.history({ after, maxBytes, match, limit: 512 });
    const bytes = r.events.reduce((n, e) => n + e.size, 0);
    assert.ok(
      r.events.length <= 1 || bytes <= maxBytes,
      `a page of ${r.events.length} events, ${bytes} bytes, for maxBytes ${maxBytes}`,
    );
    out.push(...r.events);
    if (!r.more) return out;
    assert.ok(r.cursor !== null);
    after = { position: r.cursor! };
  }
  assert.fail('the read never ended');
}

async function contract(engine: Engine): Promise<void> {
  const published: EngineEvent[] = [];
  for (let i = 0; i < 40; i++) {
    published.push(await engine.append({ topics: [i % 3 === 0 ? '/x' : '/y'], data: payload(i) }));
  }
  for (const maxBytes of [1, 5000, 20_000, 1 << 20]) {
    const all = await readAll(engine, maxBytes);
    assert.deepEqual(
      all.map((e) => e.id),
      published.map((e) => e.id),
      `every event once, in order (maxBytes ${maxBytes})`,
    );
    const some = await readAll(engine, maxBytes, (e) => e.topics[0] === '/x');
    assert.deepEqual(
      some.map((e) => e.id),
      published.filter((e) => e.topics[0] === '/x').map((e) => e.id),
      `matching events once, in order (maxBytes ${maxBytes})`,
    );
  }
  // The first event always comes, however large; the next read starts after it.
  const big = published[7]!;
  const first = await engine.history({ after: published[6]!.id, maxBytes: 10 });
  assert.deepEqual(
    first.events.map((e) => e.id),
    [big.id],
  );
  assert.equal(first.more, true);
  assert.equal(first.cursor, big.position);
}

describe('history pages bounded by bytes', () => {
  it('memory engine', async () => {
    const engine = memoryEngine({ maxEvents: 1000, maxBytes: Number.POSITIVE_INFINITY });
    try {
      await contract(engine);
    } finally {
      await engine.close();
    }
  });

  describe('redis engine', { skip: redisSkip }, () => {
    let redis: TestRedis;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis?.stop());

    it('pages within maxBytes', async () => {
      const engine = redisEngine({ url: redis.url, key: '{bytes-pages}:events', pageSize: 7 });
      try {
        await contract(engine);
      } finally {
        await engine.close();
      }
    });

    it('reads under readBytesInFlight wait their turn and still get every page whole', async () => {
      // Pages ask for at most 5000 bytes each, and the reads together for 5000 at once: larger
      // budgets (and unbounded reads) are read in several pages, concurrent reads one by one.
      const engine = redisEngine({
        url: redis.url,
        key: '{bytes-in-flight}:events',
        pageSize: 7,
        readBytesInFlight: 5000,
      });
      try {
        await contract(engine);
        const ids = (await engine.history({ after: EARLIEST })).events.map((e) => e.id);
        assert.equal(ids.length, 40);
        const reads = await Promise.all([
          ...[1, 5000, 20_000, 1 << 20].map((maxBytes) => readAll(engine, maxBytes)),
          readAll(engine, 20_000, (e) => e.topics[0] === '/x'),
          engine.history({ after: EARLIEST }).then((r) => r.events),
          engine.history({ after: EARLIEST }).then((r) => r.events),
        ]);
        for (const [i, events] of reads.entries()) {
          const want = i === 4 ? ids.filter((_, j) => j % 3 === 0) : ids;
          assert.deepEqual(
            events.map((e) => e.id),
            want,
            `concurrent read ${i}: every event once, in order`,
          );
        }
      } finally {
        await engine.close();
      }
    });

    it('the stream is bounded by bytes: the oldest entries are trimmed exactly', async () => {
      const maxBytes = 50_000;
      const engine = redisEngine({ url: redis.url, key: '{bytes-bound}:events', maxBytes });
      try {
        const published: EngineEvent[] = [];
        for (let i = 0; i < 60; i++) {
          published.push(await engine.append({ topics: ['/b'], data: payload(i) }));
          const stats = engine.stats();
          assert.ok(stats.bytes <= maxBytes, `${stats.bytes} bytes retained after #${i}`);
        }
        const all = await engine.history({ after: EARLIEST });
        const retained = all.events.reduce((n, e) => n + e.size, 0);
        assert.ok(retained <= maxBytes, `${retained} bytes retained`);
        // Exactly: the entry before the oldest would not have fit as well.
        const firstKept = published.findIndex((e) => e.id === all.events[0]!.id);
        assert.ok(firstKept > 0, 'the oldest were trimmed');
        assert.ok(retained + published[firstKept - 1]!.size > maxBytes, 'no more than needed');
        assert.deepEqual(
          all.events.map((e) => e.id),
          published.slice(firstKept).map((e) => e.id),
        );
        // Resuming from a trimmed event is a gap; from a retained one it is not.
        assert.equal((await engine.history({ after: published[0]!.id })).found, false);
        assert.equal((await engine.history({ after: published[firstKept]!.id })).found, true);
        // A single event larger than the bound is refused.
        await assert.rejects(
          engine.append({ topics: ['/b'], data: '\n'.repeat(8000) }),
          /EVENT_TOO_LARGE|at most 50000/,
        );
      } finally {
        await engine.close();
      }
    });
  });

  describe('nats engine', { skip: natsSkip }, () => {
    let nats: TestNats;
    before(async () => {
      nats = await startNats();
    });
    after(() => nats?.stop());

    it('pages within maxBytes', async () => {
      const engine = natsEngine({ url: nats.url, stream: 'bytes_pages', pageSize: 7 });
      try {
        await contract(engine);
      } finally {
        await engine.close();
      }
    });
  });
});
