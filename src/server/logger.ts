/**
 * The hub's logger: pino, JSON lines on stdout.
 * @packageDocumentation
 */

import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

/** The logger type the server takes (pino's). */
export type { Logger };

/** What stands in the logs where a credential was. */
export const REDACTED = '[redacted]';

/**
 * Credentials that must never reach a log line, wherever a field of that name sits: JWTs in
 * headers and cookies, and any field the code calls `token`.
 */
const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["set-cookie"]',
];

/**
 * A request target with its credentials masked: the `authorization` query parameter (Mercure's
 * way of passing a JWT where headers cannot be set) keeps its name, loses its value.
 */
export function redactUrl(url: unknown): unknown {
  if (typeof url !== 'string' || !/authorization=/i.test(url)) return url;
  return url.replace(/([?&;]authorization=)[^&#]*/gi, `$1${REDACTED}`);
}

/**
 * Creates the hub's logger: one JSON object per line (`level` as a word, ISO `time`, `msg`, fields), on
 * stdout unless `destination` is given. Credentials are masked whatever a log call passes
 * (`authorization` / `cookie` headers, `token` fields, the `authorization` query parameter of a
 * `url`), so a later `logger.debug({ req })` cannot leak a subscriber's JWT.
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
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: {
      url: redactUrl,
      path: redactUrl,
      req: (req: { method?: unknown; url?: unknown }) => ({
        method: req.method,
        url: redactUrl(req.url),
      }),
    },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
