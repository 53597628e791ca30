// A subscriber that stops reading: it sends its GET on a raw socket, reads the response head,
// then never reads again. The kernel buffers fill, then the hub's queue for it, and the hub's
// overflow policy must close it without slowing anyone else down.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/**
 * Opens a stalled subscription to `topics` (resuming after `lastEventId` when given, e.g.
 * `earliest` for a whole-history replay); resolves once the hub answered 200.
 */
export async function stalledSubscriber(
  url: string,
  topics: readonly string[],
  lastEventId?: string,
): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
  if (lastEventId !== undefined) query += `&lastEventID=${encodeURIComponent(lastEventId)}`;
  socket.write(
    `GET /.well-known/mercure?${query} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`,
  );
  const [head] = (await once(socket, 'data')) as [Buffer];
  // From here on nothing is read: the socket is paused and its receive buffer fills up.
  socket.pause();
  socket.on('error', () => {});
  if (!head.toString('latin1').startsWith('HTTP/1.1 200')) {
    socket.destroy();
    throw new Error(
      `a stalled subscriber was refused: ${head.toString('latin1').split('\r\n')[0]}`,
    );
  }
  return socket;
}
