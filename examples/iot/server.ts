// Herald example: an IoT dashboard — live sensor charts and an offline indicator per device.
//
//   npm run example:iot     → http://127.0.0.1:3005
//
// Six simulated sensors report a reading about once a second. The server publishes each one to
// the device's own topic, and watches the silence: a device not heard from for a few seconds is
// declared offline (an event on its status topic), and online again when it speaks.
//
//   /devices/<id>/readings   type `reading`  {"device","value","t"}
//   /devices/<id>/status     type `status`   {"device","online","t","lastSeen"}
//
// The page subscribes to both with URI templates (`/devices/{id}/readings`). On a first visit
// it gets the newest readings of each device at once (`replayLast`) to fill its charts; when it
// comes back — a network blip, a laptop waking up, this server restarting — it sends
// `Last-Event-ID` and gets exactly what it missed, because every event is journaled to disk
// (../_shared/journal.ts) before it is published and replayed into the hub on start.
//
// Environment: PORT (3005), HOST (127.0.0.1), DATA_DIR (where the journal lives; default a
// folder in the OS temp dir), IOT_INTERVAL_MS (how often devices report; 1000),
// IOT_OFFLINE_AFTER_MS (silence before a device counts as offline; 3.5 × the interval),
// IOT_FLAKY (0 turns off the random outages; on by default).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHub } from '../../src/index.js';
// The journal that lets the hub's history survive a restart: ../_shared/journal.ts.
import { Journal } from '../_shared/journal.js';
// Serves public/ and the herald/client bundle (built in memory): ../_shared/static.ts.
import { staticFiles } from '../_shared/static.js';
import { DEVICES, infoOf, SimulatedDevice } from './devices.js';

const PORT = Number(process.env.PORT ?? 3005);
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? join(tmpdir(), 'herald-example-iot');
const INTERVAL_MS = Number(process.env.IOT_INTERVAL_MS ?? 1000);
const OFFLINE_AFTER_MS = Number(process.env.IOT_OFFLINE_AFTER_MS ?? INTERVAL_MS * 3.5);
const FLAKY = process.env.IOT_FLAKY !== '0';
/** Readings of each device a first-time page gets at once: two minutes of chart. */
const CHART_POINTS = 120;
/** Events kept for replay (in the hub and in the journal): ~13 minutes at the default pace. */
const HISTORY = 5000;

/** What each event carries (as JSON). */
interface Reading {
  device: string;
  value: number;
  t: number;
}
interface Status {
  device: string;
  online: boolean;
  t: number;
  lastSeen: number;
}

const readingsTopic = (id: string): string => `/devices/${id}/readings`;
const statusTopic = (id: string): string => `/devices/${id}/status`;

// 1. The hub, and the journal that lets its history survive a restart.
const hub = createHub({ history: { maxEvents: HISTORY } });
const journal = new Journal(DATA_DIR, 'iot-events', HISTORY);
// Publish what the journal holds, with the same ids, before anyone can connect.
for (const entry of journal.entries) await hub.publish(entry);

/** Journal first (a crash after this line loses nothing), then publish with the same id. */
function publish(topic: string, type: string, data: Reading | Status): void {
  const entry = journal.append({ topics: [topic], type, data: JSON.stringify(data) });
  hub.publish(entry).catch((error: unknown) => console.error('publish failed:', error));
}

// 2. What the server knows about each device: is it online, when did we last hear from it.
//    This is the "heartbeat": every reading is one. Restored from the journal, so a restart
//    does not announce every device as newly online.
const state = new Map(DEVICES.map((d) => [d.id, { online: false, lastSeen: 0, last: NaN }]));
for (const entry of journal.entries) {
  const data = JSON.parse(entry.data) as Reading | Status;
  const s = state.get(data.device);
  if (s === undefined) continue;
  if (entry.type === 'status') s.online = (data as Status).online;
  else s.last = (data as Reading).value;
}
// While this server was down nobody heard anything; give every device a fresh grace period
// to check in before we call it offline.
for (const s of state.values()) s.lastSeen = Date.now();

/** A reading arrived (from the simulation, or from a real device over HTTP). */
function ingest(device: string, value: number): void {
  const s = state.get(device)!;
  const t = Date.now();
  s.lastSeen = t;
  s.last = value;
  if (!s.online) {
    s.online = true;
    publish(statusTopic(device), 'status', { device, online: true, t, lastSeen: t });
  }
  publish(readingsTopic(device), 'reading', { device, value, t });
}

// The watchdog: silence longer than OFFLINE_AFTER_MS means offline.
const watchdog = setInterval(
  () => {
    const now = Date.now();
    for (const [device, s] of state) {
      if (s.online && now - s.lastSeen > OFFLINE_AFTER_MS) {
        s.online = false;
        publish(statusTopic(device), 'status', {
          device,
          online: false,
          t: now,
          lastSeen: s.lastSeen,
        });
      }
    }
  },
  Math.min(250, OFFLINE_AFTER_MS / 4),
);

// 3. The simulated devices, continuing from their last journaled readings.
const devices = new Map(
  DEVICES.map((spec) => {
    const last = state.get(spec.id)!.last;
    // The waves run faster when devices report more often (IOT_INTERVAL_MS below 1000), so a
    // chart's window always shows the same shapes.
    const speed = 1000 / INTERVAL_MS;
    return [
      spec.id,
      new SimulatedDevice(spec, { last: Number.isNaN(last) ? undefined : last, speed }),
    ];
  }),
);
// On the very first start (an empty journal), pretend the devices were already running: give
// each a chart's worth of past readings, so the dashboard does not open on empty charts.
if (journal.entries.length === 0) {
  const start = Date.now() - CHART_POINTS * INTERVAL_MS;
  for (const device of devices.keys()) {
    publish(statusTopic(device), 'status', { device, online: true, t: start, lastSeen: start });
    state.get(device)!.online = true;
  }
  for (let i = 0; i < CHART_POINTS; i++) {
    const t = start + i * INTERVAL_MS;
    for (const [device, sim] of devices) {
      publish(readingsTopic(device), 'reading', { device, value: sim.measure(t), t });
    }
  }
}
for (const [id, device] of devices) {
  device.start({ intervalMs: INTERVAL_MS, flaky: FLAKY, report: (value) => ingest(id, value) });
}

// 4. HTTP: the page, the device list, the event stream, and two small JSON APIs.
const serveStatic = await staticFiles(fileURLToPath(new URL('./public', import.meta.url)));

function json(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 10_000) return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');

  if (url.pathname === '/events') {
    // Every device's readings and status, through two URI templates. With `Last-Event-ID` the
    // hub replays what came after it; without, the newest CHART_POINTS events of each topic.
    hub.subscribe(req, res, {
      topics: ['/devices/{id}/readings', '/devices/{id}/status'],
      replayLast: CHART_POINTS,
    });
    return;
  }

  if (url.pathname === '/api/devices' && req.method === 'GET') {
    json(res, 200, {
      serverTime: Date.now(),
      intervalMs: INTERVAL_MS,
      chartWindowMs: CHART_POINTS * INTERVAL_MS,
      offlineAfterMs: OFFLINE_AFTER_MS,
      devices: DEVICES.map((d) => ({ ...infoOf(d), powered: devices.get(d.id)!.powered })),
    });
    return;
  }

  // POST /api/devices/<id>/power {"on": false} — unplug a simulated device (and plug it back).
  // POST /api/devices/<id>/readings {"value": 21.5} — what a real device would call.
  const route = /^\/api\/devices\/([\w-]+)\/(power|readings)$/.exec(url.pathname);
  if (route !== null && req.method === 'POST') {
    const [, id, action] = route as unknown as [string, string, string];
    const device = devices.get(id);
    if (device === undefined) {
      json(res, 404, { error: `no device "${id}"; GET /api/devices lists them` });
      return;
    }
    const body = await readJson(req);
    if (action === 'power' && typeof body?.on === 'boolean') {
      device.powered = body.on;
      json(res, 204);
    } else if (
      action === 'readings' &&
      typeof body?.value === 'number' &&
      Number.isFinite(body.value)
    ) {
      ingest(id, body.value);
      json(res, 202);
    } else {
      json(res, 400, {
        error:
          action === 'power' ? 'send {"on": true} or {"on": false}' : 'send {"value": <number>}',
      });
    }
    return;
  }

  if (await serveStatic(req, res)) return;
  json(res, 404, { error: `nothing at ${url.pathname}` });
});

server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${PORT}`);
});

// Ctrl-C / SIGTERM: stop the devices; the hub ends every stream with a `retry:` hint, so open
// pages come back (with Last-Event-ID) once the server runs again.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    for (const device of devices.values()) device.stop();
    clearInterval(watchdog);
    await hub.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
