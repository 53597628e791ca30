/**
 * Peer "naive": the seed-style server most SSE tutorials show — Express, an array of open
 * responses, and a `res.write` loop per event. `GET /sub` replays what followed
 * `Last-Event-ID` and joins the array, `POST /pub` writes the body to every response.
 */
import { createServer } from 'node:http';
import type { Response } from 'express';
import express from 'express';
import { History, listenAndAnnounce } from './common.js';

const clients: Response[] = [];
const history = new History();
const app = express();

app.get('/sub', (req, res) => {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.flushHeaders();
  for (const e of history.after(req.headers['last-event-id'])) {
    res.write(`id: ${e.id}\ndata: ${e.data}\n\n`);
  }
  clients.push(res);
  req.on('close', () => {
    const i = clients.indexOf(res);
    if (i !== -1) clients.splice(i, 1);
  });
});

app.post('/pub', express.text({ type: '*/*' }), (req, res) => {
  const data = String(req.body);
  const id = history.add(data);
  const message = `id: ${id}\ndata: ${data}\n\n`;
  for (const client of clients) client.write(message);
  res.type('text/plain').send(String(id));
});

listenAndAnnounce(createServer(app));
