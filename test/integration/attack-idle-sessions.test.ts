// The idle-sessions attack's short variant (chaos/attacks/idle-sessions.ts): HTTP/2 sessions
// without streams from one address are bounded per address, closed with a GOAWAY after the idle
// timeout, and /healthz answers a new connection meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idleSessions } from '../../chaos/attacks/idle-sessions.js';
import { runAttack } from '../helpers/attack.js';

test('attack-idle-sessions: bounded per address, timed out, /healthz answers', async () => {
  const result = await runAttack(idleSessions);
  const f = result.figures;
  assert.ok(Number(f.held) <= 20, `held ${f.held}`);
  assert.ok(Number(f.refused) > 0, 'connections past the bound were refused');
  assert.equal(f.healthzStatus, 200);
  assert.equal(f.leftOpen, 0);
  assert.equal(f.goaways, f.closedByHub);
  assert.equal(f.closedByHub, f.accepted);
});
