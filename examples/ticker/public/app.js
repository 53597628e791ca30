// The ticker page: subscribe to one topic per symbol, keep the last quotes of each, redraw the
// table at most once per frame, and remember where we are so a reload resumes without a gap.
import { subscribeHub } from '/vendor/herald/client.browser.js';

/** Points per sparkline. */
const POINTS = 60;
/** Where the page keeps its state across reloads (this tab only). */
const STORAGE_KEY = 'herald-ticker';

// For the end-to-end test: every event id this page received (and, below, where it resumed).
window.__received = [];

const symbols = await (await fetch('/api/symbols')).json();

// State: per symbol, the latest quote and its recent prices; plus the id of the last event.
// After a reload it comes back from sessionStorage and the subscription resumes after it.
const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
const state = { lastEventId: saved?.lastEventId ?? '', quotes: saved?.quotes ?? {} };

window.__resumedFrom = state.lastEventId;

// ---- the table -----------------------------------------------------------------------------

const rows = new Map();
const tbody = document.getElementById('quotes');
for (const { symbol, name } of symbols) {
  const tr = document.createElement('tr');
  tr.dataset.symbol = symbol;
  tr.innerHTML = `
    <td class="left"><span class="symbol">${symbol}</span><span class="name">${name}</span></td>
    <td class="num"><span class="price">–</span></td>
    <td class="num"><span class="badge change">–</span></td>
    <td class="num"><span class="badge pct">–</span></td>
    <td class="center"><svg class="spark" width="140" height="36" viewBox="0 0 140 36"></svg></td>
    <td class="num time">–</td>`;
  tbody.append(tr);
  rows.set(symbol, {
    price: tr.querySelector('.price'),
    change: tr.querySelector('.change'),
    pct: tr.querySelector('.pct'),
    spark: tr.querySelector('.spark'),
    time: tr.querySelector('.time'),
  });
}

/** An SVG sparkline of `series`: a line, a soft area under it, a dot on the last point. */
function sparkline(svg, series) {
  if (series.length < 2) return;
  const w = 140;
  const h = 36;
  const pad = 3;
  const min = Math.min(...series);
  const max = Math.max(...series);
  const span = max - min || 1;
  const points = series.map((v, i) => [
    pad + (i / (series.length - 1)) * (w - 2 * pad),
    h - pad - ((v - min) / span) * (h - 2 * pad),
  ]);
  const line = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  const [lx, ly] = points.at(-1);
  const colour = series.at(-1) >= series[0] ? 'var(--up)' : 'var(--down)';
  svg.innerHTML = `
    <polygon points="${points[0][0].toFixed(1)},${h} ${line} ${lx.toFixed(1)},${h}"
      fill="${colour}" opacity="0.12" />
    <polyline points="${line}" fill="none" stroke="${colour}" stroke-width="1.6"
      stroke-linejoin="round" stroke-linecap="round" />
    <circle cx="${lx.toFixed(1)}" cy="${ly.toFixed(1)}" r="2.6" fill="${colour}" />`;
}

const signed = (n, digits = 2) => `${n > 0 ? '+' : n < 0 ? '−' : ''}${Math.abs(n).toFixed(digits)}`;

function renderRow(symbol, flash) {
  const quote = state.quotes[symbol];
  const row = rows.get(symbol);
  if (quote === undefined || row === undefined) return;
  const direction = quote.change >= 0 ? 'up' : 'down';
  row.price.textContent = quote.price.toFixed(2);
  row.change.textContent = signed(quote.change);
  row.pct.textContent = `${signed(quote.changePct)}%`;
  row.change.className = `badge change ${direction}`;
  row.pct.className = `badge pct ${direction}`;
  row.time.textContent = new Date(quote.time).toLocaleTimeString();
  sparkline(row.spark, quote.series);
  if (flash !== undefined) {
    // Restart the flash animation: remove the class, force a style flush, add it back.
    row.price.classList.remove('flash-up', 'flash-down');
    void row.price.offsetWidth;
    row.price.classList.add(`flash-${flash}`);
  }
}

// Redraw at most once per animation frame, however many quotes arrived (a replay brings
// hundreds at once).
const dirty = new Map();
let framePending = false;
function scheduleRender(symbol, flash) {
  dirty.set(symbol, flash ?? dirty.get(symbol));
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(() => {
    framePending = false;
    for (const [s, f] of dirty) renderRow(s, f);
    dirty.clear();
    document.getElementById('count').textContent = String(window.__received.length);
    document.getElementById('last-id').textContent = state.lastEventId || '–';
  });
}

// Save once per task (a microtask after the last event of a chunk): the saved id is always
// the last event applied, so a reload resumes right after it.
let saving = false;
function scheduleSave() {
  if (saving) return;
  saving = true;
  queueMicrotask(() => {
    saving = false;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  });
}

for (const symbol of Object.keys(state.quotes)) scheduleRender(symbol);

// ---- the subscription ----------------------------------------------------------------------

const status = document.getElementById('status');
const setStatus = (text) => {
  status.textContent = text;
  status.className = `pill ${text}`;
};

const sub = subscribeHub('/events', {
  topics: symbols.map(({ symbol }) => `/quotes/${symbol}`),
  // Resume after the last event we applied (sent as Last-Event-ID); empty on a first visit.
  lastEventId: state.lastEventId,
  json: true,
  // Come back quickly after a restart: 250 ms, then exponential backoff with jitter, ≤ 2 s.
  minDelayMs: 250,
  maxDelayMs: 2000,
  onOpen: () => setStatus('live'),
  onError: () => setStatus(sub.readyState === 2 ? 'closed' : 'reconnecting'),
  onClose: () => setStatus('closed'),
  // The server no longer had our last event (its history was wiped): what follows starts from
  // the oldest event it has, so start the sparklines over.
  onGap: () => {
    state.quotes = {};
  },
});

sub.on('quote', (quote, event) => {
  const previous = state.quotes[quote.symbol];
  const series = [...(previous?.series ?? []), quote.price].slice(-POINTS);
  state.quotes[quote.symbol] = { ...quote, series };
  state.lastEventId = event.lastEventId;
  window.__received.push(event.lastEventId);
  const flash =
    previous === undefined || previous.price === quote.price
      ? undefined
      : quote.price > previous.price
        ? 'up'
        : 'down';
  scheduleRender(quote.symbol, flash);
  scheduleSave();
});
