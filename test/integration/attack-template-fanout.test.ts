// attack-template-fanout (chaos/attacks/template-fanout.ts), short variant: selectors of one
// language cost one template, a per-address fill of unanchored templates is refused with a 429,
// and the budget comes back when the attackers leave.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { templateFanout } from '../../chaos/attacks/template-fanout.js';
import { runAttack } from '../helpers/attack.js';

describe('attack: every event matched against every template', () => {
  it('shares one template per language and bounds the templates of one address', async () => {
    const { figures } = await runAttack(templateFanout);
    assert.equal(figures.issueAccepted, 2);
    assert.equal(figures.fillRefusedStatus, 429);
    assert.ok(Number(figures.fillTemplates) > 0);
    assert.equal(figures.templateBytesAfter, 0);
  });
});
