// The environment a test gives a `herald` process it spawns: the test's own, without any
// HERALD_* variable (the runner's, or the developer's shell's), which the CLI would read as
// options, plus what the test sets.

/**
 * `process.env` without HERALD_* variables, plus `extra`.
 *
 * @param extra - variables the test sets (HERALD_* ones included)
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('HERALD_')) env[name] = value;
  }
  return { ...env, ...extra };
}
