// Publishing for the multi-node scenarios: a steady rate spread over several nodes, and a record
// of every request — where it went, when it was sent and answered, and what the answer was — so
// the books can tell a publish that got 200 (must be delivered exactly once) from one refused
// during an outage (must never appear) and from one whose answer was lost when its node or the
// engine died mid-request (may or may not have been stored: the engines say so).
import type { Published } from './accounting.js';
import { compareIds, type Update } from './publisher.js';

/** One publish request and what became of it. */
export interface PublishAttempt {
  /** Its sequence number, also in its data (`{"n":…}`), to recognise it on a stream. */
  n: number;
  /** The node it went to. */
  target: string;
  topics: readonly string[];
  /** `performance.now()` when sent. */
  sentAt: number;
  /** `performance.now()` when answered or failed; `undefined` while in flight. */
  answeredAt?: number;
  /** HTTP status; 0 when the request failed at the network level (no answer). */
  status?: number;
  /** The event id on 200, else the reason or the network error. */
  body?: string;
}

/** Options of {@link TrackedPublisher}. */
export interface TrackedOptions {
  /** The node for the n-th update; `undefined` skips this tick (no node to publish to). */
  target: (n: number) => string | undefined;
  /** A publisher JWT. */
  token: string;
  /** Updates per second (a ceiling: a tick that finds `concurrency` requests in flight skips). */
  rate: number;
  /** Most requests in flight (default 4). */
  concurrency?: number;
  /** Topics of the n-th update. */
  topics: (n: number) => readonly string[];
  /** Padding of the n-th update's data, in characters. */
  pad?: (n: number) => number;
}

/** The sequence number in an update's data, or `undefined` when it is not one of ours. */
export function sequenceOf(data: string): number | undefined {
  try {
    const n = (JSON.parse(data) as { n?: unknown }).n;
    return typeof n === 'number' ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Publishes at a steady rate to the node `target` names, and records every attempt. */
export class TrackedPublisher {
  /** Every request, by sequence number. */
  readonly attempts: PublishAttempt[] = [];
  readonly #options: TrackedOptions;
  #inFlight = 0;
  #n = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #idle: Array<() => void> = [];

  constructor(options: TrackedOptions) {
    this.#options = options;
  }

  /** Starts publishing. */
  start(): void {
    const periodMs = Math.max(1, 1000 / this.#options.rate);
    const perTick = Math.max(1, Math.round((this.#options.rate * periodMs) / 1000));
    this.#timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) this.#fire();
    }, periodMs);
  }

  #fire(): void {
    if (this.#inFlight >= (this.#options.concurrency ?? 4)) return;
    const target = this.#options.target(this.#n);
    if (target === undefined) return;
    const n = this.#n++;
    const topics = this.#options.topics(n);
    const update: Update = {
      topics,
      data: JSON.stringify({ n, pad: 'x'.repeat(this.#options.pad?.(n) ?? 0) }),
    };
    const attempt: PublishAttempt = { n, target, topics, sentAt: performance.now() };
    this.attempts.push(attempt);
    this.#inFlight++;
    post(target, this.#options.token, update)
      .then(
        (answer) => {
          attempt.status = answer.status;
          attempt.body = answer.body;
        },
        (error: unknown) => {
          attempt.status = 0;
          attempt.body = String((error as Error).cause ?? error);
        },
      )
      .finally(() => {
        attempt.answeredAt = performance.now();
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

  /** The updates answered 200, in the engine's order (their ids). */
  accepted(): Published[] {
    return this.attempts
      .filter((a) => a.status === 200)
      .map((a) => ({ id: a.body!, topics: a.topics }))
      .sort((a, b) => compareIds(a.id, b.id));
  }

  /** How many requests got each status (0 = no answer). */
  statuses(): Map<number, number> {
    const out = new Map<number, number>();
    for (const a of this.attempts) {
      if (a.status !== undefined) out.set(a.status, (out.get(a.status) ?? 0) + 1);
    }
    return out;
  }
}

/** One form POST; a request that gets no answer within 10 s counts as failed. */
async function post(
  url: string,
  token: string,
  update: Update,
): Promise<{ status: number; body: string }> {
  const form = new URLSearchParams();
  for (const topic of update.topics) form.append('topic', topic);
  form.set('data', update.data);
  const res = await fetch(`${url}/.well-known/mercure`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.text() };
}

/**
 * Publishes a marker to every topic of the run (every subscriber matches it) and returns its id:
 * at the start so every stream begins after a known id, at the end so a subscriber that has it
 * has everything before it.
 */
export async function publishMarker(
  url: string,
  token: string,
  topics: readonly string[],
): Promise<string> {
  const answer = await post(url, token, { topics, data: 'marker' });
  if (answer.status !== 200) {
    throw new Error(`a marker was refused by ${url}: ${answer.status} ${answer.body}`);
  }
  return answer.body;
}
