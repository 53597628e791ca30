/**
 * Peer "herald-embedded": Herald's hub inside a minimal node:http server, as an application
 * embeds it. `GET /sub` subscribes to `/bench` (with replay after `Last-Event-ID`), `POST /pub`
 * publishes the request body as the event's data.
 */
import { createServer } from 'node:http';
import { createHub } from '../../../src/index.js';
import { listenAndAnnounce, readBody } from './common.js';

const hub = createHub();
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/sub')) {
    hub.subscribe(req, res, { topics: ['/bench'] });
    return;
  }
  if (req.method === 'POST' && req.url === '/pub') {
    readBody(req)
      .then((data) => hub.publish({ topics: '/bench', data }))
      .then(
        ({ id }) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(id);
        },
        (error: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(error.message);
        },
      );
    return;
  }
  res.writeHead(404);
  res.end();
});
listenAndAnnounce(server);
