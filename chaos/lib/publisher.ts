// Publishing for the harnesses: one form POST per update over keep-alive connections, a steady
// rate with a bounded number of requests in flight, and the hub's order of what was accepted.
import type { Published } from './accounting.js';

/** One update to publish. */
export interface Update {
  topics: readonly string[];
  data: string;
  private?: boolean;
  /** A custom event id. */
  id?: string;
}

/** What one publish request got. */
export interface PublishAnswer {
  status: number;
  /** The event id on 200, else the reason. */
  body: string;
  retryAfter: string | null;
}

/** POSTs one update as a Mercure form. */
export async function publishOnce(
  url: string,
  token: string,
  update: Update,
): Promise<PublishAnswer> {
  const form = new URLSearchParams();
  for (const topic of update.topics) form.append('topic', topic);
  form.set('data', update.data);
  if (update.private === true) form.set('private', 'on');
  if (update.id !== undefined) form.set('id', update.id);
  const res = await fetch(`${url}/.well-known/mercure`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') };
}

/**
 * Orders event ids the way the engines generate them: `<epoch>-<n>` (memory) or `<ms>-<seq>`
 * (Redis), compared part by part, numerically where both parts are digits.
 */
export function compareIds(a: string, b: string): number {
  const pa = a.split('-');
  const pb = b.split('-');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) {
      if (x.length !== y.length) return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return 0;
}

/** Options of {@link SteadyPublisher}. */
export interface SteadyOptions {
  url: string;
  token: string;
  /** Updates per second. */
  rate: number;
  /** Most requests in flight (default 4). */
  concurrency?: number;
  /** Makes the n-th update. */
  next: (n: number) => Update;
}

/**
 * Publishes at a steady rate until stopped; keeps what the hub accepted. A tick that finds the
 * in-flight bound reached skips (the rate is a ceiling, the harness reports the real one).
 */
export class SteadyPublisher {
  /** Accepted updates (in answer order; {@link ordered} gives the hub's order). */
  readonly accepted: Published[] = [];
  /** Answers that were not 200, by status. */
  readonly refused = new Map<number, number>();
  /** Requests that failed at the network level. */
  failures = 0;
  readonly #options: SteadyOptions;
  #inFlight = 0;
  #n = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #idle: Array<() => void> = [];

  constructor(options: SteadyOptions) {
    this.#options = options;
  }

  /** Starts publishing. */
  start(): void {
    const { rate } = this.#options;
    // Timers fire at most every ~1 ms: several updates per tick above 1000/s.
    const periodMs = Math.max(1, 1000 / rate);
    const perTick = Math.max(1, Math.round((rate * periodMs) / 1000));
    this.#timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) this.#fire();
    }, periodMs);
  }

  #fire(): void {
    if (this.#inFlight >= (this.#options.concurrency ?? 4)) return;
    const update = this.#options.next(this.#n++);
    this.#inFlight++;
    publishOnce(this.#options.url, this.#options.token, update)
      .then(
        (answer) => {
          if (answer.status === 200) {
            this.accepted.push({
              id: answer.body,
              topics: update.topics,
              private: update.private === true,
            });
          } else {
            this.refused.set(answer.status, (this.refused.get(answer.status) ?? 0) + 1);
          }
        },
        () => {
          this.failures++;
        },
      )
      .finally(() => {
        this.#inFlight--;
        if (this.#inFlight === 0 && this.#timer === undefined) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      });
  }

  /** Stops and resolves once every request in flight is answered. */
  stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** The accepted updates in the hub's order. */
  ordered(): Published[] {
    return [...this.accepted].sort((a, b) => compareIds(a.id, b.id));
  }
}
