import type { EngineEvent } from '../engines/engine.js';

/** One cached encoding, with the fields it was made from (to check a hit really is that event). */
interface Entry {
  readonly id: string;
  readonly type: string | undefined;
  readonly retry: number | undefined;
  readonly data: string;
  readonly bytes: Uint8Array;
  readonly weight: number;
}

/**
 * The encoded bytes of recently replayed events, by engine position, bounded by bytes (least
 * recently used out first).
 *
 * Engines that read history from a store (Redis, NATS) hand every reader its own copy of an
 * event; without this cache each replaying subscriber would hold its own encoding of the same
 * history in its stream buffers. With it, concurrent replays of the same events share one
 * `Uint8Array`, as live delivery does. A hit must match the event's id, type, retry and data,
 * so a position reused by another event (a NATS stream deleted and created again) is never
 * served stale bytes.
 * @internal
 */
export class EncodedCache {
  readonly #capacity: number;
  readonly #entries = new Map<string, Entry>();
  #weight = 0;

  /** @param capacity - most bytes held (encodings and the data they were made from); 0 = off */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** The bytes cached for `event`, if any. */
  get(event: EngineEvent): Uint8Array | undefined {
    const entry = this.#entries.get(event.position);
    if (
      entry === undefined ||
      entry.id !== event.id ||
      entry.type !== event.type ||
      entry.retry !== event.retry ||
      entry.data !== event.data
    ) {
      return undefined;
    }
    // Most recently used last.
    this.#entries.delete(event.position);
    this.#entries.set(event.position, entry);
    return entry.bytes;
  }

  /** Caches the encoding of `event`; evicts the least recently used beyond the capacity. */
  set(event: EngineEvent, bytes: Uint8Array): void {
    // The data string stays alive with the entry: count it with the bytes (V8 keeps text that
    // fits Latin-1 at a byte per character; other text takes two, and its encoding more).
    const weight = bytes.byteLength + event.data.length;
    if (weight > this.#capacity) return;
    const old = this.#entries.get(event.position);
    if (old !== undefined) {
      this.#entries.delete(event.position);
      this.#weight -= old.weight;
    }
    const { id, type, retry, data } = event;
    this.#entries.set(event.position, { id, type, retry, data, bytes, weight });
    this.#weight += weight;
    for (const [position, entry] of this.#entries) {
      if (this.#weight <= this.#capacity) break;
      this.#entries.delete(position);
      this.#weight -= entry.weight;
    }
  }

  /** Bytes held. */
  get weight(): number {
    return this.#weight;
  }

  /** Drops everything. */
  clear(): void {
    this.#entries.clear();
    this.#weight = 0;
  }
}
