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
   * @param code - what kind of error this is
   * @param message - a sentence a person can act on
   */
  constructor(code: HeraldHubErrorCode, message: string) {
    super(message);
    this.name = 'HeraldHubError';
    this.code = code;
  }
}
