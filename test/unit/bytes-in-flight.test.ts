// The bound on bytes of reads in flight (the Redis engine's history pages): grants in order of
// asking, never past the bound, one larger than the bound alone, and a release given twice
// counts once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BytesInFlight } from '../../src/engines/bytes-in-flight.js';
import { HeraldEngineError } from '../../src/engines/engine.js';

/** Settles pending grants (they resolve in microtasks). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BytesInFlight', () => {
  it('grants at once while the bytes fit, then in order of asking as they come back', async () => {
    const bound = new BytesInFlight(100);
    const order: string[] = [];
    const take = (name: string, bytes: number) =>
      bound.acquire(bytes).then((release) => {
        order.push(name);
        return release;
      });
    const a = take('a', 60);
    const b = take('b', 40);
    const c = take('c', 50);
    const d = take('d', 10); // fits, but waits behind c: no overtaking
    await settle();
    assert.deepEqual(order, ['a', 'b']);
    assert.equal(bound.used, 100);
    assert.equal(bound.waiting, 2);

    (await b)();
    await settle();
    assert.deepEqual(order, ['a', 'b'], 'c needs 50, only 40 are back');
    (await a)();
    await settle();
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
    assert.equal(bound.used, 60);
    (await c)();
    (await d)();
    assert.equal(bound.used, 0);
    assert.equal(bound.waiting, 0);
  });

  it('takes a read larger than the bound as the whole bound: it runs alone', async () => {
    const bound = new BytesInFlight(100);
    const small = await bound.acquire(1);
    let bigGranted = false;
    const big = bound.acquire(1_000_000).then((release) => {
      bigGranted = true;
      return release;
    });
    await settle();
    assert.equal(bigGranted, false);
    small();
    const releaseBig = await big;
    assert.equal(bound.used, 100);
    let next = false;
    const after = bound.acquire(1).then((release) => {
      next = true;
      return release;
    });
    await settle();
    assert.equal(next, false);
    releaseBig();
    (await after)();
    assert.equal(bound.used, 0);
  });

  it('counts a release given twice once', async () => {
    const bound = new BytesInFlight(10);
    const release = await bound.acquire(10);
    const other = await bound.acquire(0);
    release();
    release();
    assert.equal(bound.used, 0);
    other();
    const again = await bound.acquire(10);
    assert.equal(bound.used, 10);
    again();
  });

  it('refuses a bound that is not a positive integer', () => {
    for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => new BytesInFlight(limit),
        (error: unknown) => error instanceof HeraldEngineError && error.code === 'INVALID_OPTIONS',
      );
    }
  });
});
