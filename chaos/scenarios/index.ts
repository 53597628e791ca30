// The chaos scenarios, in the order `npm run chaos` runs them. Add a scenario by writing its file
// and appending it here (multi-node and engine-restart scenarios go in the same list).
import { ATTACKS } from '../attacks/index.js';
import type { Scenario } from '../scenario.js';
import { drops } from './drops.js';
import { engineRestart } from './engine-restart.js';
import { failover } from './failover.js';
import { publisherFlood } from './flood.js';
import { slowConsumers } from './slow-consumers.js';

/** Every scenario `npm run chaos` knows: the faults, then the attacks. */
export const SCENARIOS: Scenario[] = [
  drops,
  slowConsumers,
  publisherFlood,
  failover,
  engineRestart,
  ...ATTACKS,
];
