// The replay-flood attack's short variants (chaos/attacks/replay-flood.ts): non-reading clients
// replaying the whole history of big events are closed as stalled, their slots come back, and a
// healthy reader replaying meanwhile gets the history once, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replayFloodAttack, replayFloodRedisAttack } from '../../chaos/attacks/replay-flood.js';
import { runAttack } from '../helpers/attack.js';
import { redisSkip } from '../helpers/redis-server.js';

test('attack-replay-flood (memory engine)', async () => {
  const result = await runAttack(replayFloodAttack);
  assert.ok(Number(result.figures.stalledClosed) >= Number(result.figures.attackers));
  assert.ok(Number(result.figures.healthyReplayed) > 0);
});

test('attack-replay-flood (redis engine)', { skip: redisSkip }, async () => {
  const result = await runAttack(replayFloodRedisAttack);
  assert.ok(Number(result.figures.stalledClosed) >= Number(result.figures.attackers));
  assert.ok(Number(result.figures.healthyReplayed) > 0);
});
