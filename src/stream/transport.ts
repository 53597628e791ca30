/**
 * What the core of an event stream needs from whatever carries its bytes: a node:http response,
 * an HTTP/2 stream, a `ReadableStream` controller. One small object per transport keeps the
 * core free of HTTP details.
 * @internal
 */
export interface Transport {
  /**
   * Hands bytes to the transport; `false` means "stop until {@link TransportSink.drain}" (the
   * bytes were still accepted).
   */
  write(chunk: Uint8Array): boolean;
  /** Ends the response gracefully after what was written. */
  end(): void;
  /** Tears the response down at once (a slow client under the `'close'` overflow policy). */
  abort(): void;
  /** Bytes the transport holds that have not reached the operating system. */
  readonly writableLength: number;
  /**
   * Starts reporting to `sink`. Returns `false` when the transport is already gone (the client
   * left before the stream was created); the core then closes with reason `'client'`.
   */
  attach(sink: TransportSink): boolean;
  /** Stops reporting: removes what `attach` added that is safe to remove now. */
  detach(): void;
}

/** How a transport reports back to the core. @internal */
export interface TransportSink {
  /** The transport can take writes again. */
  drain(): void;
  /** The transport is gone: the client left, or a graceful end completed. */
  gone(reason: 'client' | 'error'): void;
}
