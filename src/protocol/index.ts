/**
 * `herald/protocol`: the event-stream wire format, as the HTML standard defines it.
 * Pure functions, no I/O, no Node APIs: runs in Node, browsers and workers alike.
 * @packageDocumentation
 */
export { encodedDataLength, encodedLength, encodeEvent, encodeEventBytes } from './encode.js';
export { HeraldProtocolError, type HeraldProtocolErrorCode } from './errors.js';
export { createParser } from './parse.js';
export type {
  EventFields,
  EventStreamParser,
  ParsedEvent,
  ParserHandlers,
  ParserOptions,
} from './types.js';
