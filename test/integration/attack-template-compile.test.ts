// attack-template-compile (chaos/attacks/template-compile.ts), short variant: costly URI
// templates are refused with a 400 before anything is compiled, the per-address budget answers
// 429, and the budget and the cache stay bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { templateCompile } from '../../chaos/attacks/template-compile.js';
import { runAttack } from '../helpers/attack.js';

describe('attack: URI templates that cost too much to compile', () => {
  it('refuses them by their estimated cost, bounds one address and gives the budget back', async () => {
    const { figures } = await runAttack(templateCompile);
    assert.equal(figures.bigRefused, 1);
    assert.equal(figures.hugeRefused, 1);
    assert.equal(figures.fillRefusedStatus, 429);
    assert.ok(Number(figures.fillAccepted) > 0);
    assert.equal(figures.templateBytesAfter, 0);
  });
});
