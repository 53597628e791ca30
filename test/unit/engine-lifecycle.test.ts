// What the Redis and NATS engines share about their life (src/engines/lifecycle.ts): option
// checks and their messages, the reconnect backoff, and the calls in flight that closing ends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeraldEngineError } from '../../src/engines/engine.js';
import {
  backoffDelay,
  byteBoundOption,
  EngineLifecycle,
  integerOption,
} from '../../src/engines/lifecycle.js';

function engineError(code: string, message?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HeraldEngineError, `a HeraldEngineError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  };
}

const unavailable = (error: unknown): HeraldEngineError =>
  new HeraldEngineError('UNAVAILABLE', `down (${(error as Error).message})`);

describe('engine lifecycle: options', () => {
  it('integerOption: the fallback when absent, else a safe integer at least min', () => {
    assert.equal(integerOption('xEngine', 'pageSize', undefined, 500, 1), 500);
    assert.equal(integerOption('xEngine', 'pageSize', 3, 500, 1), 3);
    assert.equal(integerOption('xEngine', 'ttlMs', 0, 5), 0);
    for (const bad of [0, 1.5, -1, Number.NaN, 2 ** 53, '3' as unknown as number]) {
      assert.throws(
        () => integerOption('xEngine', 'pageSize', bad, 500, 1),
        engineError('INVALID_OPTIONS', /^xEngine: pageSize must be an integer ≥ 1 \(got /),
        String(bad),
      );
    }
  });

  it('byteBoundOption: Infinity and absent mean the fallback; else an integer at least 1', () => {
    assert.equal(byteBoundOption('xEngine', 'maxBytes', undefined, 7), 7);
    assert.equal(byteBoundOption('xEngine', 'maxBytes', Number.POSITIVE_INFINITY, 7), 7);
    assert.equal(byteBoundOption('xEngine', 'maxBytes', 100, 7), 100);
    assert.throws(
      () => byteBoundOption('xEngine', 'maxBytes', 0, 7),
      engineError('INVALID_OPTIONS', /maxBytes must be an integer ≥ 1 \(got 0\)/),
    );
  });

  it('backoffDelay: 50 ms doubling, capped by the maximum, without overflowing', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((a) => backoffDelay(a, 2_000)),
      [50, 100, 200, 400],
    );
    assert.equal(backoffDelay(6, 2_000), 2_000);
    assert.equal(backoffDelay(10_000, 1e9), 50 * 2 ** 10);
  });
});

describe('engine lifecycle: started, closed, calls in flight', () => {
  it('starts once, closes once, and names the engine in CLOSED', () => {
    const life = new EngineLifecycle('x');
    assert.equal(life.started, false);
    life.markStarted();
    assert.equal(life.started, true);
    life.assertOpen();
    assert.equal(life.close(), true);
    assert.equal(life.close(), false, 'the second close does nothing');
    assert.equal(life.closed, true);
    assert.throws(
      () => life.assertOpen(),
      engineError('CLOSED', /^the x engine is closed; create a new one$/),
    );
  });

  it('guard: the value, the translated failure, or the interrupting error at once', async () => {
    const life = new EngineLifecycle('x');
    assert.equal(await life.guard(Promise.resolve(5), unavailable), 5);
    await assert.rejects(
      life.guard(Promise.reject(new Error('boom')), unavailable),
      engineError('UNAVAILABLE', /down \(boom\)/),
    );
    const never = new Promise<number>(() => {});
    const pending = life.guard(never, unavailable);
    life.interrupt(new HeraldEngineError('UNAVAILABLE', 'cut'));
    await assert.rejects(pending, engineError('UNAVAILABLE', /^cut$/));
    const atClose = life.guard(never, unavailable);
    life.close();
    life.interrupt(life.closedError());
    await assert.rejects(atClose, engineError('CLOSED'));
  });

  it('guard: a call that succeeds after close rejects CLOSED', async () => {
    const life = new EngineLifecycle('x');
    let resolve!: (v: number) => void;
    const call = life.guard(
      new Promise<number>((r) => {
        resolve = r;
      }),
      unavailable,
    );
    life.close();
    resolve(1);
    await assert.rejects(call, engineError('CLOSED'));
  });

  it('sleep: cut short by an interrupt, at once when closed', async () => {
    const life = new EngineLifecycle('x');
    const long = life.sleep(60_000);
    const track: string[] = [];
    const untrack = life.track(() => track.push('tracked'));
    life.interrupt(life.closedError());
    await long; // would hold the test for a minute if not cut short
    assert.deepEqual(track, ['tracked']);
    untrack();
    life.close();
    await life.sleep(60_000);
    const gone = life.track(() => track.push('again'));
    gone();
    life.interrupt(life.closedError());
    assert.deepEqual(track, ['tracked'], 'an untracked call is not interrupted');
  });
});
