/**
 * How the NATS JetStream engine lays events out in a stream: subjects, the message payload,
 * generated ids, and the delivery metadata JetStream puts in a consumer message's reply subject.
 * Pure functions, no I/O.
 *
 * **Subjects.** One stream holds every event once, on one of two kinds of subject:
 * - `<prefix>.event` — events of the default retention class with a generated id, and
 *   `<prefix>.c.<class>.event` those of retention class `<class>`;
 * - `<prefix>.id.<digest>` — events with a custom id, whatever their class (so that an id is
 *   unique across classes), where `<digest>` is the base64url SHA-256 of the id (43 characters
 *   from `[A-Za-z0-9_-]`); a header (`Herald-Class`) names the class when it is not the default.
 *
 * **Markers** live in a second stream, `<stream>-lost`, on subjects `<prefix>-lost.<class>` (`=`
 * for losses no class is known for), one message per subject (`max_msgs_per_subject: 1`): the
 * newest sequence that class evicted, as decimal text. The engine raises a class's marker
 * *before* it deletes its events, and a reader reads the markers *after* it read events, so a
 * reader never misses a deletion it did not hear of. Kept apart from the events because
 * deleting an old marker from the events' stream would look like a loss to every live reader.
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

/** The subject of events with a generated id, of the default class or of `retentionClass`. */
export function eventSubject(prefix: string, retentionClass?: string): string {
  return retentionClass === undefined ? `${prefix}.event` : `${prefix}.c.${retentionClass}.event`;
}

/** The header naming the retention class of a custom-id event (absent: the default class). */
export const CLASS_HEADER = 'Herald-Class';

/** The marker name of losses no retention class is known for (not a class name). */
export const UNATTRIBUTED = '=';

/** The stream of an engine stream's markers. */
export function lostStreamOf(stream: string): string {
  return `${stream}-lost`;
}

/** The subject of retention class `cls`'s marker (see the module documentation). */
export function lostSubject(prefix: string, cls: string): string {
  return `${prefix}-lost.${cls}`;
}

/** The class a marker subject names; `undefined` when `subject` is not one. */
export function classOfLostSubject(prefix: string, subject: string): string | undefined {
  const head = `${prefix}-lost.`;
  return subject.startsWith(head) && subject.length > head.length
    ? subject.slice(head.length)
    : undefined;
}

/**
 * The retention class of the event stored on `subject` (`undefined` for the default class), or
 * `null` when the subject holds no event of this engine.
 */
export function classOfSubject(
  prefix: string,
  subject: string,
  classHeader: string | undefined,
): string | undefined | null {
  if (subject === `${prefix}.event`) return undefined;
  if (subject.startsWith(`${prefix}.id.`)) return classHeader || undefined;
  const head = `${prefix}.c.`;
  if (subject.startsWith(head) && subject.endsWith('.event')) {
    return subject.slice(head.length, -'.event'.length);
  }
  return null;
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

/**
 * The time a JetStream consumer message was stored, in ms since the epoch, from its reply
 * subject (see {@link parseAckSubject}); `undefined` when `reply` is not such a subject.
 */
export function ackTime(reply: string | undefined): number | undefined {
  if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
  const tokens = reply.split('.');
  const i = tokens.length === 9 ? 2 : tokens.length >= 11 ? 4 : -1;
  if (i === -1) return undefined;
  const ns = Number(tokens[i + 5]);
  return Number.isFinite(ns) ? Math.floor(ns / 1e6) : undefined;
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
