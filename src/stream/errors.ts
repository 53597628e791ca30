/** What went wrong when creating an event stream, machine-readable. */
export type HeraldStreamErrorCode =
  /** The response already sent its headers (or ended), so it cannot become an event stream. */
  | 'HEADERS_ALREADY_SENT'
  /** An option has a value the stream cannot use (a negative `heartbeatMs`, an unknown policy…). */
  | 'INVALID_OPTION'
  /** The arguments are not a request/response pair, an HTTP/2 stream, or a Fetch `Request`. */
  | 'INVALID_ARGUMENTS';

/**
 * The error `createEventStream` / `createEventStreamResponse` throw for misuse. It is thrown
 * before anything is written to the response, so the caller can still answer with an error.
 * Writing to a stream never throws this error: after close, writes return `false`.
 */
export class HeraldStreamError extends Error {
  /** Machine-readable kind of error. */
  readonly code: HeraldStreamErrorCode;
  /** The option that was rejected, when the error is about one option. */
  readonly option: string | undefined;

  /**
   * @param code - what kind of error this is
   * @param message - a sentence a person can act on
   * @param option - the offending option, when there is one
   */
  constructor(code: HeraldStreamErrorCode, message: string, option?: string) {
    super(message);
    this.name = 'HeraldStreamError';
    this.code = code;
    this.option = option;
  }
}
