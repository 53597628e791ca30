/**
 * The NATS engine's live reader: one ordered consumer per node, from the sequence after the
 * last one it delivered, for the node's own appends too. When the connection drops, the
 * session ends; once the connection is back (with backoff) a new consumer starts after the
 * last delivered sequence, so events other nodes published meanwhile arrive late but in order,
 * none twice (sequences at or below the last delivered one are dropped).
 *
 * A sequence jump means messages were removed before the reader got them: the live messages
 * wait while the engine finds which classes lost them (the markers), so the gap is reported
 * before the events after it. A stream created again under the same name (memory storage and a
 * server restart) is read from its start, after a gap.
 *
 * The engine (`nats.ts`) owns the connection, the stream, the index and the listeners; the
 * reader reaches them through {@link LiveReaderHost}.
 *
 * @packageDocumentation
 */

import {
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JsMsg,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nuid } from '@nats-io/transport-node';
import type { EngineGap } from './engine.js';
import type { EngineLifecycle } from './lifecycle.js';

/** What the live reader needs of its engine. */
export interface LiveReaderHost {
  /** The engine's lifecycle (closed, the interruptible sleep). */
  readonly life: EngineLifecycle;
  /** The stream's name. */
  readonly stream: string;
  /** Messages the consumer pulls at once. */
  readonly pageSize: number;
  /** Whether the connection is up. */
  connected(): boolean;
  /** The JetStream client of the current connection. */
  js(): JetStreamClient;
  /** Awaits a call of the current connection (`CLOSED` / `UNAVAILABLE` as the engine says). */
  guard<T>(promise: Promise<T>): Promise<T>;
  /** The stream's info, creating the stream when missing. */
  ensureStream(): Promise<StreamInfo>;
  /** Takes the stream's epoch from `info`; tells whether it is another stream than before. */
  adopt(info: StreamInfo): boolean;
  /** Forgets what the engine knew of a stream that was replaced (its index, its markers). */
  streamReplaced(): Promise<void>;
  /** The classes that lost events after sequence `after` (`undefined`: any). */
  classesLostAfter(after: number): Promise<string[] | undefined>;
  /** The `onLiveGap` option. */
  onLiveGap(lastDelivered: string, next: string): void;
  /** Tells the gap listeners. */
  reportGap(gap: EngineGap): void;
  /** Indexes and delivers one message, next in order. */
  deliver(m: JsMsg): void;
  /** Records what went wrong last (for `health()`). */
  noteError(message: string): void;
  /** Called when the reader fails before it ran once (the first start failed). */
  firstFailure(error: unknown): void;
  /** The pause before attempt `attempt` (0 first). */
  backoff(attempt: number): number;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The live reader of one NATS engine. */
export class NatsLiveReader {
  readonly #host: LiveReaderHost;
  /** The stream sequence delivered last. */
  lastSeen = 0;
  /** While a sequence jump is being attributed, live messages wait here, in order. */
  #paused: { first: JsMsg; rest: JsMsg[] } | undefined;
  #ok = false;
  #live = false;
  #resolveLive!: () => void;
  #wake: (() => void) | undefined;
  #session: ConsumerMessages | undefined;
  /** Live consumers of ended sessions, deleted when the next session starts. */
  readonly #stale: Consumer[] = [];
  /** Resolves once the reader ran once. */
  readonly running: Promise<void>;

  /** @param host - what the reader needs of its engine */
  constructor(host: LiveReaderHost) {
    this.#host = host;
    this.running = new Promise<void>((resolve) => {
      this.#resolveLive = resolve;
    });
  }

  /** Whether a session is under way and healthy. */
  get ok(): boolean {
    return this.#ok;
  }

  /** Whether the reader ran once (so `running` resolved). */
  get live(): boolean {
    return this.#live;
  }

  /** The connection dropped: the session ends, the next waits for it to come back. */
  lost(): void {
    this.#ok = false;
    this.#session?.stop();
  }

  /** The connection is back: a reader waiting for it goes on. */
  wake(): void {
    this.#wake?.();
  }

  /** The engine closes: no more deliveries; the loop ends. */
  stop(): void {
    this.#paused = undefined;
    this.#session?.stop();
    this.#wake?.();
  }

  /** Takes the consumers of ended sessions (to delete them). */
  takeStale(): Consumer[] {
    return this.#stale.splice(0);
  }

  /** Reads live until the engine closes, one session per connection. */
  async run(): Promise<void> {
    const host = this.#host;
    let failures = 0;
    while (!host.life.closed) {
      if (!host.connected()) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          if (host.connected() || host.life.closed) resolve();
        });
        this.#wake = undefined;
        continue;
      }
      let session: ConsumerMessages | undefined;
      let live: Consumer | undefined;
      for (const old of this.#stale.splice(0)) old.delete().catch(() => {});
      try {
        // Also re-creates a stream lost meanwhile (memory storage and a server restart).
        const info = await host.guard(host.ensureStream());
        if (host.adopt(info) || info.state.last_seq < this.lastSeen) {
          // Another stream under the same name: deliver what it holds, from its start (its
          // events reach the index through the live reader).
          const { first_seq, last_seq, messages } = info.state;
          const next = messages === 0 ? last_seq + 1 : first_seq;
          host.onLiveGap(String(this.lastSeen), String(next));
          host.reportGap({
            after: this.lastSeen > 0 ? String(this.lastSeen) : null,
            before: String(next),
            classes: undefined,
          });
          this.lastSeen = Math.max(0, next - 1);
          this.#paused = undefined;
          await host.streamReplaced();
        }
        const consumer = await host.guard(
          host.js().consumers.get(host.stream, {
            name_prefix: `herald_live_${nuid.next()}`,
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: this.lastSeen + 1,
            inactive_threshold: 60_000,
          }),
        );
        session = await consumer.consume({
          max_messages: host.pageSize,
          callback: (m) => this.#onLive(m),
        });
        live = consumer;
        if (host.life.closed || !host.connected()) {
          session.stop();
        } else {
          this.#session = session;
          this.#ok = true;
          this.#live = true;
          this.#resolveLive();
          failures = 0;
          this.#watchSession(session);
        }
        const ended = await session.closed();
        if (ended instanceof Error) host.noteError(message(ended));
      } catch (error) {
        if (host.life.closed) return;
        host.noteError(message(error));
        if (!this.#live) host.firstFailure(error);
      } finally {
        this.#ok = false;
        if (this.#session === session) this.#session = undefined;
        // Deleted by the next session or close(); else the inactivity threshold removes it.
        if (live !== undefined) this.#stale.push(live);
      }
      if (host.life.closed) return;
      await host.life.sleep(host.backoff(failures++));
    }
  }

  /** Ends the session when the consumer reports a problem the next session would not have. */
  #watchSession(session: ConsumerMessages): void {
    void (async () => {
      for await (const n of session.status()) {
        if (
          n.type === 'heartbeats_missed' ||
          n.type === 'stream_not_found' ||
          n.type === 'consumer_deleted' ||
          n.type === 'no_responders'
        ) {
          this.#host.noteError(`nats live reader: ${n.type}`);
          this.#ok = false;
          session.stop();
          return;
        }
      }
    })().catch(() => {});
  }

  #onLive(m: JsMsg): void {
    if (this.#host.life.closed) return;
    if (this.#paused !== undefined) {
      this.#paused.rest.push(m);
      return;
    }
    this.#take(m, false);
  }

  /** Delivers one live message, unless a jump before it must be attributed first. */
  #take(m: JsMsg, attributed: boolean): void {
    const seq = m.seq;
    // Ordered consumers deliver in stream order; a restarted one may repeat what came before.
    if (seq <= this.lastSeen) return;
    if (seq > this.lastSeen + 1 && !attributed) {
      // Messages in between were removed before this reader got them. Which classes lost
      // them is in the markers (raised before any deletion): hold the live messages until
      // the gap is reported, so that it comes before the events after it.
      this.#paused = { first: m, rest: [] };
      const after = this.lastSeen;
      this.#host.onLiveGap(String(after), String(seq));
      void this.#host.classesLostAfter(after).then((classes) => {
        const paused = this.#paused;
        if (this.#host.life.closed || paused === undefined || paused.first !== m) return;
        this.#host.reportGap({
          after: after > 0 ? String(after) : null,
          before: String(seq),
          classes,
        });
        this.#paused = undefined;
        this.#take(paused.first, true);
        for (let i = 0; i < paused.rest.length; i++) {
          // Another jump among them pauses delivery again: the rest waits behind it.
          const again = this.#paused as typeof paused | undefined;
          if (again !== undefined) {
            again.rest.push(...paused.rest.slice(i));
            return;
          }
          this.#take(paused.rest[i]!, false);
        }
      });
      return;
    }
    this.lastSeen = seq;
    this.#host.deliver(m);
  }
}
