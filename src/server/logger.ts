/**
 * The hub's logger: pino, JSON lines on stdout.
 * @packageDocumentation
 */

import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

/** The logger type the server takes (pino's). */
export type { Logger };

/**
 * Creates the hub's logger: one JSON object per line (`level` as a word, ISO `time`, `msg`, fields), on
 * stdout unless `destination` is given.
 * @param level - the least severe level written; `silent` writes nothing. Default `info`.
 * @param destination - where lines go (tests pass a stream); default stdout
 * @returns a pino logger named `herald`
 */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  const options = {
    name: 'herald',
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
