// Follows a growing file, like `tail -f`, and hands over its new lines in batches.
//
// Every line is known by its byte offset in the file. A batch says where it starts (`from`) and
// where it ends (`to`, just past its last newline); the server uses `to` as the event id, so a
// page's `Last-Event-ID` is simply "the byte I have read up to" — the most natural resume point
// a log can have.
//
// Memory stays bounded however fast the file grows: we read at most `maxBatchBytes` at a time
// and wait for the batch to be published before reading on. Whatever we have not read yet waits
// on disk — the file *is* the buffer.
import { type FileHandle, open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** One line and the byte offset where it starts in the file. */
export type Line = [offset: number, text: string];

/** Consecutive complete lines of the file: bytes `[from, to)`. */
export interface LineBatch {
  /** Byte offset of the first line. */
  from: number;
  /** Byte offset just past the last line's newline (where the next batch starts). */
  to: number;
  /** The lines, without their line breaks. */
  lines: Line[];
}

/** Options of {@link tailFile}. */
export interface TailOptions {
  /** The file to follow. */
  path: string;
  /** Where to start reading: a byte offset at the start of a line. */
  from: number;
  /** Called with every batch, in order; the next read waits until its promise settles. */
  onBatch: (batch: LineBatch) => Promise<void>;
  /** Called if the file becomes shorter than what was read (truncated or replaced); the tail stops. */
  onTruncated: (size: number, offset: number) => void;
  /** Called when reading fails; the tail stops. */
  onError: (error: unknown) => void;
  /** Most bytes read (and so published as one event) at a time. Default 64 KiB. */
  maxBatchBytes?: number;
  /** How often to look at the file's size when there is nothing new. Default 100 ms. */
  pollMs?: number;
}

/** A running tail. */
export interface Tail {
  /** Offset of the next byte to read: everything before it has been handed to `onBatch`. */
  readonly offset: number;
  /** Stops following the file; resolves once the current read has finished. */
  stop(): Promise<void>;
}

const LF = 0x0a;

/**
 * Splits `bytes` (which start at file offset `base`) into lines. Only lines that end with a
 * newline are complete; the rest is left for the next read — unless `force` is set (a single
 * line longer than a whole batch), then it is cut where the buffer ends.
 *
 * @returns the complete lines and the number of bytes they span
 */
export function splitLines(
  bytes: Uint8Array,
  base: number,
  force = false,
): { lines: Line[]; length: number } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lines: Line[] = [];
  let start = 0;
  for (let nl = buffer.indexOf(LF); nl !== -1; nl = buffer.indexOf(LF, start)) {
    // Cutting at a newline byte never splits a UTF-8 character (its bytes are all ≥ 0x80).
    lines.push([base + start, buffer.toString('utf8', start, nl).replace(/\r$/, '')]);
    start = nl + 1;
  }
  if (force && start < buffer.length) {
    lines.push([base + start, buffer.toString('utf8', start)]);
    start = buffer.length;
  }
  return { lines, length: start };
}

/**
 * Reads the last complete lines of `path` (at most `maxLines`, from its last `maxBytes`), to
 * rebuild history when the server starts.
 *
 * @returns the lines and `end`, the offset just past the last complete line (where to start
 *   following the file)
 */
export async function readLastLines(
  path: string,
  maxBytes: number,
  maxLines: number,
): Promise<{ lines: Line[]; end: number }> {
  const { size } = await stat(path);
  const start = Math.max(0, size - maxBytes);
  const file = await open(path, 'r');
  try {
    const bytes = Buffer.alloc(size - start);
    const { bytesRead } = await file.read(bytes, 0, bytes.length, start);
    let skip = 0;
    if (start > 0) {
      // We probably landed in the middle of a line: skip to the start of the next one.
      skip = bytes.indexOf(LF) + 1;
      if (skip === 0) return { lines: [], end: size };
    }
    const { lines, length } = splitLines(bytes.subarray(skip, bytesRead), start + skip);
    return { lines: lines.slice(-maxLines), end: start + skip + length };
  } finally {
    await file.close();
  }
}

/** Follows `path` from `options.from`, handing every new complete line to `onBatch`. */
export function tailFile(options: TailOptions): Tail {
  const { path, onBatch, maxBatchBytes = 64 * 1024, pollMs = 100 } = options;
  let offset = options.from;
  let stopped = false;
  const wake = new AbortController();

  const loop = async (): Promise<void> => {
    let file: FileHandle | undefined;
    const buffer = Buffer.alloc(maxBatchBytes);
    try {
      file = await open(path, 'r');
      while (!stopped) {
        // By path, not by handle: a file replaced under the same name is noticed too.
        const { size } = await stat(path);
        if (size < offset) {
          options.onTruncated(size, offset);
          return;
        }
        const available = Math.min(size - offset, maxBatchBytes);
        const { bytesRead } =
          available > 0 ? await file.read(buffer, 0, available, offset) : { bytesRead: 0 };
        const { lines, length } = splitLines(
          buffer.subarray(0, bytesRead),
          offset,
          bytesRead === maxBatchBytes, // one line longer than a whole batch: cut it
        );
        if (length === 0) {
          // Nothing new, or only half a line so far: look again in a moment.
          await sleep(pollMs, undefined, { signal: wake.signal }).catch(() => {});
          continue;
        }
        // Publish, *then* move on: a fast writer waits on disk, not in our memory.
        await onBatch({ from: offset, to: offset + length, lines });
        offset += length;
      }
    } catch (error) {
      if (!stopped) options.onError(error);
    } finally {
      await file?.close();
    }
  };

  const running = loop();
  return {
    get offset() {
      return offset;
    },
    async stop() {
      stopped = true;
      wake.abort();
      await running;
    },
  };
}
