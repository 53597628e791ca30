/** What went wrong, machine-readable. */
export type HeraldProtocolErrorCode =
  /** A field value that would break the wire format (a line break in `id`, a bad `retry`, …). */
  | 'INVALID_FIELD'
  /** An incoming event (or a single line) grew past the parser's `maxEventBytes`. */
  | 'EVENT_TOO_LARGE';

/**
 * The one error type of `herald/protocol`. `code` says what kind of problem it is and `field`
 * names the offending field (`id`, `event`, `retry`, `data`, `comment`) when there is one.
 */
export class HeraldProtocolError extends Error {
  /** Machine-readable kind of error. */
  declare readonly code: HeraldProtocolErrorCode;
  /** The event field that was rejected, if the error is about one field. */
  declare readonly field: string | undefined;

  /**
   * @param code - what kind of error this is
   * @param message - a sentence a person can act on
   * @param field - the offending field, when there is one
   */
  constructor(code: HeraldProtocolErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'HeraldProtocolError';
    this.code = code;
    this.field = field;
  }
}
