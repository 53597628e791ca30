/**
 * `herald tail <topic…>`: prints a hub's events as they come, one JSON line each, through
 * `herald/client`'s `subscribeHub` — which reconnects after a drop and resumes with
 * `Last-Event-ID`, so nothing published meanwhile is missed (or a `herald.gap` says what is gone).
 * @packageDocumentation
 */

import { subscribeHub } from '../client/index.js';
import { HeraldConfigError } from '../server/config.js';
import { parseCommandArgs } from './args.js';
import { hubTarget } from './hub-url.js';

/** `herald tail --help`. */
export const TAIL_USAGE = `Usage: herald tail [options] <topic selector>...

Prints a hub's events as they arrive, one JSON line each on stdout:
  {"id":"…","type":"message","data":"…"}
Connection news (connected, reconnecting, a gap in history) goes to stderr. After a drop it
reconnects and resumes after the last event it printed (Last-Event-ID). Ctrl-C ends it.

Options:
  --url <url>               the hub (default: HERALD_URL, else http://localhost:8080; a URL
                            without a path means its /.well-known/mercure)
  --token <jwt>             a subscriber's token, for private updates (default: HERALD_TOKEN);
                            herald token --subscribe <selector>
  --last-event-id <id>      start after this id ("earliest": all retained history)
  --data                    print each event's data only, one per line
  -h, --help                Show this help

Example:
  herald tail /chat/lobby '/orders/{id}'
`;

/** Where `herald tail` writes: the process's streams, or a test's. */
export interface TailOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** A running tail. */
export interface Tail {
  /** Resolves with the exit code: 0 after {@link Tail.close}, 1 when the hub refused for good. */
  done: Promise<number>;
  /** Ends it (Ctrl-C). */
  close(): void;
}

/**
 * `herald tail args`: subscribes and prints until closed or refused for good (401, 403, 400).
 * @param args - the arguments after `tail`
 * @param env - the environment (`HERALD_URL`, `HERALD_TOKEN`)
 * @param output - where events and news go
 * @throws {@link HeraldConfigError} for bad arguments
 */
export function tailCommand(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  output: TailOutput = process,
): Tail {
  const { values, positionals } = parseCommandArgs('herald tail', args, {
    url: { type: 'string' },
    token: { type: 'string' },
    'last-event-id': { type: 'string' },
    data: { type: 'boolean' },
  });
  if (positionals.length === 0 || positionals.some((topic) => topic === '')) {
    throw new HeraldConfigError(
      'MISSING_VALUE',
      'herald tail needs at least one topic selector: herald tail <topic selector>... (e.g. /chat/lobby, /orders/{id}, *)',
    );
  }
  const target = hubTarget(
    values.url as string | undefined,
    values.token as string | undefined,
    env,
  );
  const dataOnly = values.data === true;
  const news = (text: string): void => {
    output.stderr.write(`herald tail: ${text}\n`);
  };
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  let opened = false;
  const sub = subscribeHub(target.url, {
    topics: positionals,
    token: target.token,
    lastEventId: values['last-event-id'] as string | undefined,
    // A hub restarting answers 502/503/504 for a moment: come back, as after a dropped stream.
    retryOn: [502, 503, 504],
    onOpen: () => {
      news(
        `${opened ? 'reconnected to' : 'connected to'} ${target.url.href} (${positionals.join(', ')})${
          sub.lastEventId === '' ? '' : `, after ${sub.lastEventId}`
        }`,
      );
      opened = true;
    },
    onEvent: (event) => {
      output.stdout.write(
        dataOnly
          ? `${event.raw}\n`
          : `${JSON.stringify({ id: event.lastEventId, type: event.type, data: event.raw })}\n`,
      );
    },
    onGap: (gap) => {
      news(
        `history no longer has everything after ${gap.lastEventId}: resuming from ${gap.oldestAvailable ?? 'the next event'}`,
      );
    },
    onError: (error) => {
      news(error.message);
    },
    onClose: (reason) => {
      if (reason !== undefined) news(`gave up: ${reason.message}`);
      resolveDone(reason === undefined ? 0 : 1);
    },
  });
  return { done, close: () => sub.close() };
}
