// A model of what a Mercure publish request must produce, written from docs/server.md and the
// Mercure spec rather than from the handler: the status the hub must answer and the events it
// must put on the wire. The publish fuzz target compares the real hub against it.

/** What the model expects for one update that is accepted. */
export interface ExpectedEvent {
  /** The custom id, or undefined for a generated one (taken from the answer). */
  id: string | undefined;
  type: string;
  data: string;
  topics: string[];
  private: boolean;
}

/**
 * The model's verdict for a request: the statuses the hub may answer (one, unless a template
 * claim met a topic the model cannot judge: then also 403 at that point), and the events an
 * answer of 200 must have put on the wire.
 */
export interface Verdict {
  statuses: number[];
  events: ExpectedEvent[];
}

/** Raw fields of one update, as the form or JSON body gives them (`undefined` = absent). */
export interface RawFields {
  topics: unknown;
  data: unknown;
  id: unknown;
  type: unknown;
  retry: unknown;
  private: unknown;
}

/** How a publisher's claim decides a topic: yes, no, or the model cannot tell. */
export type Allows = (topic: string) => boolean | undefined;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const CONTROL = /[\0-\x1f\x7f]/;
/** A lone surrogate (only JSON can carry one; a form is decoded as UTF-8). */
const LONE_SURROGATE = /\p{Cs}/u;
const HUB = '/.well-known/mercure';

/** Thrown inside the model: the status the hub must answer. */
class Refuse {
  constructor(readonly status: number) {}
}

/**
 * Whether a topic is under the hub's reserved path: as written, or as the path a URL parser
 * makes of it (dot segments resolved, `%2e` decoded).
 */
export function reservedTopic(topic: string): boolean {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(topic);
  const raw = (authority === null ? topic : topic.slice(authority[0].length)).split(/[?#]/)[0]!;
  if (raw.startsWith(HUB)) return true;
  try {
    return new URL(topic, 'http://hub').pathname.startsWith(HUB);
  } catch {
    return false;
  }
}

/** One update's fields checked as docs/server.md lists them (400 for each mistake). */
function update(raw: RawFields, json: boolean, maxTopics: number): ExpectedEvent {
  const topics = typeof raw.topics === 'string' ? [raw.topics] : raw.topics;
  if (!Array.isArray(topics) || topics.length === 0) throw new Refuse(400);
  if (topics.length > maxTopics) throw new Refuse(400);
  if (topics.some((t) => typeof t !== 'string' || t === '')) throw new Refuse(400);
  // Ids, types and topics must be well-formed Unicode: on the wire a lone surrogate is U+FFFD.
  if (topics.some((t) => LONE_SURROGATE.test(t))) throw new Refuse(400);
  if (json && raw.private !== undefined && typeof raw.private !== 'boolean') throw new Refuse(400);
  let id: string | undefined;
  if (raw.id !== undefined && raw.id !== null) {
    if (typeof raw.id !== 'string' || raw.id === '' || CONTROL.test(raw.id)) throw new Refuse(400);
    if (raw.id.startsWith('#') || LONE_SURROGATE.test(raw.id)) throw new Refuse(400);
    id = raw.id;
  }
  let type = '';
  if (raw.type !== undefined && raw.type !== null) {
    if (typeof raw.type !== 'string' || CONTROL.test(raw.type) || LONE_SURROGATE.test(raw.type))
      throw new Refuse(400);
    type = raw.type;
  }
  if (raw.retry !== undefined && raw.retry !== null) {
    const ok =
      typeof raw.retry === 'string'
        ? /^[0-9]+$/.test(raw.retry) && Number.isSafeInteger(Number(raw.retry))
        : typeof raw.retry === 'number' && Number.isSafeInteger(raw.retry) && raw.retry >= 0;
    if (!ok) throw new Refuse(400);
  }
  const data =
    raw.data === undefined || raw.data === null
      ? ''
      : typeof raw.data === 'string'
        ? raw.data
        : JSON.stringify(raw.data);
  return {
    id,
    type: type === '' ? 'message' : type,
    data,
    topics: topics as string[],
    private: json ? raw.private === true : raw.private !== undefined,
  };
}

/** The Mercure authorization of one update (403 for each refusal); `undefined` = cannot tell. */
function authorize(event: ExpectedEvent, allows: Allows | undefined): boolean {
  if (event.topics.some(reservedTopic)) throw new Refuse(403);
  // "If mercure.publish is not defined, then the publisher MUST NOT be authorized to dispatch
  // any update."
  if (allows === undefined) throw new Refuse(403);
  let sure = true;
  for (const topic of event.topics) {
    const verdict = allows(topic);
    if (verdict === false) throw new Refuse(403);
    if (verdict === undefined) sure = false;
  }
  return sure;
}

/** What the request as a whole must produce. */
export interface PublishRequestModel {
  /** 415 unless the content type fits the endpoint. */
  contentTypeOk: boolean;
  /** 401 / 403 from authentication, or `ok` with the claim's decision. */
  auth: { status: 401 | 403 } | { status: 'ok'; allows: Allows | undefined };
  /** The body is over --max-body-bytes. */
  tooLarge: boolean;
  /** The updates, or the status the body's parsing fails with. */
  body: { fields: RawFields[]; json: boolean; array: boolean } | { status: 400 };
  /** Custom ids still in the hub's history (a reuse is a 409). */
  retainedIds: ReadonlySet<string>;
  /** Most updates in one JSON array, and topics of all its updates (--max-topics). */
  maxUpdates: number;
  /** Most topics of one update (--max-update-topics). */
  maxUpdateTopics: number;
}

/**
 * The verdict for a request, checking in the order the hub documents: content type, token,
 * body size, body syntax, each update's fields then its authorization, then id uniqueness.
 */
export function expectPublish(m: PublishRequestModel): Verdict {
  const refused = (status: number): Verdict => ({ statuses: [status], events: [] });
  if (!m.contentTypeOk) return refused(415);
  if (m.auth.status !== 'ok') return refused(m.auth.status);
  if (m.tooLarge) return refused(413);
  if ('status' in m.body) return refused(400);
  const { fields, json, array } = m.body;
  if (array && (fields.length === 0 || fields.length > m.maxUpdates)) return refused(400);
  // The topics of an array's updates count together against the same bound.
  const topicsInAll = fields.reduce(
    (n, f) => n + (Array.isArray(f.topics) ? f.topics.length : 1),
    0,
  );
  if (array && topicsInAll > m.maxUpdates) return refused(400);
  const events: ExpectedEvent[] = [];
  // Once a topic the model cannot judge went through, the hub may have refused it (403) there.
  let unsure = false;
  const end = (status: number): Verdict => ({
    statuses: unsure && status !== 403 ? [403, status] : [status],
    events: status === 200 ? events : [],
  });
  try {
    for (const raw of fields) {
      const event = update(raw, json, m.maxUpdateTopics);
      if (!authorize(event, m.auth.allows)) unsure = true;
      events.push(event);
    }
  } catch (refusal) {
    if (refusal instanceof Refuse) return end(refusal.status);
    throw refusal;
  }
  // Ids: "a custom id that an event still in history already uses" is a 409; ids the engine
  // keeps for itself ("earliest") are refused as invalid.
  const seen = new Set<string>();
  for (const event of events) {
    if (event.id === undefined) continue;
    if (event.id === 'earliest') return end(400);
    if (m.retainedIds.has(event.id) || seen.has(event.id)) return end(409);
    seen.add(event.id);
  }
  return end(200);
}
