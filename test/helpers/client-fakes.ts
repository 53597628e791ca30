// Test doubles for herald/client: a fake clock (Timers) that a test advances by hand, and a
// scripted fetch whose responses and bodies the test writes, so reconnection timing is checked
// exactly without waiting.
import type { FetchLike, Timers } from '../../src/client/index.js';
import { Collector } from './async.js';

interface Pending {
  id: number;
  at: number;
  callback: () => void;
}

/** A clock that only moves when told: `advance(ms)` runs what falls due, in order. */
export class FakeClock implements Timers {
  now = 0;
  /** Every delay ever scheduled, in order (what a test asserts on). */
  readonly delays: number[] = [];
  #pending: Pending[] = [];
  #nextId = 1;

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.delays.push(ms);
    this.#pending.push({ id, at: this.now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending = this.#pending.filter((p) => p.id !== handle);
  }

  /** The delays of the timers still pending. */
  get pending(): number[] {
    return this.#pending.map((p) => p.at - this.now);
  }

  /** Moves time forward by `ms`, running due callbacks (and letting promises settle between). */
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      await settle();
      const due = this.#pending
        .filter((p) => p.at <= target)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#pending = this.#pending.filter((p) => p !== due);
      this.now = due.at;
      due.callback();
    }
    this.now = target;
    await settle();
  }
}

/** Lets queued microtasks and a few macrotask turns run (fetch bodies, promise chains). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A response body the test writes to. */
export interface FakeBody {
  /** Sends text. */
  push(text: string): void;
  /** Ends the body (the server closed the stream). */
  end(): void;
  /** Breaks the body off with `error`. */
  error(error: unknown): void;
}

/** One request the scripted fetch received. */
export interface FakeRequest {
  url: string;
  init: RequestInit;
  headers: Headers;
  /** The body of the response given to it, when it is a stream. */
  body?: FakeBody;
}

/** How the scripted fetch answers one request. */
export type FakeAnswer =
  | { stream: true; status?: number; type?: string; headers?: Record<string, string> }
  | { status: number; type?: string; text?: string; headers?: Record<string, string> }
  | { reject: unknown };

/**
 * A fetch that answers each request with the next answer of `script` (the last one repeats):
 * a streaming response whose body the test drives (`requests.items[i].body`), a response with a
 * fixed text, or a rejection.
 */
export function scriptedFetch(script: FakeAnswer[]): {
  fetch: FetchLike;
  requests: Collector<FakeRequest>;
} {
  const requests = new Collector<FakeRequest>();
  let index = 0;
  const fetch: FetchLike = async (url, init) => {
    const answer = script[Math.min(index++, script.length - 1)]!;
    const request: FakeRequest = { url, init, headers: new Headers(init.headers) };
    if ('reject' in answer) {
      requests.push(request);
      throw answer.reject;
    }
    const headers = new Headers(answer.headers);
    headers.set('content-type', answer.type ?? 'text/event-stream');
    if ('stream' in answer) {
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
        },
      });
      init.signal?.addEventListener('abort', () => {
        try {
          controller.error(init.signal?.reason);
        } catch {}
      });
      const encoder = new TextEncoder();
      request.body = {
        push: (text) => controller.enqueue(encoder.encode(text)),
        end: () => controller.close(),
        error: (error) => controller.error(error),
      };
      requests.push(request);
      return new Response(stream, { status: answer.status ?? 200, headers });
    }
    requests.push(request);
    const nullBody = answer.status === 204 || answer.status === 205 || answer.status === 304;
    return new Response(nullBody ? null : (answer.text ?? ''), { status: answer.status, headers });
  };
  return { fetch, requests };
}
