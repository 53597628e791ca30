// Issue 14, item 13: a Last-Event-ID shaped like a Redis stream id but out of its range made the
// replay fail (an empty stream, no gap, a reconnect loop). The attack's short variant: every
// such id gets herald.gap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redisHugeId } from '../../chaos/attacks/redis-huge-id.js';
import { runAttack } from '../helpers/attack.js';
import { redisSkip } from '../helpers/redis-server.js';

test('attack-redis-huge-id: out-of-range stream ids are unknown ids', {
  skip: redisSkip,
}, async () => {
  const result = await runAttack(redisHugeId);
  assert.ok(Number(result.figures.attempts) > 0, result.report);
  assert.equal(result.figures.gapAnswers, result.figures.attempts, result.report);
  assert.equal(result.figures.noGapAnswers, 0, result.report);
});
