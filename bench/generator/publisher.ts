/**
 * Publishes stamped events to the server under test over its HTTP publish API, the same way for
 * every peer: keep-alive connections, a few requests in flight. Runs in the orchestrator, whose
 * CPU is counted with the generator's.
 */
import { Agent, request } from 'node:http';
import { nowMicros, stampedPayload } from './clock.js';

/** How one peer takes a publish: a POST to `path` with `body(data)`. */
export interface PublishTarget {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Request path, e.g. `/.well-known/mercure`. */
  path: string;
  /** Request headers (content type, authorization). */
  headers: Record<string, string>;
  /** The request body carrying `data` (the event's data, one line). */
  body(data: string): string;
}

/** What a publishing run achieved. */
export interface PublishRun {
  /** Publishes the server accepted (2xx). */
  published: number;
  /** Publishes refused or failed. */
  failed: number;
  /** `nowMicros()` at the first request and when the last answer came. */
  startMicros: number;
  endMicros: number;
  /** The first failure, for the report. */
  firstError: string | undefined;
}

/** A publisher with its own keep-alive connections. */
export class Publisher {
  readonly #target: PublishTarget;
  readonly #size: number;
  readonly #agent: Agent;

  /**
   * @param target - the peer's publish API
   * @param size - bytes of each event's data (stamp + padding)
   * @param inflight - most requests in flight (and connections)
   */
  constructor(target: PublishTarget, size: number, inflight: number) {
    this.#target = target;
    this.#size = size;
    this.#agent = new Agent({ keepAlive: true, maxSockets: inflight });
  }

  /** Publishes one event stamped now; resolves with an error message, or undefined on 2xx. */
  one(): Promise<string | undefined> {
    const body = Buffer.from(this.#target.body(stampedPayload(this.#size, nowMicros())));
    return new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.#target.port,
          path: this.#target.path,
          method: 'POST',
          agent: this.#agent,
          headers: { ...this.#target.headers, 'content-length': body.length },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            if (status >= 200 && status < 300) resolve(undefined);
            else {
              const text = Buffer.concat(chunks).toString('utf8').slice(0, 200);
              resolve(`POST ${this.#target.path}: status ${status} ${text}`);
            }
          });
          res.on('error', (error) => resolve(`POST ${this.#target.path}: ${error.message}`));
        },
      );
      req.on('error', (error) => resolve(`POST ${this.#target.path}: ${error.message}`));
      req.end(body);
    });
  }

  /** Publishes as fast as the server answers, `inflight` requests at a time, for `seconds`. */
  async flood(seconds: number, inflight: number): Promise<PublishRun> {
    const run = this.#newRun();
    const deadline = performance.now() + seconds * 1000;
    const lane = async (): Promise<void> => {
      while (performance.now() < deadline) this.#count(run, await this.one());
    };
    await Promise.all(Array.from({ length: inflight }, lane));
    run.endMicros = nowMicros();
    return run;
  }

  /** Publishes `count` events, one at a time (history for the storm scenario). */
  async sequence(count: number): Promise<PublishRun> {
    const run = this.#newRun();
    for (let i = 0; i < count; i++) this.#count(run, await this.one());
    run.endMicros = nowMicros();
    return run;
  }

  /**
   * Publishes `rate` events per second for `seconds`, on a fixed schedule (open loop: a slow
   * answer does not delay the next send), and waits for every answer.
   */
  async paced(rate: number, seconds: number): Promise<PublishRun> {
    const run = this.#newRun();
    const total = Math.max(1, Math.round(rate * seconds));
    const start = performance.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      sends.push(this.one().then((error) => this.#count(run, error)));
    }
    await Promise.all(sends);
    run.endMicros = nowMicros();
    return run;
  }

  /** Closes the keep-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  #newRun(): PublishRun {
    return {
      published: 0,
      failed: 0,
      startMicros: nowMicros(),
      endMicros: 0,
      firstError: undefined,
    };
  }

  #count(run: PublishRun, error: string | undefined): void {
    if (error === undefined) run.published++;
    else {
      run.failed++;
      run.firstError ??= error;
    }
  }
}
