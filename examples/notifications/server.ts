// Herald example: in-app notifications with a badge counter.
//
//   npm run example:notifications → http://127.0.0.1:3003
//
// - Each user has their own topic, `/users/<user>/notifications`, and everyone shares
//   `/broadcast`. The page does not choose topics: the server reads who you are from your
//   session cookie and subscribes you to *your* topic. (Compare with the chat example, where the
//   page chooses topics and a JWT authorizes private ones.)
// - Notifications are typed with the SSE `event:` field — `info`, `alert`, `order` — so the page
//   handles each with `source.addEventListener('alert', …)` on Herald's `EventSource`, a
//   drop-in for the browser's own.
// - The server simulates activity for a few demo users; the page can also send you one.
//
// Environment: PORT (3003), HOST (127.0.0.1), DATA_DIR (journal and cookie secret; default a
// folder in the OS temp dir), NOTIFY_MS (pace of simulated notifications; 4000).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHub } from '../../src/index.js';
// The journal that lets the hub's history survive a restart: ../_shared/journal.ts.
import { Journal, type JournalEntry } from '../_shared/journal.js';
// Serves public/ and the herald/client bundle (built in memory): ../_shared/static.ts.
import { staticFiles } from '../_shared/static.js';

const PORT = Number(process.env.PORT ?? 3003);
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? join(tmpdir(), 'herald-example-notifications');
const NOTIFY_MS = Number(process.env.NOTIFY_MS ?? 4000);
const HISTORY = 2000;
/** Notifications of each topic a page gets when it opens. */
const RECENT = 20;

const USERS = [
  { id: 'alice', name: 'Alice Martin' },
  { id: 'bob', name: 'Bob Okafor' },
  { id: 'carol', name: 'Carol Nguyen' },
];
const TYPES = ['info', 'alert', 'order'] as const;
type NotificationType = (typeof TYPES)[number];

/** What every notification carries (as JSON); the type is the SSE event type. */
interface Notification {
  title: string;
  body: string;
  time: number;
}

const userTopic = (user: string): string => `/users/${user}/notifications`;
const BROADCAST = '/broadcast';

// 1. The hub, and the journal (../_shared/journal.ts) that lets its history survive a restart.
const hub = createHub({ history: { maxEvents: HISTORY } });
const journal = new Journal(DATA_DIR, 'notifications', HISTORY);
for (const entry of journal.entries) await hub.publish(entry);

async function notify(topic: string, type: NotificationType, n: Omit<Notification, 'time'>) {
  const event: Omit<JournalEntry, 'id'> = {
    topics: [topic],
    type,
    data: JSON.stringify({ ...n, time: Date.now() }),
  };
  // Journal first (a crash after this line loses nothing), then publish with the same id.
  await hub.publish(journal.append(event));
}

// 2. Simulated activity: something happens to someone every NOTIFY_MS.
const orderNo = (): number => 1000 + Math.floor(Math.random() * 9000);
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
const SIMULATED: Record<NotificationType, Array<() => Omit<Notification, 'time'>>> = {
  info: [
    () => ({
      title: 'New follower',
      body: `${pick(['Ada', 'Linus', 'Grace', 'Ken'])} started following you.`,
    }),
    () => ({ title: 'Weekly report ready', body: 'Your summary for this week is ready to view.' }),
    () => ({ title: 'Comment on your post', body: '“Great write-up, thanks for sharing!”' }),
  ],
  alert: [
    () => ({
      title: 'New sign-in',
      body: `Signed in from ${pick(['Firefox on Linux', 'Safari on iPhone', 'Chrome on Windows'])}. Was it you?`,
    }),
    () => ({ title: 'Payment failed', body: 'We could not charge your card ending in 4242.' }),
    () => ({ title: 'Storage almost full', body: 'You have used 92% of your storage.' }),
  ],
  order: [
    () => ({
      title: `Order #${orderNo()} confirmed`,
      body: 'Thanks! We are preparing your package.',
    }),
    () => ({
      title: `Order #${orderNo()} shipped`,
      body: 'Your package is on its way. Estimated delivery: 2 days.',
    }),
    () => ({
      title: `Order #${orderNo()} delivered`,
      body: 'Your package was left at the front door.',
    }),
  ],
};
const BROADCASTS = [
  {
    title: 'Scheduled maintenance',
    body: 'The shop is read-only tonight from 02:00 to 02:30 UTC.',
  },
  { title: 'New: dark mode', body: 'Switch it on in Settings → Appearance.' },
  { title: 'Holiday hours', body: 'Support answers within 48 hours until Monday.' },
];
const timer = setInterval(() => {
  // Now and then something for everyone (on /broadcast), usually something for one user.
  if (Math.random() < 0.05) {
    notify(BROADCAST, 'info', pick(BROADCASTS)).catch((error: unknown) => console.error(error));
    return;
  }
  const type = pick(TYPES);
  notify(userTopic(pick(USERS).id), type, pick(SIMULATED[type])()).catch((error: unknown) =>
    console.error(error),
  );
}, NOTIFY_MS);

// 3. Sessions: a cookie `session=<user>.<hmac>` the server signed, so a page cannot claim to be
// someone else by editing it. The secret outlives a restart, or every page would be logged out.
const secret = loadSecret();
function loadSecret(): string {
  const file = join(DATA_DIR, 'notifications-secret');
  try {
    return readFileSync(file, 'utf8');
  } catch {
    const generated = randomBytes(32).toString('hex');
    writeFileSync(file, generated, { mode: 0o600 });
    return generated;
  }
}
const sign = (user: string): string =>
  createHmac('sha256', secret).update(user).digest('base64url');

function sessionUser(req: IncomingMessage): string | undefined {
  const cookie = /(?:^|;\s*)session=([a-z]+)\.([\w-]+)/.exec(req.headers.cookie ?? '');
  if (cookie === null) return undefined;
  const [, user, mac] = cookie as unknown as [string, string, string];
  const expected = Buffer.from(sign(user));
  const given = Buffer.from(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  return USERS.some((u) => u.id === user) ? user : undefined;
}

// 4. HTTP.
const serveStatic = await staticFiles(fileURLToPath(new URL('./public', import.meta.url)));

function json(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
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

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (url.pathname === '/api/session' && req.method === 'POST') {
      // A demo sign-in: pick one of the demo users. A real app sets its session after a login.
      const user = String((await readJson(req)).user ?? '');
      if (!USERS.some((u) => u.id === user)) {
        json(res, 400, { error: `user must be one of ${USERS.map((u) => u.id).join(', ')}` });
        return;
      }
      json(
        res,
        200,
        { user },
        {
          'set-cookie': `session=${user}.${sign(user)}; Path=/; HttpOnly; SameSite=Lax`,
        },
      );
      return;
    }
    if (url.pathname === '/api/me') {
      json(res, 200, { user: sessionUser(req) ?? null, users: USERS });
      return;
    }

    if (url.pathname === '/events') {
      const user = sessionUser(req);
      if (user === undefined) {
        json(res, 401, { error: 'no session: POST /api/session first' });
        return;
      }
      // The server picks the topics: yours and the broadcast one. The hub replays what the page
      // missed after its Last-Event-ID (EventSource sends it when it reconnects), or the newest
      // notifications of each topic on a fresh page load.
      hub.subscribe(req, res, {
        topics: [userTopic(user), BROADCAST],
        replayLast: RECENT,
        // Reconnect after 1 s (instead of EventSource's default 3 s) if the connection drops.
        stream: { retry: 1000 },
      });
      return;
    }

    if (url.pathname === '/api/notify' && req.method === 'POST') {
      // "Send me a test notification", from the page: to the signed-in user only.
      const user = sessionUser(req);
      if (user === undefined) {
        json(res, 401, { error: 'no session: POST /api/session first' });
        return;
      }
      const type = String((await readJson(req)).type ?? '') as NotificationType;
      if (!TYPES.includes(type)) {
        json(res, 400, { error: `type must be one of ${TYPES.join(', ')}` });
        return;
      }
      await notify(userTopic(user), type, pick(SIMULATED[type])());
      json(res, 200, { ok: true });
      return;
    }

    if (url.pathname === '/debug/published') {
      // The ids this server has published (history included), for the end-to-end test.
      json(
        res,
        200,
        journal.entries.map((e) => ({ id: e.id, topics: e.topics, type: e.type })),
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
    clearInterval(timer);
    await hub.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
