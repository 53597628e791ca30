// A tiny append-only event journal, so an example's history survives a restart (or a crash).
// Shared by the ticker, chat, notifications and iot examples (logs needs none: the log file it
// follows is its journal).
//
// Herald's memory engine keeps history inside the process: kill the server and it is gone, and
// a page that reconnects with `Last-Event-ID` would be told about a gap (`herald.gap`). So an
// example writes every event to a JSON-lines file *before* publishing it, with the id it will
// carry, and on start publishes the file's events into the new hub again — with the same ids —
// before it accepts a connection. A page that comes back with `Last-Event-ID: <id>` finds that
// id in history again and is replayed exactly what it missed.
//
//   <DATA_DIR>/<name>.jsonl
//   {"epoch":"lq3k9a"}                                      ← first line: this journal's epoch
//   {"id":"lq3k9a.1","topics":["/quotes/AAPL"],"type":"quote","data":"{…}"}
//   {"id":"lq3k9a.2", …}
//
// Ids are `<epoch>.<sequence>`. The sequence continues across restarts; the epoch is drawn when
// the journal file is created, so if it is ever deleted, new ids never repeat old ones (an id
// must never name two different events: a page holding an old id would silently skip a new
// event with the same id, instead of being told about the gap).
//
// Writes are synchronous appends: once `append` returns, the line is in the operating system's
// hands and survives the process being killed (not a power cut: that would need fsync). The
// file stays bounded: it is rewritten with only the newest `keep` events when it grows past
// twice that.
//
// (With several hub nodes, or for real durability, use the Redis engine instead:
// `createHub({ engine: redisEngine(...) })` keeps history outside the process.)
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One published event, as stored: everything `hub.publish` needs to publish it again. */
export interface JournalEntry {
  /** The SSE id, `<journal epoch>.<sequence>`. */
  id: string;
  /** The topics (first canonical, others alternates). */
  topics: string[];
  /** The SSE event type. */
  type: string;
  /** The payload, already serialized (a string is published verbatim). */
  data: string;
  /** A Mercure private update (only authorized subscribers receive it). */
  private?: boolean;
}

/** The journal file's first line. */
interface Header {
  epoch: string;
}

/**
 * An append-only JSON-lines file of published events, bounded to the newest `keep` events.
 *
 * Ids are `<epoch>.<n>`: `n` counts up across restarts; the epoch is chosen when the file is
 * created, so if the file is deleted, new ids never repeat old ones.
 */
export class Journal {
  /**
   * The retained events, oldest first (at most `keep`): what the file held when it was opened —
   * replay these into the hub before accepting connections — then every event appended since.
   */
  readonly entries: JournalEntry[] = [];
  readonly #file: string;
  readonly #keep: number;
  readonly #epoch: string;
  #seq = 0;
  /** How many event lines the file holds now (rewritten past 2 × keep). */
  #lines = 0;

  /**
   * Opens (or creates) `<dir>/<name>.jsonl` and reads what it holds.
   *
   * @param keep - how many of the newest events to retain (match the hub's history size)
   */
  constructor(dir: string, name: string, keep: number) {
    mkdirSync(dir, { recursive: true });
    this.#file = join(dir, `${name}.jsonl`);
    this.#keep = keep;
    let lines: string[] = [];
    try {
      lines = readFileSync(this.#file, 'utf8').split('\n');
    } catch {
      // No journal yet: a fresh start.
    }
    // A missing or damaged header starts a new epoch.
    this.#epoch = parse<Header>(lines[0])?.epoch ?? Date.now().toString(36);
    for (const line of lines.slice(1)) {
      // An empty or torn last line (the process was killed mid-write): skip it.
      const entry = parse<JournalEntry>(line);
      if (typeof entry?.id === 'string') this.entries.push(entry);
    }
    // The sequence continues after the newest event's.
    const seq = Number(this.entries.at(-1)?.id.split('.').at(-1));
    if (Number.isSafeInteger(seq)) this.#seq = seq;
    this.#compact(); // starts the file, or trims it to `keep` events (and drops a torn line)
  }

  /**
   * Gives `event` the next id and appends it to the file (synchronously: once this returns, a
   * crash cannot lose it). Publish it to the hub, with that id, after this.
   */
  append(event: Omit<JournalEntry, 'id'>): JournalEntry {
    this.#seq += 1;
    const entry: JournalEntry = { id: `${this.#epoch}.${this.#seq}`, ...event };
    appendFileSync(this.#file, `${JSON.stringify(entry)}\n`);
    this.entries.push(entry);
    this.#lines += 1;
    if (this.entries.length > this.#keep) this.entries.shift();
    // Rewrite the file now and then so it stays about as small as the history it mirrors.
    if (this.#lines > 2 * this.#keep) this.#compact();
    return entry;
  }

  /** Rewrites the file with the header and the newest `keep` events (atomically: tmp + rename). */
  #compact(): void {
    this.entries.splice(0, Math.max(0, this.entries.length - this.#keep));
    const body = this.entries.map((entry) => `${JSON.stringify(entry)}\n`).join('');
    const header: Header = { epoch: this.#epoch };
    writeFileSync(`${this.#file}.tmp`, `${JSON.stringify(header)}\n${body}`);
    renameSync(`${this.#file}.tmp`, this.#file);
    this.#lines = this.entries.length;
  }
}

/** One JSON line, or `undefined` if it is empty or does not parse. */
function parse<T>(line: string | undefined): T | undefined {
  if (!line) return undefined;
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}
