// Many selectors on a hub: subscriptions that each hold many distinct exact selectors (as many
// as --max-topics allows in one URL), opened over plain HTTP/1.1 and held open, their events
// read and discarded. What the dashboard and the subscriptions API are asked to walk over.
import { type ClientRequest, get, type IncomingMessage } from 'node:http';

/** Open subscriptions holding `count` selectors; `close()` ends them all. */
export interface SelectorLoad {
  /** The selectors, in the order they were subscribed. */
  readonly selectors: readonly string[];
  /** Subscriptions opened. */
  readonly subscriptions: number;
  /** Closes every subscription. */
  close(): Promise<void>;
}

/** The i-th selector: short, distinct, no characters that need encoding. */
export function loadSelector(i: number): string {
  return `s${i.toString(36)}`;
}

function open(
  url: string,
  topics: readonly string[],
  token?: string,
): Promise<{
  req: ClientRequest;
  res: IncomingMessage;
}> {
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
  return new Promise((resolve, reject) => {
    const req = get(
      `${url}/.well-known/mercure?${query}`,
      {
        agent: false,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      },
      (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => reject(new Error(`subscribe answered ${res.statusCode}: ${body}`)));
          return;
        }
        res.resume();
        resolve({ req, res });
      },
    );
    req.on('error', reject);
  });
}

/**
 * Subscribes `count` distinct selectors, `perSubscription` per subscription (`concurrency`
 * subscriptions opening at a time).
 */
export async function openSelectorLoad(
  url: string,
  count: number,
  perSubscription: number,
  options: { concurrency?: number; token?: string } = {},
): Promise<SelectorLoad> {
  const selectors = Array.from({ length: count }, (_, i) => loadSelector(i));
  const groups: string[][] = [];
  for (let i = 0; i < count; i += perSubscription) {
    groups.push(selectors.slice(i, i + perSubscription));
  }
  const opened: ClientRequest[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: options.concurrency ?? 8 }, async () => {
        while (next < groups.length) {
          const group = groups[next++]!;
          const { req } = await open(url, group, options.token);
          req.on('error', () => {});
          opened.push(req);
        }
      }),
    );
  } catch (error) {
    for (const req of opened) req.destroy();
    throw error;
  }
  return {
    selectors,
    subscriptions: opened.length,
    async close() {
      for (const req of opened) req.destroy();
    },
  };
}
