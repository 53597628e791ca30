/**
 * Bounded reads of a JetStream stream, for history and "latest": an ephemeral, memory-stored,
 * unacknowledged consumer that starts at a sequence, pulled with `no_wait` until a known last
 * sequence. `no_wait` makes the server answer "no more messages" (status 404 / 408) instead of
 * holding the pull open, so a read never waits for events that do not exist yet.
 *
 * A consumer (rather than one direct get per sequence) is served by the stream leader, so what
 * it reads is never older than what the live reader delivered, and it streams a page in one
 * round trip.
 *
 * @packageDocumentation
 */

import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  nanos,
  nuid,
  type Subscription,
} from '@nats-io/transport-node';
import { parseAckSubject } from './nats-codec.js';

/** A request for the messages of sequences `from`…`to` of a stream. */
export interface RangeRead {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** First sequence to read (inclusive). */
  from: number;
  /** Last sequence to read (inclusive); messages after it are not examined. */
  to: number;
  /** Messages per pull. */
  batch: number;
  /** Messages of the first pull, when fewer are likely needed (default `batch`). */
  firstBatch?: number | undefined;
  /**
   * Bytes the read should not pull much beyond: the first pull then asks for one message, and
   * each next one for as many as fit in what is left at the size of the largest seen so far.
   */
  maxBytes?: number | undefined;
  /** How long one pull may stay unanswered, in ms. */
  timeoutMs: number;
  /** The connection's inbox prefix, when it is not `_INBOX`. */
  inboxPrefix?: string | undefined;
  /** Aborted when the read must stop (engine closed, connection lost); its reason is thrown. */
  signal: AbortSignal;
  /** Only subjects and headers, no payloads (`Nats-Msg-Size` then gives the payload's size). */
  headersOnly?: boolean | undefined;
  /**
   * Receives each message in sequence order; return `false` to stop reading.
   * Messages are handed over synchronously, as they arrive.
   */
  onMessage(seq: number, payload: Uint8Array, message: RangeMessage): boolean;
}

/** What a range read knows of a message besides its payload. */
export interface RangeMessage {
  /** The subject it was stored on. */
  subject: string;
  /** Its headers, if any. */
  headers: MsgHdrs | undefined;
  /** The reply subject of the delivery (see `parseAckSubject`, `ackTime`). */
  reply: string;
}

/** How long a pull may stay quiet before the read asks whether anything is left. */
const STALL_MS = 200;

/** Raised when a pull gets neither messages nor an answer in time. */
export class RangeReadTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`no answer from JetStream within ${ms} ms (${what})`);
    this.name = 'RangeReadTimeout';
  }
}

/**
 * Reads sequences `from`…`to` through an ephemeral consumer, deleted afterwards.
 *
 * @throws what the JetStream API or the connection throws, {@link RangeReadTimeout}, or the
 *   reason `signal` was aborted with
 */
export async function readRange(read: RangeRead): Promise<void> {
  const { from, to, signal } = read;
  if (to < from) return;
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  const interrupt = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  interrupt.catch(() => {});
  try {
    await readWith(read, interrupt);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}

async function readWith(read: RangeRead, interrupt: Promise<never>): Promise<void> {
  const { nc, js, jsm, stream, from, to, batch, timeoutMs, onMessage } = read;
  const name = `herald_read_${nuid.next()}`;
  await Promise.race([
    jsm.consumers.add(stream, {
      name,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      ack_policy: AckPolicy.None,
      ...(read.headersOnly === true ? { headers_only: true } : {}),
      mem_storage: true,
      num_replicas: 1,
      // Removed by the server if this process dies before it deletes the consumer itself.
      inactive_threshold: nanos(60_000),
    }),
    interrupt,
  ]);
  const inbox = createInbox(read.inboxPrefix);
  const next = `${js.apiPrefix}.CONSUMER.MSG.NEXT.${stream}.${name}`;
  let sub: Subscription | undefined;
  try {
    let last = from - 1;
    let stopped = false;
    // One pull at a time: each ends with `want` messages or with a status message.
    let settle: ((error?: Error) => void) | undefined;
    let want = 0;
    let got = 0;
    // Bytes pulled so far and the largest message, to size the pulls under `maxBytes`.
    let pulled = 0;
    let biggest = 0;
    sub = nc.subscribe(inbox, {
      callback: (error: Error | null, msg: Msg) => {
        if (error !== null) return settle?.(error);
        const info = parseAckSubject(msg.reply);
        if (info === undefined) {
          if (settle === undefined) return;
          // A status message (no reply subject): the end of this pull, or an error.
          const code = msg.headers?.code ?? 0;
          // 404 No Messages / 408 Request Timeout: nothing more is stored right now. (The
          // consumer sends it after the messages it delivered before, which came first.)
          if (code === 404 || code === 408) {
            stopped = true;
            return settle();
          }
          return settle(
            new Error(`JetStream pull failed: ${code} ${msg.headers?.description ?? ''}`.trim()),
          );
        }
        // Every message the consumer delivers is read, also one that comes after its pull was
        // settled (a second pull after a stall, both answered): the consumer delivers each
        // sequence once, so one dropped here would be missing from the read.
        got++;
        pulled += msg.data.byteLength;
        if (msg.data.byteLength > biggest) biggest = msg.data.byteLength;
        if (!stopped && info.seq > last) {
          if (info.seq > to) stopped = true;
          else {
            last = info.seq;
            const message = { subject: msg.subject, headers: msg.headers, reply: msg.reply! };
            if (!onMessage(info.seq, msg.data, message)) stopped = true;
            else if (info.seq >= to || info.pending === 0) stopped = true;
          }
        }
        if (settle !== undefined && (got >= want || stopped)) settle();
      },
    });
    let size = Math.max(1, Math.min(batch, read.firstBatch ?? batch));
    const maxBytes = read.maxBytes;
    if (maxBytes !== undefined) size = 1;
    while (!stopped && last < to) {
      want = Math.min(size, to - last);
      size = batch;
      if (maxBytes !== undefined) {
        const left = maxBytes - pulled;
        size = Math.max(1, Math.min(batch, biggest === 0 ? 1 : Math.floor(left / biggest)));
      }
      got = 0;
      const done = new Promise<void>((resolve, reject) => {
        settle = (error) => {
          settle = undefined;
          if (error === undefined) resolve();
          else reject(error);
        };
      });
      nc.publish(next, JSON.stringify({ batch: want, no_wait: true }), { reply: inbox });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RangeReadTimeout('history read', timeoutMs)),
          timeoutMs,
        );
      });
      // Messages removed while the pull is served (a purge of another class, say) can leave it
      // waiting for messages that will never come, with no status to end it: when it goes
      // quiet, ask the consumer whether anything is left, and pull again if so. Nothing left
      // to deliver is not the end of the read while messages it delivered are still on their
      // way (its API answer can overtake them, and a busy process reads them late): wait for
      // those first. Ending there returned a short page as if it were the whole range.
      let quiet = got;
      let asking = false;
      const stall = setInterval(() => {
        if (asking || settle === undefined) return;
        if (got !== quiet) {
          quiet = got;
          return;
        }
        asking = true;
        jsm.consumers.info(stream, name).then(
          (ci) => {
            asking = false;
            if (settle === undefined) return;
            if (ci.delivered.stream_seq > last) {
              // Delivered, not yet here: they settle the pull when they come (one past `to`
              // ends the read), else the timeout does.
            } else if (ci.num_pending === 0) {
              stopped = true;
              settle();
            } else {
              nc.publish(next, JSON.stringify({ batch: want - got, no_wait: true }), {
                reply: inbox,
              });
            }
          },
          () => {
            asking = false;
          },
        );
      }, STALL_MS);
      try {
        await Promise.race([done, timeout, interrupt]);
      } finally {
        clearTimeout(timer);
        clearInterval(stall);
        settle = undefined;
      }
    }
  } finally {
    sub?.unsubscribe();
    // Best effort: the inactivity threshold removes it otherwise.
    jsm.consumers.delete(stream, name).catch(() => {});
  }
}
