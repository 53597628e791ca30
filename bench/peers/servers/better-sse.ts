/**
 * Peer "better-sse": better-sse's session + channel broadcast in a minimal node:http server.
 * `GET /sub` opens a session and registers it on the channel (after replaying the events after
 * `Last-Event-ID`, which better-sse leaves to the application), `POST /pub` broadcasts the body.
 * Data is written as given (identity serializer), so the bytes on the wire match the other peers'.
 */
import { createServer } from 'node:http';
import { createChannel, createSession } from 'better-sse';
import { History, listenAndAnnounce, readBody } from './common.js';

const channel = createChannel();
const history = new History();
const serializer = (data: unknown): string => String(data);

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sub')) {
    createSession(req, res, { serializer }).then(
      (session) => {
        for (const e of history.after(req.headers['last-event-id'])) {
          session.push(e.data, 'message', String(e.id));
        }
        channel.register(session);
      },
      () => res.destroy(),
    );
    return;
  }
  if (req.method === 'POST' && req.url === '/pub') {
    readBody(req).then((data) => {
      const id = history.add(data);
      channel.broadcast(data, 'message', { eventId: String(id) });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(String(id));
    });
    return;
  }
  res.writeHead(404);
  res.end();
});
listenAndAnnounce(server);
