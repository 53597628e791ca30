// The dashboard page. One subscription carries everything:
//
//   event: reading   data: {"device":"boiler","value":1.63,"t":1718000000000}
//   event: status    data: {"device":"boiler","online":false,"t":…,"lastSeen":…}
//
// Every event has an id (`<journal epoch>.<sequence>`); herald/client sends the last one back
// as `Last-Event-ID` when it reconnects, and the server replays what the page missed.
import { subscribe } from '/vendor/herald/client.browser.js';
import { drawChart } from './chart.js';

/** The charts show this much time: as many readings as a first visit gets (from the server). */
let windowMs = 120_000;

const $ = (id) => document.getElementById(id);
/** id → { info, el, points: [{t, value}], online, lastT, powered } */
const cards = new Map();
/** Server clock minus ours, so "3 s ago" is right even if the clocks disagree. */
let clockOffset = 0;
let intervalMs = 1000;
const serverNow = () => Date.now() + clockOffset;

/**
 * The ids of the events this page received, in order (the newest 20 000). The end-to-end test
 * reads it to check that nothing is lost or repeated across a server restart; you can look at
 * it in the console: `iot.received`.
 */
const received = [];
window.iot = { received };

// --- devices -----------------------------------------------------------------------------

async function loadDevices() {
  const body = await (await fetch('/api/devices')).json();
  clockOffset = body.serverTime - Date.now();
  intervalMs = body.intervalMs;
  windowMs = body.chartWindowMs;
  for (const info of body.devices) {
    const card = cards.get(info.id) ?? createCard(info);
    card.powered = info.powered;
    updateCard(card);
  }
}

function createCard(info) {
  const el = $('card').content.firstElementChild.cloneNode(true);
  el.dataset.device = info.id;
  el.querySelector('.place').textContent = info.place;
  el.querySelector('.metric').textContent = info.metric;
  el.querySelector('.unit').textContent = info.unit;
  el.querySelector('.range').textContent = `normal ${info.ok[0]}–${info.ok[1]} ${info.unit}`;
  el.querySelector('.chart').setAttribute('aria-label', `${info.metric} in the ${info.place}`);
  const card = { info, el, points: [], online: undefined, lastT: 0, powered: true };
  el.querySelector('.power').addEventListener('click', () => togglePower(card));
  $('grid').append(el);
  cards.set(info.id, card);
  return card;
}

/** The "Simulate outage" button: unplugs the simulated device; the server notices the silence. */
async function togglePower(card) {
  const on = !card.powered;
  const res = await fetch(`/api/devices/${card.info.id}/power`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ on }),
  });
  if (res.ok) {
    card.powered = on;
    updateCard(card);
  }
}

// --- events ------------------------------------------------------------------------------

function connect() {
  const subscription = subscribe('/events', {
    json: true,
    events: ['reading', 'status'],
    // A dashboard on the local network: come back quickly after a restart.
    minDelayMs: 500,
    maxDelayMs: 5000,
    onOpen: () => {
      setConnected(true);
      loadDevices().catch(() => {}); // power states may have changed while we were away
    },
    onError: (error) => {
      if (
        error.code === 'NETWORK' ||
        error.code === 'STREAM_ENDED' ||
        error.code === 'IDLE_TIMEOUT'
      ) {
        setConnected(false);
      }
    },
    onEvent: (event) => {
      received.push(event.lastEventId);
      if (received.length > 20_000) received.splice(0, received.length - 20_000);
      const last = $('last-event');
      last.textContent = `event #${event.lastEventId.split('.').pop()}`;
      last.title = `Last-Event-ID: ${event.lastEventId}`;
    },
  });

  subscription.on('reading', ({ device, value, t }) => {
    const card = cards.get(device);
    if (card === undefined) return;
    card.points.push({ t, value });
    // Bounded: drop what has scrolled out of the chart.
    const cutoff = serverNow() - windowMs - 10 * intervalMs;
    while (card.points.length > 0 && (card.points[0].t < cutoff || card.points.length > 1000)) {
      card.points.shift();
    }
    card.lastT = t;
    scheduleDraw(card);
  });

  subscription.on('status', ({ device, online, lastSeen }) => {
    const card = cards.get(device);
    if (card === undefined) return;
    card.online = online;
    card.lastT = Math.max(card.lastT, lastSeen);
    scheduleDraw(card);
  });
}

function setConnected(value) {
  const status = $('status');
  status.className = `status ${value ? 'live' : 'reconnecting'}`;
  status.textContent = value ? 'live' : 'reconnecting';
  $('banner').hidden = value;
  $('grid').classList.toggle('stale', !value);
}

// --- drawing -----------------------------------------------------------------------------

const dirty = new Set();
function scheduleDraw(card) {
  if (dirty.size === 0) requestAnimationFrame(drawDirty);
  dirty.add(card);
}
function drawDirty() {
  for (const card of dirty) updateCard(card);
  dirty.clear();
  updateSummary();
}

function updateCard(card) {
  const { info, el, points } = card;
  const last = points.at(-1);
  const state = card.online === undefined ? 'waiting' : card.online ? 'online' : 'offline';
  el.className = `card ${state}`;
  const badge = el.querySelector('.badge');
  badge.className = `badge ${state}`;
  badge.textContent = state;

  if (last !== undefined) {
    el.querySelector('.value').textContent = last.value.toFixed(info.decimals);
    el.classList.toggle('alert', last.value < info.ok[0] || last.value > info.ok[1]);
    // The trend: the change since the start of the chart.
    const first = points.find((p) => p.t >= last.t - windowMs) ?? last;
    const delta = last.value - first.value;
    const step = 10 ** -info.decimals;
    const trend = el.querySelector('.trend');
    trend.textContent =
      Math.abs(delta) < step
        ? ''
        : `${delta > 0 ? '▲' : '▼'} ${Math.abs(delta).toFixed(info.decimals)}`;
    trend.className = `trend ${delta > 0 ? 'up' : 'down'}`;
  }
  el.querySelector('.seen').textContent = card.lastT
    ? `last reading ${ago(serverNow() - card.lastT)}`
    : 'no reading yet';
  const power = el.querySelector('.power');
  power.textContent = card.powered ? 'Simulate outage' : 'Restore power';
  power.classList.toggle('off', !card.powered);

  drawChart(el.querySelector('.chart'), points, {
    id: info.id,
    now: serverNow(),
    windowMs,
    gapMs: Math.max(3 * intervalMs, 2500),
    ok: info.ok,
    color: info.color,
    decimals: info.decimals,
  });
}

function ago(ms) {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s ago`;
  if (s < 90) return `${Math.round(s)} s ago`;
  return `${Math.round(s / 60)} min ago`;
}

function updateSummary() {
  let online = 0;
  let offline = 0;
  for (const card of cards.values()) {
    if (card.online === true) online++;
    if (card.online === false) offline++;
  }
  $('summary').innerHTML =
    `${cards.size} sensors · <b class="ok">${online} online</b>` +
    (offline > 0 ? ` · <b class="bad">${offline} offline</b>` : '');
}

// Time moves even when nothing arrives: slide the charts and age "last reading" once a second.
setInterval(() => {
  for (const card of cards.values()) scheduleDraw(card);
}, 1000);
window.addEventListener('resize', () => {
  for (const card of cards.values()) scheduleDraw(card);
});

await loadDevices();
updateSummary();
connect();
