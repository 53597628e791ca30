// The per-address bucket of subscription events (--subscription-events-rate) and the publish rate
// bucket it shares its arithmetic with, on a hand-driven clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateLimiter, SubscriptionEventLimiter } from '../../src/server/limits.js';
import { HttpError } from '../../src/server/respond.js';

/** The 429 `fn` throws. */
function refusal(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof HttpError, String(error));
    return error;
  }
  assert.fail('expected a 429');
}

describe('SubscriptionEventLimiter', () => {
  test('charges two events per selector, refuses what the bucket does not hold, refills at the rate', () => {
    let now = 0;
    const limiter = new SubscriptionEventLimiter(100, 10, () => now);
    assert.equal(limiter.burst, 100, 'the rate, when larger than 2 × max topics');
    limiter.charge('a', 40); // 80 events
    const error = refusal(() => limiter.charge('a', 11)); // 22 > 20 left
    assert.equal(error.status, 429);
    assert.match(error.message, /--subscription-events-rate/);
    assert.match(error.message, /11 selectors make 22/);
    assert.match(error.message, /from a:/);
    // 2 tokens short at 100/s: a second.
    assert.equal(error.headers['retry-after'], '1');
    limiter.charge('a', 10); // 20 events: exactly what is left
    limiter.charge('b', 50); // another address has its own bucket
    now += 500; // 50 tokens back
    limiter.charge('a', 25);
    refusal(() => limiter.charge('a', 1));
  });

  test('a subscription of --max-topics selectors always fits a full bucket', () => {
    let now = 0;
    const limiter = new SubscriptionEventLimiter(5, 1000, () => now);
    assert.equal(limiter.burst, 2000);
    limiter.charge('a', 1000);
    const error = refusal(() => limiter.charge('a', 1000));
    // 2,000 events at 5/s: 400 s.
    assert.equal(error.headers['retry-after'], '400');
    now += 400_000;
    limiter.charge('a', 1000);
  });

  test('a refund gives the events back once, never above a full bucket', () => {
    let now = 0;
    const limiter = new SubscriptionEventLimiter(10, 5, () => now);
    const refund = limiter.charge('a', 5); // all 10
    refusal(() => limiter.charge('a', 1));
    refund();
    refund(); // idempotent
    limiter.charge('a', 5);
    refusal(() => limiter.charge('a', 1));
    const late = limiter.charge('b', 1);
    now += 60_000; // full again
    late();
    limiter.charge('b', 5);
    refusal(() => limiter.charge('b', 1));
  });

  test('rate 0: no limit', () => {
    const limiter = new SubscriptionEventLimiter(0, 1000);
    for (let i = 0; i < 100; i++) limiter.charge('a', 1000)();
  });
});

describe('RateLimiter', () => {
  test('one token per request, bursts up to the rate, Retry-After until the next token', () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now);
    limiter.take('p');
    limiter.take('p');
    const error = refusal(() => limiter.take('p'));
    assert.match(error.message, /--publish-rate/);
    assert.equal(error.headers['retry-after'], '1');
    now += 500;
    limiter.take('p');
    refusal(() => limiter.take('p'));
  });
});
