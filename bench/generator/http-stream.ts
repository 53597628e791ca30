/**
 * A minimal HTTP/1.1 client for one long-lived GET, for the load generator: a raw TCP socket,
 * the request written by hand, the status line and headers read once, then the body handed on
 * as slices of the socket's own buffers — de-chunked when the server uses chunked transfer
 * coding (every peer does), without copying.
 *
 * node:http's client costs a parser callback, an IncomingMessage and a Readable 'data' event for
 * every read; with thousands of streams on two shared cores that was as much CPU as the server
 * under test spent. This does only what the bench needs and fails loudly on anything else.
 */
import { connect, type Socket } from 'node:net';

const CR = 0x0d;
const LF = 0x0a;

/** What {@link openStream} reports. */
export interface StreamHandlers {
  /** The status line and headers arrived; `status` is the code. */
  onResponse(status: number): void;
  /** A piece of the (de-chunked) body; `chunk` is only valid during the call. */
  onBody(chunk: Uint8Array): void;
  /** The stream ended or failed (`error` set when it did not end cleanly). Called once. */
  onClose(error: Error | undefined): void;
}

/** Where and what to GET. */
export interface StreamRequest {
  port: number;
  path: string;
  headers: Record<string, string>;
  localAddress: string | undefined;
}

// Body decoding states.
const HEAD = 0;
const SIZE = 1; // reading a chunk-size line
const DATA = 2; // inside chunk data
const DATA_END = 3; // the CRLF after chunk data
const RAW = 4; // no chunked coding: the body runs until the connection closes
const DONE = 5;

/** Opens `GET path` on 127.0.0.1 and reports through `handlers`; returns the socket. */
export function openStream(request: StreamRequest, handlers: StreamHandlers): Socket {
  const socket = connect({
    host: '127.0.0.1',
    port: request.port,
    localAddress: request.localAddress,
    noDelay: true,
  });
  let head = '';
  let state = HEAD;
  let remaining = 0; // bytes left in the current chunk (DATA) or of its CRLF (DATA_END)
  let size = 0;
  let extension = false;
  let closed = false;
  const close = (error: Error | undefined): void => {
    if (closed) return;
    closed = true;
    handlers.onClose(error);
  };
  const fail = (message: string): void => {
    close(new Error(message));
    socket.destroy();
  };

  let text = `GET ${request.path} HTTP/1.1\r\nHost: 127.0.0.1:${request.port}\r\n`;
  const headers = { accept: 'text/event-stream', connection: 'keep-alive', ...request.headers };
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  socket.write(`${text}\r\n`);

  socket.on('data', (buffer: Buffer) => {
    let pos = 0;
    const length = buffer.length;
    if (state === HEAD) {
      // Headers are small and come in the first packet or two: text is fine here.
      head += buffer.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > 65536) fail('response headers larger than 64 KiB');
        return;
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head.slice(0, end + 2));
      pos = length - (head.length - (end + 4));
      head = '';
      state = chunked ? SIZE : RAW;
      handlers.onResponse(status);
      if (closed) return;
    }
    while (pos < length && !closed) {
      if (state === DATA) {
        const take = Math.min(remaining, length - pos);
        handlers.onBody(buffer.subarray(pos, pos + take));
        pos += take;
        remaining -= take;
        if (remaining === 0) {
          state = DATA_END;
          remaining = 2;
        }
      } else if (state === SIZE) {
        const byte = buffer[pos++]!;
        if (byte === LF) {
          if (size === 0) {
            state = DONE; // the last chunk: the response is complete
            close(undefined);
            socket.destroy();
            return;
          }
          state = DATA;
          remaining = size;
          size = 0;
          extension = false;
        } else if (byte !== CR && !extension) {
          const digit = hexValue(byte);
          // Anything after the hex digits is a chunk extension (";name=value"): ignored.
          if (digit === -1) extension = true;
          else size = size * 16 + digit;
        }
      } else if (state === DATA_END) {
        pos++;
        if (--remaining === 0) state = SIZE;
      } else if (state === RAW) {
        handlers.onBody(buffer.subarray(pos));
        pos = length;
      } else {
        return; // DONE
      }
    }
  });
  socket.on('error', (error) => close(error));
  socket.on('close', () =>
    close(state === DONE || state === RAW ? undefined : new Error('the connection closed')),
  );
  return socket;
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
