import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

/** A TCP port that was free a moment ago on 127.0.0.1 (listen on port 0 when you can). */
export async function getFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Something `listen`able: node:net, node:http, node:https and node:http2 servers. */
export type ListeningServer = Server;

/** Starts `server` on 127.0.0.1 and a free port; resolves with the port. */
export async function listen(server: ListeningServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/**
 * Closes `server` and every connection it still has (open event streams never end by
 * themselves), resolving once it is closed.
 */
export async function closeServer(server: ListeningServer): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  const withConnections = server as Server & { closeAllConnections?: () => void };
  withConnections.closeAllConnections?.();
  await closed;
}

/**
 * Remembers every socket `server` accepts so `destroyAll()` can drop them (for http2 and TLS
 * servers, which have no `closeAllConnections`).
 */
export function trackSockets(server: ListeningServer): { destroyAll(): void } {
  const sockets = new Set<Socket>();
  const add = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  server.on('connection', add);
  return {
    destroyAll() {
      for (const socket of sockets) socket.destroy();
    },
  };
}
