import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { listen } from './net.js';

/**
 * A TCP proxy in front of a nats-server that can make a history read's messages arrive after
 * the answer to a question asked later: what the server does when its delivery of a consumer's
 * messages and its API answers travel through different queues, or what a client that gets
 * little CPU sees. It reads the server's side of the NATS protocol frame by frame.
 */
export interface NatsReorderProxy {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  /**
   * From now on, holds back what the server delivers to a history read's consumer (its
   * messages and pull statuses, in order) until the server has answered the next consumer-info
   * request about such a consumer; then sends that answer, then what was held, and stops.
   */
  holdReadsUntilInfo(): void;
  /**
   * From now on, holds back a history read's next pull request (`CONSUMER.MSG.NEXT`) until the
   * server has answered the read's consumer-info request and the read has pulled again; sends
   * both pulls then, and the messages the server delivers for them together, `messages` of them
   * in one write (as one chunk of a busy connection).
   */
  holdPullUntilRepull(messages: number): void;
  /** Frames held back so far. */
  held(): number;
  /** Drops every connection and stops listening. */
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
  /** Server bytes not yet parsed into frames. */
  pending: Buffer;
  /** Client text not yet searched (a request split across chunks). */
  tail: string;
  /** The reply subject of a consumer-info request about a read consumer, once asked. */
  infoReply: string | undefined;
  kept: Buffer[];
  /** Client bytes not yet parsed into frames (pull holding only). */
  sent: Buffer;
  /** The held pull request, until the read pulls again. */
  pull: Buffer | undefined;
  /** The info answer was forwarded: the next pull releases the held one. */
  answered: boolean;
}

const CRLF = Buffer.from('\r\n');

/** Starts a {@link NatsReorderProxy} on 127.0.0.1 in front of `port` on 127.0.0.1. */
export async function startNatsReorderProxy(port: number): Promise<NatsReorderProxy> {
  const links = new Set<Link>();
  let holding = false;
  let heldFrames = 0;
  // holdPullUntilRepull: 'pull' holds the next pull, 'batch' gathers deliveries.
  let pulling: 'pull' | 'batch' | undefined;
  let batchOf = 0;
  const batch: Buffer[] = [];

  const PULL = /^H?PUB \$JS\.API\.CONSUMER\.MSG\.NEXT\.\S+\.herald_read_/;
  const INFO = /^H?PUB \$JS\.API\.CONSUMER\.INFO\.\S+\.herald_read_\S+ (\S+) /;

  const fromClient = (link: Link, frame: Buffer, head: string): void => {
    if (pulling === 'pull') {
      if (PULL.test(head)) {
        if (link.pull === undefined && !link.answered) {
          link.pull = frame;
          heldFrames++;
          return;
        }
        if (link.pull !== undefined && link.answered) {
          // The read pulled again: both pulls now, and their deliveries gathered.
          pulling = 'batch';
          link.upstream.write(Buffer.concat([link.pull, frame]));
          link.pull = undefined;
          return;
        }
      }
      const asked = INFO.exec(head);
      if (asked !== null && link.pull !== undefined) link.infoReply = asked[1];
    }
    link.upstream.write(frame);
  };

  const forward = (link: Link, frame: Buffer, head: string): void => {
    if (pulling !== undefined) {
      const [op, subject, , reply] = head.split(' ');
      const isMsg = op === 'MSG' || op === 'HMSG';
      if (
        pulling === 'batch' &&
        isMsg &&
        reply?.startsWith('$JS.ACK.') &&
        reply.includes('.herald_read_')
      ) {
        batch.push(frame);
        heldFrames++;
        if (batch.length >= batchOf) {
          pulling = undefined;
          link.client.write(Buffer.concat(batch.splice(0)));
        }
        return;
      }
      link.client.write(frame);
      if (isMsg && link.infoReply !== undefined && subject === link.infoReply) link.answered = true;
      return;
    }
    if (!holding) {
      link.client.write(frame);
      return;
    }
    const [op, subject, , reply] = head.split(' ');
    const isMsg = op === 'MSG' || op === 'HMSG';
    const delivery = isMsg && reply?.startsWith('$JS.ACK.') && reply.includes('.herald_read_');
    // A pull's status: headers and no reply subject (`HMSG <subject> <sid> <hdr> <total>`).
    const status =
      op === 'HMSG' &&
      head.split(' ').length === 5 &&
      /^NATS\/1\.0 4\d\d/.test(frame.subarray(head.length + 2).toString('latin1'));
    if (delivery || status) {
      link.kept.push(frame);
      heldFrames++;
      return;
    }
    link.client.write(frame);
    if (isMsg && link.infoReply !== undefined && subject === link.infoReply) {
      // The answer went first: now what the consumer had delivered before it.
      holding = false;
      for (const l of links) for (const kept of l.kept.splice(0)) l.client.write(kept);
    }
  };

  const parse = (link: Link): void => {
    for (;;) {
      const end = link.pending.indexOf(CRLF);
      if (end < 0) return;
      const head = link.pending.subarray(0, end).toString('latin1');
      const parts = head.split(' ');
      let size = end + 2;
      if (parts[0] === 'MSG' || parts[0] === 'HMSG') {
        size += Number(parts[parts.length - 1]) + 2;
        if (link.pending.length < size) return;
      }
      const frame = link.pending.subarray(0, size);
      link.pending = link.pending.subarray(size);
      forward(link, Buffer.from(frame), head);
    }
  };

  const parseSent = (link: Link): void => {
    for (;;) {
      const end = link.sent.indexOf(CRLF);
      if (end < 0) return;
      const head = link.sent.subarray(0, end).toString('latin1');
      const parts = head.split(' ');
      let size = end + 2;
      if (parts[0] === 'PUB' || parts[0] === 'HPUB') {
        size += Number(parts[parts.length - 1]) + 2;
        if (link.sent.length < size) return;
      }
      const frame = Buffer.from(link.sent.subarray(0, size));
      link.sent = link.sent.subarray(size);
      fromClient(link, frame, head);
    }
  };

  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    const link: Link = {
      client,
      upstream,
      pending: Buffer.alloc(0),
      tail: '',
      infoReply: undefined,
      kept: [],
      sent: Buffer.alloc(0),
      pull: undefined,
      answered: false,
    };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (pulling !== undefined || link.sent.length > 0) {
        link.sent = Buffer.concat([link.sent, chunk]);
        parseSent(link);
        return;
      }
      if (holding && link.infoReply === undefined) {
        const text = link.tail + chunk.toString('latin1');
        const asked = /H?PUB \$JS\.API\.CONSUMER\.INFO\.\S+\.herald_read_\S+ (\S+) /.exec(text);
        if (asked !== null) link.infoReply = asked[1];
        link.tail = text.slice(-512);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      link.pending = Buffer.concat([link.pending, chunk]);
      parse(link);
    });
    const drop = (): void => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  const proxyPort = await listen(server);
  return {
    url: `nats://127.0.0.1:${proxyPort}`,
    holdReadsUntilInfo() {
      for (const link of links) {
        link.infoReply = undefined;
        link.tail = '';
      }
      holding = true;
    },
    holdPullUntilRepull(messages) {
      for (const link of links) {
        link.infoReply = undefined;
        link.pull = undefined;
        link.answered = false;
      }
      batchOf = messages;
      pulling = 'pull';
    },
    held() {
      return heldFrames;
    },
    async close() {
      for (const link of [...links]) {
        link.client.destroy();
        link.upstream.destroy();
      }
      const closed = once(server, 'close');
      server.close();
      await closed;
    },
  };
}
