// The fuzz targets, in the order `npm run fuzz` runs them. A new target is a file and an entry.
import type { FuzzTarget } from '../target.js';
import { corsTarget } from './cors.js';
import { privateUpdatesTarget } from './private-updates.js';
import { encoderTarget, parserTarget } from './protocol.js';
import { publishApiTarget } from './publish-api.js';
import { subscribeApiTarget } from './subscribe-api.js';

/** Every fuzz target. */
export const TARGETS: FuzzTarget[] = [
  parserTarget,
  encoderTarget,
  publishApiTarget,
  subscribeApiTarget,
  privateUpdatesTarget,
  corsTarget,
];
