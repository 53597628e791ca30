// One subscribe request as an attacker sends it: any number of selectors packed into the URL
// (only what a query needs escaped is escaped, so 700 templates fit in Node's 16 KB header
// bound), the answer's status and reason, and — when it is a 200 — a stream held open and
// counted until closed.
import { get, type IncomingMessage } from 'node:http';

/** A subscribe request's outcome. */
export interface RawSubscription {
  /** The status code (0 when the request failed before an answer). */
  readonly status: number;
  /** The reason of a refusal (the body), or the network error; `''` for a 200. */
  readonly reason: string;
  /** The `Retry-After` header of a refusal. */
  readonly retryAfter: string | undefined;
  /** Milliseconds from sending the request to its answer's head. */
  readonly answeredMs: number;
  /** Events received so far (blank-line terminated blocks with a `data:` line). */
  events(): number;
  /** Closes the stream (or does nothing for a refusal). */
  close(): void;
}

/** The query of `topics`, escaping only `%`, `&`, `#`, `+`, spaces and non-printable ASCII. */
export function topicQuery(topics: readonly string[]): string {
  return topics
    .map((t) => `topic=${t.replace(/[^\x21-\x7e]|[%&#+]/g, (c) => encodeURIComponent(c))}`)
    .join('&');
}

/** Sends `GET /.well-known/mercure?topic=…` and resolves once the answer's head is in. */
export function rawSubscribe(
  url: string,
  topics: readonly string[],
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<RawSubscription> {
  const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = get(
      `${url}/.well-known/mercure?${topicQuery(topics)}`,
      { headers, agent: false },
      (res: IncomingMessage) => {
        const answeredMs = performance.now() - t0;
        const status = res.statusCode ?? 0;
        const retryAfter = res.headers['retry-after'];
        if (status !== 200) {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () =>
            resolve({
              status,
              reason: body.trim(),
              retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
              answeredMs,
              events: () => 0,
              close: () => req.destroy(),
            }),
          );
          res.on('error', () => {});
          return;
        }
        let events = 0;
        let tail = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const text = tail + chunk;
          const blocks = text.split('\n\n');
          tail = blocks.pop() ?? '';
          for (const block of blocks) if (/(^|\n)data:/.test(block)) events++;
        });
        res.on('error', () => {});
        resolve({
          status,
          reason: '',
          retryAfter: undefined,
          answeredMs,
          events: () => events,
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', (error) =>
      resolve({
        status: 0,
        reason: error.message,
        retryAfter: undefined,
        answeredMs: performance.now() - t0,
        events: () => 0,
        close: () => {},
      }),
    );
  });
}
