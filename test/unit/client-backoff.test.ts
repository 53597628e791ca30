// The pure parts of herald/client: backoff with full jitter, Retry-After, the dedupe memory and
// the MIME check.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay, retryAfterMs } from '../../src/client/backoff.js';
import { createDedupe } from '../../src/client/dedupe.js';
import { isEventStream } from '../../src/client/mime.js';

const policy = { minDelayMs: 100, maxDelayMs: 1000 };

describe('backoffDelay', () => {
  test('the ceiling doubles per attempt up to maxDelayMs; jitter spans [min, ceiling]', () => {
    const ceilings = [0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(attempt, policy, () => 1));
    assert.deepEqual(ceilings, [200, 400, 800, 1000, 1000, 1000]);
    const floors = [0, 1, 2, 3, 10].map((attempt) => backoffDelay(attempt, policy, () => 0));
    assert.deepEqual(floors, [100, 100, 100, 100, 100]);
    assert.equal(
      backoffDelay(2, policy, () => 0.5),
      450,
    );
  });

  test("the server's retry is a floor, also above maxDelayMs", () => {
    assert.equal(
      backoffDelay(0, policy, () => 0, 150),
      150,
    );
    assert.equal(
      backoffDelay(0, policy, () => 1, 150),
      200,
    );
    assert.equal(
      backoffDelay(5, policy, () => 1, 5000),
      5000,
    );
  });

  test('huge attempt counts stay at maxDelayMs', () => {
    assert.equal(
      backoffDelay(10_000, policy, () => 1),
      1000,
    );
  });

  test('minDelayMs above maxDelayMs: minDelayMs wins', () => {
    assert.equal(
      backoffDelay(3, { minDelayMs: 500, maxDelayMs: 100 }, () => 1),
      500,
    );
  });
});

describe('retryAfterMs', () => {
  test('delta-seconds and HTTP dates; junk and the past are 0', () => {
    assert.equal(retryAfterMs('3', 0), 3000);
    assert.equal(retryAfterMs(' 12 ', 0), 12_000);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(retryAfterMs('Wed, 01 Jan 2025 00:00:05 GMT', now), 5000);
    assert.equal(retryAfterMs('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('soon', now), 0);
    assert.equal(retryAfterMs(null, now), 0);
  });
});

describe('createDedupe', () => {
  test('remembers ids, forgetting the oldest past its capacity', () => {
    const seen = createDedupe(3);
    assert.deepEqual(['a', 'b', 'a', 'c', 'd', 'a', 'b', 'd'].map(seen), [
      false,
      false,
      true,
      false,
      false,
      false,
      false,
      true,
    ]);
  });
});

describe('isEventStream', () => {
  test('the essence is compared case-insensitively; parameters are ignored', () => {
    for (const ok of [
      'text/event-stream',
      'TEXT/Event-Stream',
      ' text/event-stream ;charset=x',
      'text/event-stream;',
    ]) {
      assert.equal(isEventStream(ok), true, ok);
    }
    for (const bad of [
      null,
      '',
      'text/plain',
      'text/event-streams',
      'text/event-stream-x',
      'text/ event-stream',
    ]) {
      assert.equal(isEventStream(bad), false, String(bad));
    }
  });
});
