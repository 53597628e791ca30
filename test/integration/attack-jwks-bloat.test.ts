// The jwks-bloat attack's short variant (chaos/attacks/jwks-bloat.ts): a JWKS server answering
// megabytes past the bound is read no further than --jwks-max-bytes, fetched at most once per
// backoff, and every token that needs it gets a 401 naming the bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jwksBloat } from '../../chaos/attacks/jwks-bloat.js';
import { runAttack } from '../helpers/attack.js';

test('attack-jwks-bloat: bounded read, 401 with the reason, one fetch per backoff', async () => {
  const result = await runAttack(jwksBloat);
  const f = result.figures;
  assert.ok(Number(f.requests) > 0);
  assert.equal(f.boundedRefusals, f.requests);
  assert.ok(Number(f.jwksMaxSentMiB) < Number(f.jwksBytesMiB));
  assert.ok(Number(f.jwksFetches) >= 1);
});
