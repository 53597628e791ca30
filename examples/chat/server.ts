// Herald example: a chat with rooms and private direct messages.
//
//   npm run example:chat          → http://127.0.0.1:3002
//
// - Sign in with a name: the server answers a JWT (HS256) carrying a Mercure-style claim,
//   `{ mercure: { subscribe: ['/chat/users/<you>/inbox'] } }`: the private topics you may read.
// - Receive: one SSE stream per page, `GET /events?topic=…` with `Authorization: Bearer <jwt>`,
//   as a Mercure hub takes it (the page uses `subscribeHub` from herald/client). The page
//   subscribes to `/chat/rooms/{room}` (a URI template: every room), `/chat/presence` and its
//   own inbox. On join it gets the last messages of each room (`replayLast`).
// - Send: `POST /api/messages` with the same token. A room message goes to the room's topic; a
//   direct message is a *private update* to both people's inbox topics: the hub delivers it
//   only to subscribers whose token authorizes one of those topics, whatever they subscribe to.
//
// Environment: PORT (3002), HOST (127.0.0.1), DATA_DIR (journal and signing secret; default a
// folder in the OS temp dir), JWT_SECRET (default: generated once, kept in DATA_DIR).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jwtVerify, SignJWT } from 'jose';
import { createHub } from '../../src/index.js';
// The journal that lets the hub's history survive a restart: ../_shared/journal.ts.
import { Journal, type JournalEntry } from '../_shared/journal.js';
// Serves public/ and the herald/client bundle (built in memory): ../_shared/static.ts.
import { staticFiles } from '../_shared/static.js';

const PORT = Number(process.env.PORT ?? 3002);
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? join(tmpdir(), 'herald-example-chat');
const HISTORY = 5000;
/** Messages of each room (and of your inbox) a page gets when it joins. */
const HISTORY_ON_JOIN = 50;
const ROOMS = ['general', 'random', 'help'];

const roomTopic = (room: string): string => `/chat/rooms/${room}`;
const inboxTopic = (user: string): string => `/chat/users/${user}/inbox`;
const PRESENCE_TOPIC = '/chat/presence';

// 1. The hub, and the journal (../_shared/journal.ts) that lets its history survive a restart.
const hub = createHub({ history: { maxEvents: HISTORY } });
const journal = new Journal(DATA_DIR, 'chat', HISTORY);
for (const entry of journal.entries) await hub.publish(entry);

/** Journals an event, then publishes it with the journal's id. */
async function publish(event: Omit<JournalEntry, 'id'>): Promise<string> {
  const entry = journal.append(event);
  await hub.publish(entry);
  return entry.id;
}

// 2. Tokens. The secret must outlive a restart, or every signed-in page would get a 401.
const secret = new TextEncoder().encode(process.env.JWT_SECRET ?? loadSecret());
function loadSecret(): string {
  const file = join(DATA_DIR, 'chat-secret');
  try {
    return readFileSync(file, 'utf8');
  } catch {
    const generated = randomBytes(32).toString('hex');
    writeFileSync(file, generated, { mode: 0o600 });
    return generated;
  }
}

/** Signs a token for `user`: who they are (`sub`) and which private topics they may read. */
function signToken(user: string): Promise<string> {
  return new SignJWT({ mercure: { subscribe: [inboxTopic(user)], payload: { user } } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime('24h')
    .sign(secret);
}

/** The user and their `mercure.subscribe` selectors, from `Authorization: Bearer <jwt>`. */
async function authenticate(
  req: IncomingMessage,
): Promise<{ user: string; authorized: string[] } | undefined> {
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (match === null) return undefined;
  try {
    // Only HS256 with our secret: `alg: none` or another algorithm is refused.
    const { payload } = await jwtVerify(match[1]!, secret, { algorithms: ['HS256'] });
    const mercure = payload.mercure as { subscribe?: string[] } | undefined;
    if (typeof payload.sub !== 'string') return undefined;
    return { user: payload.sub, authorized: mercure?.subscribe ?? [] };
  } catch {
    return undefined;
  }
}

// 3. Presence: who has a page open, published whenever it changes.
const online = new Map<string, number>();
function presenceChanged(): void {
  const users = [...online.keys()].sort();
  publish({
    topics: [PRESENCE_TOPIC],
    type: 'presence',
    data: JSON.stringify({ online: users }),
  }).catch(
    () => {}, // the hub is closing
  );
}

// 4. HTTP.
const serveStatic = await staticFiles(fileURLToPath(new URL('./public', import.meta.url)));

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('body too large');
  }
  const value: unknown = JSON.parse(body);
  if (typeof value !== 'object' || value === null) throw new Error('not an object');
  return value as Record<string, unknown>;
}

const NAME = /^[a-z][a-z0-9_-]{0,19}$/;

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (url.pathname === '/api/login' && req.method === 'POST') {
      // A demo sign-in: any free-form name. A real app authenticates the user first, then
      // mints the same kind of token.
      const name = String((await readJson(req)).name ?? '')
        .trim()
        .toLowerCase();
      if (!NAME.test(name)) {
        json(res, 400, {
          error: 'a name is 1–20 letters, digits, "_" or "-", starting with a letter',
        });
        return;
      }
      json(res, 200, { name, token: await signToken(name), rooms: ROOMS });
      return;
    }

    if (url.pathname === '/events') {
      const identity = await authenticate(req);
      if (identity === undefined) {
        json(res, 401, {
          error: 'sign in first: send Authorization: Bearer <token from /api/login>',
        });
        return;
      }
      const topics = url.searchParams.getAll('topic');
      if (topics.length === 0 || topics.length > 10) {
        json(res, 400, { error: 'subscribe with 1 to 10 ?topic= selectors' });
        return;
      }
      // Any topic may be asked for; private updates only reach this page if its token's
      // `mercure.subscribe` selectors (`authorized`) match one of their topics.
      online.set(identity.user, (online.get(identity.user) ?? 0) + 1);
      hub.subscribe(req, res, {
        topics,
        authorized: identity.authorized,
        replayLast: HISTORY_ON_JOIN,
        onClose: () => {
          const left = (online.get(identity.user) ?? 1) - 1;
          if (left > 0) online.set(identity.user, left);
          else online.delete(identity.user);
          if (left === 0) presenceChanged();
        },
      });
      if (online.get(identity.user) === 1) presenceChanged();
      return;
    }

    if (url.pathname === '/api/messages' && req.method === 'POST') {
      const identity = await authenticate(req);
      if (identity === undefined) {
        json(res, 401, {
          error: 'sign in first: send Authorization: Bearer <token from /api/login>',
        });
        return;
      }
      const body = await readJson(req);
      const text = String(body.text ?? '').trim();
      if (text === '' || text.length > 1000) {
        json(res, 400, { error: 'text must be 1 to 1000 characters' });
        return;
      }
      const from = identity.user; // from the token, never from the body
      const time = Date.now();
      if (typeof body.room === 'string' && ROOMS.includes(body.room)) {
        const id = await publish({
          topics: [roomTopic(body.room)],
          type: 'message',
          data: JSON.stringify({ room: body.room, from, text, time }),
        });
        json(res, 200, { id });
        return;
      }
      if (typeof body.to === 'string' && NAME.test(body.to)) {
        // A private update to both inboxes: the first topic is canonical, the second an
        // alternate, so the recipient and the sender's other tabs both receive it.
        const id = await publish({
          topics: [inboxTopic(body.to), inboxTopic(from)],
          type: 'direct',
          private: true,
          data: JSON.stringify({ from, to: body.to, text, time }),
        });
        json(res, 200, { id });
        return;
      }
      json(res, 400, { error: `send to a "room" (${ROOMS.join(', ')}) or "to" a user name` });
      return;
    }

    if (url.pathname === '/debug/published') {
      // The ids this server has published (history included), for the end-to-end test.
      json(
        res,
        200,
        journal.entries.map((e) => ({ id: e.id, topics: e.topics, private: e.private === true })),
      );
      return;
    }
    if (await serveStatic(req, res)) return;
    json(res, 404, { error: `nothing at ${req.method} ${url.pathname}` });
  } catch (error) {
    if (!res.headersSent) json(res, 400, { error: `bad request: ${(error as Error).message}` });
  }
});

server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${PORT}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await hub.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
