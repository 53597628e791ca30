/**
 * How the NATS JetStream engine lays events out in a stream: subjects, the message payload,
 * generated ids, and the delivery metadata JetStream puts in a consumer message's reply subject.
 * Pure functions, no I/O.
 *
 * **Subjects.** One stream holds every event once, on one of two kinds of subject:
 * - `<prefix>.event` — events with a generated id;
 * - `<prefix>.id.<digest>` — events with a custom id, where `<digest>` is the base64url SHA-256
 *   of the id (43 characters from `[A-Za-z0-9_-]`).
 *
 * The subject names the *id*, not the topics: an event has several topics but must be stored
 * once, at one position, and Herald's selectors (URI templates, `*`) are matched in the hub, not
 * by NATS subject filters. What a subject per custom id buys is atomicity: publishing with
 * `Nats-Expected-Last-Subject-Sequence: 0` makes the server refuse the event exactly while
 * another event with that id is retained (`DUPLICATE_ID`), and "the last message on that subject"
 * is `resolve(id)`. Hashing keeps every subject short and free of `.`, `*`, `>`, spaces and
 * non-ASCII whatever the id, so no id can break the protocol's control line.
 *
 * **Payload.** `<meta JSON>\n<data>`: a one-line JSON object (`t` topics, `i` custom id, `y`
 * type, `r` retry, `p` private, `ms` time) then the data bytes untouched. JSON never contains a
 * raw line feed, so the first `\n` ends the metadata; headers are not used because NATS header
 * values cannot hold every string (line breaks in topics, leading or trailing spaces).
 *
 * @packageDocumentation
 */

import { createHash } from 'node:crypto';
import type { EngineEventInput } from './engine.js';

/** The subject of events with a generated id. */
export function eventSubject(prefix: string): string {
  return `${prefix}.event`;
}

/** The subject of the event with custom id `id`. */
export function idSubject(prefix: string, id: string): string {
  return `${prefix}.id.${createHash('sha256').update(id, 'utf8').digest('base64url')}`;
}

/** What the payload's metadata line holds. */
export interface EventMeta {
  /** Topics. */
  t: string[];
  /** Custom id. */
  i?: string;
  /** Event type. */
  y?: string;
  /** Retry. */
  r?: number;
  /** Private (only written when true). */
  p?: 1;
  /** Time the event was appended, ms since the epoch (the publishing node's clock). */
  ms: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 0x0a;

/** Encodes an event as a message payload. */
export function encodePayload(input: EngineEventInput, time: number): Uint8Array {
  const meta: EventMeta = { t: input.topics.slice(), ms: time };
  if (input.id !== undefined) meta.i = input.id;
  if (input.type !== undefined) meta.y = input.type;
  if (input.retry !== undefined) meta.r = input.retry;
  if (input.private === true) meta.p = 1;
  return encoder.encode(`${JSON.stringify(meta)}\n${input.data}`);
}

/** A decoded payload. */
export interface DecodedPayload {
  meta: EventMeta;
  data: string;
}

/**
 * Decodes a message payload written by {@link encodePayload}.
 *
 * @returns `undefined` when the message was not written by Herald
 */
export function decodePayload(payload: Uint8Array): DecodedPayload | undefined {
  const nl = payload.indexOf(LF);
  if (nl === -1) return undefined;
  let meta: unknown;
  try {
    meta = JSON.parse(decoder.decode(payload.subarray(0, nl)));
  } catch {
    return undefined;
  }
  if (!isMeta(meta)) return undefined;
  return { meta, data: decoder.decode(payload.subarray(nl + 1)) };
}

function isMeta(v: unknown): v is EventMeta {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return (
    Array.isArray(m.t) &&
    m.t.length > 0 &&
    m.t.every((t) => typeof t === 'string') &&
    typeof m.ms === 'number' &&
    (m.i === undefined || typeof m.i === 'string') &&
    (m.y === undefined || typeof m.y === 'string') &&
    (m.r === undefined || typeof m.r === 'number')
  );
}

/**
 * The prefix of generated ids for a stream, from its creation time: `<base36 ms>-`. A stream
 * that is deleted and created again (or a memory-stored stream after a server restart) starts
 * its sequence at 1 again but gets a new creation time, so a `Last-Event-ID` from before can
 * never name a different event.
 */
export function epochOf(created: string): string {
  const ms = Date.parse(created);
  if (!Number.isFinite(ms)) throw new Error(`not a stream creation time: ${created}`);
  return Math.max(0, ms).toString(36);
}

const DIGITS = /^[1-9][0-9]*$/;

/** Parses a stream sequence written as a decimal position; `undefined` when it is not one. */
export function parseSequence(text: string): number | undefined {
  if (!DIGITS.test(text)) return text === '0' ? 0 : undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Delivery metadata of a consumer message. */
export interface DeliveryInfo {
  /** The stream sequence. */
  seq: number;
  /** Messages after this one the consumer has yet to deliver. */
  pending: number;
}

/**
 * Reads a JetStream consumer message's reply subject: `$JS.ACK.<stream>.<consumer>.<delivered>.
 * <stream seq>.<consumer seq>.<timestamp ns>.<pending>` (servers before 2.10), or the same with
 * `<domain>.<account hash>` after `$JS.ACK` and a random token at the end (2.10 and later).
 *
 * @returns `undefined` when `reply` is not such a subject
 */
export function parseAckSubject(reply: string | undefined): DeliveryInfo | undefined {
  if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
  const tokens = reply.split('.');
  let i: number;
  if (tokens.length === 9) i = 2;
  else if (tokens.length >= 11) i = 4;
  else return undefined;
  const seq = Number(tokens[i + 3]);
  const pending = Number(tokens[i + 6]);
  if (!Number.isSafeInteger(seq) || seq < 1 || !Number.isSafeInteger(pending)) return undefined;
  return { seq, pending };
}
