/**
 * `herald publish <topic> <data>`: one update to a hub, as a backend would send it (a Mercure
 * form POST), printing the id the hub gave it.
 * @packageDocumentation
 */

import { HeraldConfigError } from '../server/config.js';
import { parseCommandArgs } from './args.js';
import { hubTarget } from './hub-url.js';

/** `herald publish --help`. */
export const PUBLISH_USAGE = `Usage: herald publish [options] <topic> [data]

Publishes one update to a hub (a Mercure form POST) and prints its id. Without data, or with
"-", the data is read from stdin.

Options:
  --url <url>         the hub (default: HERALD_URL, else http://localhost:8080; a URL without
                      a path means its /.well-known/mercure)
  --token <jwt>       a publisher's token (default: HERALD_TOKEN); herald token --publish '*'
  --id <id>           a custom event id
  --type <type>       the SSE event type
  --private           only subscribers whose token allows the topic receive it
  --retry <ms>        the reconnection time sent with it
  --topic <topic>     another topic of the same update (repeatable; the first is canonical)
  -h, --help          Show this help

Example:
  herald publish --token "$(herald token --publish '*')" /chat/lobby '{"text":"hi"}'
`;

/** Why a hub refused an update: its status and the reason it gave. */
export class HeraldPublishError extends Error {
  /** The HTTP status the hub answered with. */
  readonly status: number;

  /**
   * @param status - the HTTP status
   * @param message - what the hub said, with what to do
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HeraldPublishError';
    this.status = status;
  }
}

/**
 * `herald publish args`: posts the update and resolves to the id the hub answered.
 * @param args - the arguments after `publish`
 * @param env - the environment (`HERALD_URL`, `HERALD_TOKEN`)
 * @param readStdin - reads the data when it is not an argument (or is `-`)
 * @throws {@link HeraldConfigError} for bad arguments; {@link HeraldPublishError} for a refusal
 *   (the hub's status and reason); a network error as `fetch` rejects, with the URL
 */
export async function publishCommand(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  readStdin: () => Promise<string>,
): Promise<string> {
  const { values, positionals } = parseCommandArgs('herald publish', args, {
    url: { type: 'string' },
    token: { type: 'string' },
    id: { type: 'string' },
    type: { type: 'string' },
    private: { type: 'boolean' },
    retry: { type: 'string' },
    topic: { type: 'string', multiple: true },
  });
  const [topic, dataArg, ...extra] = positionals;
  if (topic === undefined || topic === '') {
    throw new HeraldConfigError(
      'MISSING_VALUE',
      'herald publish needs a topic: herald publish <topic> [data]',
    );
  }
  if (extra.length > 0) {
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `unexpected argument "${extra[0]}": herald publish takes one topic and one data argument (quote data with spaces; more topics go in --topic)`,
      extra[0],
    );
  }
  const retry = values.retry as string | undefined;
  if (retry !== undefined && !/^\d+$/.test(retry)) {
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `--retry takes milliseconds, a non-negative integer (got "${retry}")`,
      '--retry',
    );
  }
  const target = hubTarget(
    values.url as string | undefined,
    values.token as string | undefined,
    env,
  );
  const data = dataArg === undefined || dataArg === '-' ? await readStdin() : dataArg;

  const form = new URLSearchParams();
  for (const t of [topic, ...((values.topic as string[] | undefined) ?? [])])
    form.append('topic', t);
  form.set('data', data);
  if (values.id !== undefined) form.set('id', values.id as string);
  if (values.type !== undefined) form.set('type', values.type as string);
  if (retry !== undefined) form.set('retry', retry);
  if (values.private === true) form.set('private', 'on');
  const headers: Record<string, string> = {};
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;

  let res: Response;
  try {
    res = await fetch(target.url, { method: 'POST', headers, body: form });
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    throw new Error(
      `cannot reach the hub at ${target.url.origin} (${cause?.message ?? (error as Error).message}); is herald serve running there? (--url or HERALD_URL)`,
    );
  }
  const text = (await res.text()).trim();
  if (!res.ok) {
    const hint =
      res.status === 401 && target.token === undefined
        ? ' (no token: pass --token or set HERALD_TOKEN; herald token --publish <selector> mints one)'
        : '';
    throw new HeraldPublishError(
      res.status,
      `the hub answered ${res.status}: ${text || res.statusText}${hint}`,
    );
  }
  return text;
}
