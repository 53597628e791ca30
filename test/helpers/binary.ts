import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds `name` as a path (when it contains `/`) or on `PATH`. */
export function findBinary(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Checks that a binary a test needs is installed. Returns `undefined` when it is, else a skip
 * reason for `test(name, { skip }, …)` / `t.skip(reason)` that carries the install hint.
 *
 * Under `CI=true` a missing binary throws instead: on CI a skipped test is a failure, so the
 * file fails loudly rather than passing with nothing tested.
 *
 * @param path - an absolute path (`/usr/bin/chromium`) or a name looked up on `PATH`
 * @param installHint - how to install it, e.g. `apt-get install chromium`
 */
export function requireBinary(path: string, installHint: string): string | undefined {
  if (findBinary(path) !== undefined) return undefined;
  const reason = `${path} is not installed (${installHint})`;
  if (process.env.CI === 'true') {
    throw new Error(`${reason}; CI=true, where a skipped test counts as a failure`);
  }
  return reason;
}
