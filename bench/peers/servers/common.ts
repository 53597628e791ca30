/**
 * What the minimal peer servers share: the port announcement the launcher waits for, request
 * body reading, and the history the servers without a hub keep for replay.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1 and a free port, then tells the launcher (`spawn.ts`) which. */
export function listenAndAnnounce(server: Server): void {
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

/** The whole request body as text. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The last events with numeric ids 1, 2, 3…, as a server without a hub keeps them to honour
 * `Last-Event-ID` (the storm scenario replays from it).
 */
export class History {
  #events: Array<{ id: number; data: string }> = [];
  #next = 1;
  readonly #limit: number;

  /** @param limit - events kept */
  constructor(limit = 1000) {
    this.#limit = limit;
  }

  /** Records an event and returns its id. */
  add(data: string): number {
    const id = this.#next++;
    this.#events.push({ id, data });
    if (this.#events.length > this.#limit * 2) this.#events = this.#events.slice(-this.#limit);
    return id;
  }

  /** The events after `lastEventId` (a header value; anything but a number means none). */
  after(lastEventId: string | string[] | undefined): Array<{ id: number; data: string }> {
    if (typeof lastEventId !== 'string' || !/^\d+$/.test(lastEventId)) return [];
    const after = Number(lastEventId);
    return this.#events.filter((e) => e.id > after);
  }
}
