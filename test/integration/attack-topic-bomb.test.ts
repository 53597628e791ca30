// The topic-bomb attack's short variant (chaos/attacks/topic-bomb.ts): updates of thousands of
// topics are refused with a 400 naming --max-update-topics, updates within the limit go
// through, and history counts the topics of what it keeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicBomb } from '../../chaos/attacks/topic-bomb.js';
import { runAttack } from '../helpers/attack.js';

test('attack-topic-bomb: refused with 400, history counts topics', async () => {
  const { figures } = await runAttack(topicBomb);
  assert.ok((figures.bombsSent as number) > 0, 'bombs were sent');
  assert.equal(figures.bombsAccepted, 0);
  assert.equal(figures.bombsRefused400, figures.bombsSent);
  assert.ok((figures.withinAccepted as number) > 0, 'updates within the limit were accepted');
  assert.equal(figures.withinAccepted, figures.withinSent);
  assert.ok((figures.historyKept as number) <= (figures.historyFits as number));
});
