// The log viewer page. It subscribes to /events with herald/client's `subscribe()`; each
// `lines` event is a batch of consecutive lines of the file:
//
//   id: 48213                       ← the byte offset where the batch ends
//   event: lines
//   data: {"from":48090,"to":48213,"lines":[[48090,"2025-… INFO  [api] GET /api/cart 200 12ms"], …]}
//
// Because ids are byte offsets, the page can check for itself that nothing was lost: every
// batch must start exactly where the previous one ended (`from === lastTo`).
import { subscribe } from '/vendor/herald/client.browser.js';

/** The page never holds more lines than this: older ones are removed as new ones arrive. */
const MAX_LINES = 2000;

const $ = (id) => document.getElementById(id);
const logEl = $('log');
const statusEl = $('status');
const filterEl = $('filter');
const pauseEl = $('pause');
const followEl = $('follow');

/** The lines on screen, oldest first: { from, to, text, level, el }. Markers are not in it. */
const rows = [];
/** Lines received but not drawn yet (drawn once per animation frame). */
let pending = [];
let frameRequested = false;
/** The byte offset the last batch ended at: the next batch must start there. */
let lastTo = null;
/** The last event id, to resume after a pause. */
let lastEventId = '';
let subscription = null;
let paused = false;
let reconnecting = false;
const hiddenLevels = new Set();
const counts = { debug: 0, info: 0, warn: 0, error: 0 };
let matcher = null;

// --- connection --------------------------------------------------------------------------

function connect() {
  subscription = subscribe('/events', {
    json: true,
    // Resume after this id (empty on the first visit: the server then sends recent lines).
    lastEventId,
    // A local tool: come back quickly after a restart (the default backoff starts at 1 s).
    minDelayMs: 500,
    maxDelayMs: 5000,
    onOpen: () => {
      setStatus('live');
      refreshStatus();
    },
    onError: (error) => {
      // Network errors are retried with backoff, with Last-Event-ID: nothing is lost.
      if (
        error.code === 'NETWORK' ||
        error.code === 'STREAM_ENDED' ||
        error.code === 'IDLE_TIMEOUT'
      ) {
        reconnecting = true;
        setStatus('reconnecting');
      }
    },
  });
  subscription.on('lines', (batch, event) => {
    lastEventId = event.lastEventId;
    receive(batch);
  });
}

// Pause = disconnect. The server keeps the history; Resume reconnects with the last id and
// gets every line written meanwhile (or, if the pause outlasted history, a visible gap).
pauseEl.addEventListener('click', () => {
  paused = !paused;
  if (paused) {
    subscription.close();
    setStatus('paused');
  } else {
    setStatus('connecting');
    connect();
  }
  pauseEl.textContent = paused ? 'Resume' : 'Pause';
  pauseEl.classList.toggle('primary', !paused);
});

function setStatus(state) {
  statusEl.className = `status ${state}`;
  statusEl.textContent = state;
}

// --- receiving ---------------------------------------------------------------------------

function receive(batch) {
  if (lastTo !== null && batch.from !== lastTo) {
    // Ids are byte offsets, so a hole is visible: say how much is missing.
    const skipped = batch.from - lastTo;
    pending.push({
      marker: `skipped ${formatBytes(skipped)} (bytes ${lastTo}–${batch.from}): the server no longer had them`,
      kind: 'gap',
    });
  } else if (reconnecting && lastTo !== null) {
    pending.push({
      marker: `reconnected: resumed at byte ${lastTo}, no line lost`,
      kind: 'resume',
    });
  }
  reconnecting = false;
  for (let i = 0; i < batch.lines.length; i++) {
    const [from, text] = batch.lines[i];
    const to = batch.lines[i + 1]?.[0] ?? batch.to;
    pending.push({ from, to, text });
  }
  // Lines beyond MAX_LINES would be removed right after being drawn: do not draw them at all.
  if (pending.length > MAX_LINES) pending = pending.slice(-MAX_LINES);
  lastTo = batch.to;
  $('position').textContent = `offset ${batch.to.toLocaleString('en')}`;
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(draw);
  }
}

/** Draws what arrived since the last frame, in one DOM update, then trims the oldest lines. */
function draw() {
  frameRequested = false;
  const fragment = document.createDocumentFragment();
  for (const item of pending) {
    if (item.marker !== undefined) {
      const el = document.createElement('div');
      el.className = `marker ${item.kind}`;
      el.textContent = item.marker;
      fragment.append(el);
      continue;
    }
    const previous = rows.at(-1);
    // Indented lines (a stack trace) belong to the line above: same level.
    const level = /^\s/.test(item.text) && previous ? previous.level : levelOf(item.text);
    const row = { ...item, level, el: document.createElement('div') };
    row.el.className = `line ${level}`;
    row.el.dataset.from = String(item.from);
    row.el.dataset.to = String(item.to);
    render(row);
    rows.push(row);
    if (level in counts) counts[level]++;
    fragment.append(row.el);
  }
  pending = [];
  logEl.append(fragment);

  // The bounded list: remove the oldest lines (and markers before them).
  const excess = rows.length - MAX_LINES;
  if (excess > 0) {
    for (const row of rows.splice(0, excess)) {
      if (row.level in counts) counts[row.level]--;
      row.el.remove();
    }
    while (logEl.firstElementChild?.classList.contains('marker')) logEl.firstElementChild.remove();
  }
  updateCounts();
  if (followEl.checked) logEl.scrollTop = logEl.scrollHeight;
}

// --- one line ----------------------------------------------------------------------------

const LEVEL = /\b(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|FATAL|CRIT(?:ICAL)?)\b/;

function levelOf(text) {
  const word = LEVEL.exec(text)?.[1];
  if (word === undefined) return 'plain';
  if (word === 'TRACE' || word === 'DEBUG') return 'debug';
  if (word === 'INFO' || word === 'NOTICE') return 'info';
  if (word.startsWith('WARN')) return 'warn';
  return 'error';
}

const STRUCTURED = /^(\d{4}-\d\d-\d\dT[\d:.]+Z?)(\s+)([A-Z]+)(\s+)(\[[^\]]+\])?(.*)$/;

/** Fills a line's element: the offset gutter, then the text with its parts coloured. */
function render(row) {
  const el = row.el;
  el.replaceChildren();
  el.hidden = !visible(row);
  const gutter = document.createElement('span');
  gutter.className = 'offset';
  gutter.textContent = String(row.from);
  el.append(gutter);
  const body = document.createElement('span');
  body.className = 'text';
  el.append(body);
  const m = STRUCTURED.exec(row.text);
  const parts = m
    ? [
        ['time', m[1]],
        [null, m[2]],
        ['lvl', m[3]],
        [null, m[4]],
        ['svc', m[5] ?? ''],
        [null, m[6]],
      ]
    : [[null, row.text]];
  for (const [cls, text] of parts) {
    if (text === '') continue;
    const span = document.createElement('span');
    if (cls) span.className = cls;
    appendHighlighted(span, text);
    body.append(span);
  }
}

/** Appends `text` to `parent`, wrapping what the filter matches in <mark>. */
function appendHighlighted(parent, text) {
  if (matcher === null) {
    parent.append(text);
    return;
  }
  const re = new RegExp(
    matcher.source,
    matcher.flags.includes('g') ? matcher.flags : `${matcher.flags}g`,
  );
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0] === '') continue;
    parent.append(text.slice(last, m.index));
    const mark = document.createElement('mark');
    mark.textContent = m[0];
    parent.append(mark);
    last = m.index + m[0].length;
  }
  parent.append(text.slice(last));
}

// --- filtering ---------------------------------------------------------------------------

function visible(row) {
  if (hiddenLevels.has(row.level)) return false;
  return matcher === null || matcher.test(row.text);
}

function applyFilter() {
  for (const row of rows) render(row);
  updateCounts();
  if (followEl.checked) logEl.scrollTop = logEl.scrollHeight;
}

/** `words` match case-insensitively; `/regex/flags` is a regular expression. */
function parseFilter(value) {
  const text = value.trim();
  if (text === '') return null;
  const re = /^\/(.+)\/([a-z]*)$/.exec(text);
  if (re) return new RegExp(re[1], re[2].replace('g', ''));
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
}

filterEl.addEventListener('input', () => {
  try {
    matcher = parseFilter(filterEl.value);
    filterEl.parentElement.classList.remove('invalid');
  } catch {
    filterEl.parentElement.classList.add('invalid'); // an unfinished /regex/: keep the old filter
    return;
  }
  applyFilter();
});

for (const button of document.querySelectorAll('.level')) {
  button.addEventListener('click', () => {
    const level = button.dataset.level;
    const on = hiddenLevels.has(level);
    if (on) hiddenLevels.delete(level);
    else hiddenLevels.add(level);
    button.setAttribute('aria-pressed', String(on));
    applyFilter();
  });
}

$('clear').addEventListener('click', () => {
  for (const row of rows) row.el.remove();
  rows.length = 0;
  logEl.replaceChildren();
  for (const level in counts) counts[level] = 0;
  updateCounts();
});

// Scrolling up to read stops following; scrolling back to the bottom resumes it.
logEl.addEventListener('wheel', () => {
  requestAnimationFrame(() => {
    followEl.checked = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 4;
  });
});

function updateCounts() {
  for (const button of document.querySelectorAll('.level')) {
    button.querySelector('.count').textContent = counts[button.dataset.level].toLocaleString('en');
  }
  const shown = rows.reduce((n, row) => n + (row.el.hidden ? 0 : 1), 0);
  $('shown').textContent =
    shown === rows.length
      ? `${rows.length.toLocaleString('en')} lines (keeps ${MAX_LINES.toLocaleString('en')})`
      : `${shown.toLocaleString('en')} of ${rows.length.toLocaleString('en')} lines match`;
}

// --- the server's side of things (footer) --------------------------------------------------

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

async function refreshStatus() {
  try {
    const s = await (await fetch('/api/status')).json();
    $('source').textContent = s.command ? `$ ${s.command}` : s.path;
    $('source').title = s.path;
    const behind = lastTo === null ? 0 : s.offset - lastTo;
    $('memory').textContent =
      `${paused && behind > 0 ? `${formatBytes(behind)} behind · ` : ''}` +
      `hub history ${s.history.events.toLocaleString('en')} events, ` +
      `${formatBytes(s.history.bytes)} of ${formatBytes(s.limits.historyBytes)} · ` +
      `${s.viewers} viewer${s.viewers === 1 ? '' : 's'}`;
  } catch {
    // The server is down; the subscription is already retrying.
  }
}

updateCounts();
connect();
refreshStatus();
setInterval(refreshStatus, 2000);
