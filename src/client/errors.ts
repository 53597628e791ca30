/** What went wrong, machine-readable. */
export type HeraldClientErrorCode =
  /** `fetch` rejected or the body broke off (DNS, refused, reset, TLS, CORS, …). */
  | 'NETWORK'
  /** The server ended a `200` event stream (a normal close; clients reconnect). */
  | 'STREAM_ENDED'
  /** No byte arrived for `idleTimeoutMs` (or the runtime's own body/headers timeout fired). */
  | 'IDLE_TIMEOUT'
  /** The response status was not `200`; `response` holds it. */
  | 'BAD_STATUS'
  /** A `200` response whose `Content-Type` is not `text/event-stream`; `response` holds it. */
  | 'BAD_CONTENT_TYPE'
  /** The URL's scheme cannot carry an event stream (only `http:` and `https:` can). */
  | 'UNSUPPORTED_URL'
  /**
   * A redirect `subscribe()` will not follow: too many, to another scheme, a body to another
   * origin, or one a browser hides (`response` holds it).
   */
  | 'REDIRECT'
  /** `maxRetries` consecutive attempts failed; `cause` is the last failure. */
  | 'RETRIES_EXHAUSTED'
  /** `json: true` and an event's data is not JSON; `raw` holds the data as received. */
  | 'INVALID_JSON'
  /** An event grew past `maxEventBytes` and was dropped. */
  | 'EVENT_TOO_LARGE';

/** Details carried by a {@link HeraldClientError}. */
export interface HeraldClientErrorDetails {
  /** The underlying error (a `TypeError` from `fetch`, the last failure, …). */
  cause?: unknown;
  /** The response that was refused (`BAD_STATUS`, `BAD_CONTENT_TYPE`, `REDIRECT`). */
  response?: Response;
  /** The event's raw data (`INVALID_JSON`). */
  raw?: string;
  /** The server's own words for a refusal (`BAD_STATUS`, `BAD_CONTENT_TYPE`). */
  reason?: string;
  /** The event's type (`INVALID_JSON`). */
  type?: string;
}

/**
 * The one error type of `herald/client`: `code` says what kind of failure it is; the message
 * says what was wrong and what to do.
 */
export class HeraldClientError extends Error {
  /** Machine-readable kind of failure. */
  declare readonly code: HeraldClientErrorCode;
  /** The refused response, for `BAD_STATUS`, `BAD_CONTENT_TYPE` and `REDIRECT`. */
  declare readonly response: Response | undefined;
  /** The event's raw data, for `INVALID_JSON`. */
  declare readonly raw: string | undefined;
  /** The event's type, for `INVALID_JSON`. */
  declare readonly type: string | undefined;
  /**
   * Why the server refused, in its words, for `BAD_STATUS` and `BAD_CONTENT_TYPE` from
   * `subscribe()`: a short `text/plain` body, a JSON body's `reason` / `message` / `error`, or a
   * `WWW-Authenticate` `error_description` (also at the end of `message`); `undefined` if none.
   */
  declare readonly reason: string | undefined;

  /**
   * @param code - what kind of failure this is
   * @param message - a sentence a person can act on
   * @param details - cause, response, raw data
   */
  constructor(
    code: HeraldClientErrorCode,
    message: string,
    details: HeraldClientErrorDetails = {},
  ) {
    super(message, { cause: details.cause });
    this.name = 'HeraldClientError';
    this.code = code;
    this.response = details.response;
    this.raw = details.raw;
    this.type = details.type;
    this.reason = details.reason;
  }
}
