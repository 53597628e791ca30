/** The query parameter Mercure defines for clients that cannot send a `Last-Event-ID` header. */
export const LAST_EVENT_ID_QUERY_PARAM = 'lastEventID';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LATIN1_HIGH = /[\x80-\xff]/;
const ABOVE_LATIN1 = /[\u0100-\uffff]/;

// HTML standard, "reestablish the connection": "If the EventSource object's last event ID string
// is not the empty string, set (`Last-Event-ID`, last event ID string, encoded as UTF-8) in
// request's header list." Node and fetch expose header bytes as latin1 strings, so a non-ASCII
// id arrives as one character per byte and is decoded back here.
function decodeHeader(value: string): string {
  if (!LATIN1_HIGH.test(value) || ABOVE_LATIN1.test(value)) return value;
  const bytes = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i);
  try {
    return utf8.decode(bytes);
  } catch {
    return value;
  }
}

/**
 * The id a reconnecting client last saw: the `Last-Event-ID` header when present and non-empty,
 * else the `lastEventID` query parameter of the request target (Mercure's name, for clients that
 * cannot set headers, such as a browser's first connection), else `''`.
 *
 * @param header - the raw header value (Node joins repeated unknown headers with `, `)
 * @param target - the request target (`/path?query`) or an absolute URL
 * @internal
 */
export function readLastEventId(
  header: string | readonly string[] | null | undefined,
  target: string | undefined,
): string {
  const value = typeof header === 'string' ? header : header?.[0];
  if (value !== undefined && value !== '') return decodeHeader(value);
  if (target === undefined) return '';
  const query = target.indexOf('?');
  if (query === -1) return '';
  const hash = target.indexOf('#', query);
  const search = hash === -1 ? target.slice(query + 1) : target.slice(query + 1, hash);
  return new URLSearchParams(search).get(LAST_EVENT_ID_QUERY_PARAM) ?? '';
}
