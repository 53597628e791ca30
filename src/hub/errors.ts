/** What went wrong in a hub call, machine-readable. */
export type HeraldHubErrorCode =
  /** The hub was closed. */
  | 'CLOSED'
  /** `publish` was called with something that cannot be published (see the message). */
  | 'INVALID_PUBLISH'
  /** The event's encoded size is more than a subscriber queue holds (`maxEventBytes`). */
  | 'EVENT_TOO_LARGE'
  /** `subscribe` was called with invalid options (see the message). */
  | 'INVALID_SUBSCRIBE'
  /** `createHub` options are invalid. */
  | 'INVALID_OPTIONS';

/** The error type of hub calls; engine problems surface as `HeraldEngineError`. */
export class HeraldHubError extends Error {
  /** Machine-readable kind of error. */
  readonly code: HeraldHubErrorCode;
  /**
   * The HTTP status that answers a request this error refused: 400 `INVALID_PUBLISH` /
   * `INVALID_SUBSCRIBE`, 413 `EVENT_TOO_LARGE`, 503 `CLOSED`, 500 `INVALID_OPTIONS`. Express,
   * Koa and Fastify error handlers answer with it (`status`; writable: Koa sets it), so an invalid publish passed to
   * `next(error)` (or thrown) is a 4xx, not a 500.
   */
  status: number;
  /** Whether the message may be shown to the client (`status` below 500), as Koa reads it. */
  expose: boolean;

  /**
   * @param code - what kind of error this is
   * @param message - a sentence a person can act on
   */
  constructor(code: HeraldHubErrorCode, message: string) {
    super(message);
    this.name = 'HeraldHubError';
    this.code = code;
    this.status = HUB_ERROR_STATUS[code];
    this.expose = this.status < 500;
  }
}

const HUB_ERROR_STATUS: Record<HeraldHubErrorCode, number> = {
  CLOSED: 503,
  INVALID_PUBLISH: 400,
  EVENT_TOO_LARGE: 413,
  INVALID_SUBSCRIBE: 400,
  INVALID_OPTIONS: 500,
};
