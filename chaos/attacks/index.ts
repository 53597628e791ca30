// The attack scenarios: each is what an outsider could script against `herald serve`, with the
// bound that stops it asserted as behaviour (a refusal with a reason, a stream closed by policy,
// a slot returned) and its cost measured (chaos/lib/attack.ts). `npm run chaos` runs them after
// the fault scenarios; `npm test` runs each one's short variant (test/integration/attack-*.ts).
// Add an attack by writing its file and appending it here.
import type { Scenario } from '../scenario.js';
import { dashboardAmplifier } from './dashboard-amplifier.js';
import { devMode } from './dev-mode.js';
import { h2Reset } from './h2-reset.js';
import { historyFlush } from './history-flush.js';
import { idleSessions } from './idle-sessions.js';
import { jwksBloat } from './jwks-bloat.js';
import { newlineBloatAttack } from './newline-bloat.js';
import { oneAddress } from './one-address.js';
import { privateIds } from './private-ids.js';
import { rateSpellings } from './rate-spellings.js';
import { redisHugeId } from './redis-huge-id.js';
import { replayFloodAttack, replayFloodRedisAttack } from './replay-flood.js';
import { subscriptionsScan } from './subscriptions-scan.js';
import { surrogateId } from './surrogate-id.js';
import { templateCompile } from './template-compile.js';
import { templateFanout } from './template-fanout.js';
import { topicBomb } from './topic-bomb.js';

/** Every attack `npm run chaos` knows, in the order of docs/security.md's cost table. */
export const ATTACKS: Scenario[] = [
  replayFloodAttack,
  replayFloodRedisAttack,
  oneAddress,
  newlineBloatAttack,
  privateIds,
  topicBomb,
  surrogateId,
  dashboardAmplifier,
  subscriptionsScan,
  devMode,
  templateCompile,
  templateFanout,
  h2Reset,
  idleSessions,
  jwksBloat,
  rateSpellings,
  historyFlush,
  redisHugeId,
];
