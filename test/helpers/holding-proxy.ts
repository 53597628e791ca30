import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { listen } from './net.js';

/**
 * A TCP proxy in front of a server that can hold back the server's answers on the connections
 * that sent a given request — a stuck reply, as a slow network or a huge reply would make it —
 * while every other connection goes on as usual.
 */
export interface HoldingProxy {
  /** The port to connect to instead of the server's. */
  readonly port: number;
  /**
   * From now on, a connection whose requests contain `marker` gets nothing more from the server
   * (what arrives is kept, in order) until {@link HoldingProxy.release}.
   */
  holdAfter(marker: string): void;
  /** Connections held, and bytes of answers kept back on them. */
  held(): { connections: number; bytes: number };
  /** Sends what was kept back and stops holding. */
  release(): void;
  /** Drops every connection and stops listening. */
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
  /** The end of the previous request chunk, so a marker split across chunks is found. */
  tail: string;
  holding: boolean;
  kept: Buffer[];
}

/** Starts a {@link HoldingProxy} on 127.0.0.1 in front of `port` on 127.0.0.1. */
export async function startHoldingProxy(port: number): Promise<HoldingProxy> {
  const links = new Set<Link>();
  let marker: string | undefined;
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    const link: Link = { client, upstream, tail: '', holding: false, kept: [] };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (marker !== undefined && !link.holding) {
        const text = link.tail + chunk.toString('latin1');
        if (text.includes(marker)) link.holding = true;
        link.tail = text.slice(-marker.length);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (link.holding) link.kept.push(chunk);
      else client.write(chunk);
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
    port: proxyPort,
    holdAfter(m) {
      marker = m;
    },
    held() {
      let connections = 0;
      let bytes = 0;
      for (const link of links) {
        if (!link.holding) continue;
        connections++;
        for (const chunk of link.kept) bytes += chunk.length;
      }
      return { connections, bytes };
    },
    release() {
      marker = undefined;
      for (const link of links) {
        link.holding = false;
        for (const chunk of link.kept.splice(0)) link.client.write(chunk);
      }
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
