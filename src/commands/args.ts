/**
 * Argument parsing for the `herald` commands other than `serve` (whose options are a table in
 * `server/config.ts`): node's `parseArgs`, with an unknown flag answered by the closest known one.
 * @packageDocumentation
 */

import { parseArgs } from 'node:util';
import { HeraldConfigError, suggest } from '../server/config.js';

/** One flag: a string (repeatable or not) or a boolean, with an optional short letter. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}

/** What {@link parseCommandArgs} read. */
export interface ParsedArgs {
  /** Flag values by name (the flag without `--`). */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The arguments that are not flags, in order. */
  positionals: string[];
}

/**
 * Reads `args` for `herald <command>`.
 * @param command - the command's name, for messages (`herald token`)
 * @param args - the arguments after the command
 * @param flags - the flags it takes, by name
 * @throws {@link HeraldConfigError} `UNKNOWN_OPTION` (with "did you mean"), `MISSING_VALUE`
 */
export function parseCommandArgs(
  command: string,
  args: readonly string[],
  flags: Readonly<Record<string, FlagSpec>>,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: flags,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (error) {
    const err = error as Error & { code?: string };
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(err.message)?.[1] ?? '';
      const name = flag.split('=')[0]!;
      const known = Object.keys(flags).map((f) => `--${f}`);
      throw new HeraldConfigError(
        'UNKNOWN_OPTION',
        `unknown option ${name}${suggest(name, known)}; ${command} --help lists every option`,
        name,
      );
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new HeraldConfigError('MISSING_VALUE', err.message.replace(/^Option /, ''));
    }
    throw new HeraldConfigError('INVALID_VALUE', err.message);
  }
}
