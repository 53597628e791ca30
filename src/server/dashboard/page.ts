/**
 * The dashboard page the hub serves at `/`: live counters, the most subscribed topics, a
 * publish form and a live tail, in one self-contained HTML document (inline CSS and plain JS,
 * nothing loaded from elsewhere).
 * @packageDocumentation
 */

/** Options of {@link renderDashboardPage}. */
export interface DashboardPageOptions {
  /** Dev mode: the page shows a "dev mode" badge. */
  dev?: boolean;
  /**
   * A publisher JWT to embed in the page, so that its publish form works as is (dev mode only:
   * anyone who can load the page can read it — so it must be short-lived, see `tokenPath`).
   * Without it the form asks for a token.
   */
  publisherToken?: string;
  /**
   * Where the page gets a fresh token (`POST`, answering `{ token, expiresIn }`): it does so
   * once half of `tokenTtlMs` has passed, before publishing, and when a publish gets a 401.
   */
  tokenPath?: string;
  /** Lifetime of `publisherToken` in ms. */
  tokenTtlMs?: number;
  /** Where the hub answers, e.g. `/.well-known/mercure`: the form POSTs to it, the tail GETs it. */
  hubPath: string;
  /** Where the `stats` event stream is. Default `/dashboard/stats`. */
  statsPath?: string;
}

/**
 * Response headers for the page: never cached (it may hold a token), not framed (the publish
 * form must not be clickjacked), and a Content-Security-Policy that lets it talk to its own
 * origin only.
 */
export const DASHBOARD_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
};

/**
 * Renders the dashboard page.
 *
 * The page reads `stats` events from an `EventSource` on `statsPath` (see
 * `serveDashboardStats`), publishes with `fetch` (`POST hubPath`,
 * `application/x-www-form-urlencoded`, `Authorization: Bearer <token>`), and tails a selector by
 * reading `GET hubPath?topic=<selector>` as an event stream. Event data is only ever shown as
 * text (`textContent`), never parsed as HTML.
 *
 * @param options - see {@link DashboardPageOptions}
 * @returns the whole HTML document
 */
export function renderDashboardPage(options: DashboardPageOptions): string {
  const config = {
    hubPath: options.hubPath,
    statsPath: options.statsPath ?? '/dashboard/stats',
    dev: options.dev === true,
    publisherToken: options.publisherToken ?? '',
    tokenPath: options.tokenPath ?? '',
    tokenTtlMs: options.tokenTtlMs ?? 0,
  };
  const tokenField =
    options.publisherToken === undefined
      ? `<label><span>Publisher token</span>
          <input id="publish-token" type="password" autocomplete="off" spellcheck="false"
            placeholder="a JWT with a mercure.publish claim">
        </label>`
      : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Herald — hub dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header class="top">
  <div class="brand">
    <span class="logo" aria-hidden="true">H</span>
    <div><h1>Herald</h1><p>hub dashboard · <code id="hub-path"></code></p></div>
  </div>
  <div class="top-meta">
    <span id="mode" class="badge" hidden>dev mode</span>
    <span id="stats-status" class="pill" data-state="connecting">connecting</span>
  </div>
</header>
<main>
  <section class="cards" aria-label="Live counters">
    <article class="card"><h2>Connections</h2><div class="value" id="connections">–</div>
      <div class="sub">open streams · <span id="viewers">–</span> dashboards</div></article>
    <article class="card"><h2>Subscribers</h2><div class="value" id="subscribers">–</div>
      <div class="sub"><span id="wildcard">–</span> on <code>*</code></div></article>
    <article class="card"><h2>Topics</h2><div class="value" id="topics">–</div>
      <div class="sub">exact · <span id="templates">–</span> templates</div></article>
    <article class="card spark-card"><h2>Events / s</h2><div class="value" id="events-per-second">–</div>
      <div class="sub">10 s average</div>
      <svg class="spark" viewBox="0 0 60 20" preserveAspectRatio="none" aria-hidden="true">
        <polygon id="spark-area" points=""></polygon><polyline id="spark-line" points=""></polyline>
      </svg></article>
    <article class="card"><h2>Events total</h2><div class="value" id="events-total">–</div>
      <div class="sub">deliveries: <span id="events-delivered">–</span></div></article>
    <article class="card"><h2>Bytes queued</h2><div class="value" id="bytes-queued">–</div>
      <div class="sub"><span id="bytes-written">–</span> written live</div></article>
    <article class="card"><h2>History</h2><div class="value" id="history-events">–</div>
      <div class="sub">events · <span id="history-bytes">–</span></div></article>
    <article class="card"><h2>Uptime</h2><div class="value" id="uptime">–</div>
      <div class="sub">since the hub started</div></article>
  </section>

  <div class="columns">
    <section class="panel" aria-labelledby="publish-title">
      <h2 id="publish-title">Publish</h2>
      <form id="publish-form" novalidate>
        <label><span>Topic(s)</span>
          <input id="publish-topics" required spellcheck="false" autocomplete="off"
            placeholder="/books/1 https://example.com/books/1">
          <small>Separate several with spaces; the first is canonical.</small>
        </label>
        <label><span>Type <small>(optional)</small></span>
          <input id="publish-type" spellcheck="false" autocomplete="off" placeholder="message">
        </label>
        <label><span>Data</span>
          <textarea id="publish-data" rows="4" spellcheck="false"
            placeholder='{"status": "shipped"}'></textarea>
        </label>
        ${tokenField}
        <div class="form-foot">
          <label class="check"><input id="publish-private" type="checkbox">
            Private <small>— only subscribers authorized for the topic receive it</small></label>
          <button id="publish-submit" type="submit">Publish</button>
        </div>
        <output id="publish-result" data-state="idle" aria-live="polite"></output>
      </form>
    </section>

    <section class="panel" aria-labelledby="topics-title">
      <h2 id="topics-title">Subscribed topics <small id="topic-count"></small></h2>
      <table class="topics">
        <thead><tr><th>Selector</th><th class="bar-col"><span class="sr">Share</span></th><th class="num">Subscribers</th></tr></thead>
        <tbody id="topic-list"></tbody>
      </table>
      <p id="topic-empty" class="empty">No subscriptions yet. Follow a selector below to make one.</p>
    </section>
  </div>

  <section class="panel" aria-labelledby="tail-title">
    <h2 id="tail-title">Live tail <span id="tail-status" class="pill" data-state="idle">idle</span></h2>
    <form id="tail-form" class="tail-controls">
      <input id="tail-selector" aria-label="Topic selector" spellcheck="false" autocomplete="off"
        value="*" placeholder="/books/{id}, * or an exact topic">
      <button id="tail-follow" type="submit">Follow</button>
      <button id="tail-stop" type="button" class="secondary" disabled>Stop</button>
      <button id="tail-clear" type="button" class="secondary">Clear</button>
    </form>
    <p class="hint">Last 100 events, newest first. <span id="tail-count">0</span> received.
      The tail subscribes without a token: it sees public updates only.</p>
    <ol id="tail-list" aria-live="polite"></ol>
  </section>
</main>
<script>
const CONFIG = ${scriptJson(config)};
${SCRIPT}
</script>
</body>
</html>
`;
}

/**
 * JSON that is safe inside an inline `<script>`: `<`, `>` and `&` become `\u003c`… so no
 * `</script>` or `<!--` can end or confuse the script; U+2028/U+2029 are escaped too.
 */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --panel: #ffffff; --text: #1b1f24; --muted: #5e6773; --border: #e1e4e9;
  --accent: #5b45e0; --accent-2: #d9468f; --accent-soft: rgba(91, 69, 224, .12);
  --ok: #1a7f37; --warn: #9a6700; --err: #cf222e; --field: #fafbfc;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1014; --panel: #161920; --text: #e5e7eb; --muted: #9aa3af; --border: #272c36;
    --accent: #9784ff; --accent-2: #f06fb0; --accent-soft: rgba(151, 132, 255, .16);
    --ok: #3fb950; --warn: #d29922; --err: #f85149; --field: #0f1217;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
code { font-family: var(--mono); font-size: .9em; }
.sub code { font-size: 1em; font-weight: 600; }
small { color: var(--muted); font-weight: 400; }
[hidden] { display: none !important; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }

header.top {
  display: flex; align-items: center; justify-content: space-between; gap: 1rem;
  padding: .8rem 1.5rem; background: var(--panel); border-bottom: 1px solid var(--border);
  position: sticky; top: 0; z-index: 1;
}
.brand { display: flex; align-items: center; gap: .75rem; }
.logo {
  width: 2.1rem; height: 2.1rem; border-radius: .6rem; display: grid; place-items: center;
  background: linear-gradient(135deg, var(--accent), var(--accent-2)); color: #fff;
  font-weight: 700; font-size: 1.1rem; box-shadow: 0 2px 8px var(--accent-soft);
}
h1 { font-size: 1.1rem; margin: 0; line-height: 1.2; }
.brand p { margin: 0; color: var(--muted); font-size: .82rem; }
.top-meta { display: flex; align-items: center; gap: .5rem; }
.badge {
  font-size: .75rem; font-weight: 600; padding: .15rem .55rem; border-radius: 999px;
  background: var(--accent-soft); color: var(--accent);
}
.pill {
  display: inline-flex; align-items: center; gap: .4rem; font-size: .78rem; font-weight: 500;
  padding: .12rem .6rem; border-radius: 999px; border: 1px solid currentColor; color: var(--muted);
  white-space: nowrap; max-width: 100%; overflow: hidden; text-overflow: ellipsis;
}
.pill::before {
  content: ""; width: .45rem; height: .45rem; border-radius: 50%; background: currentColor;
  flex: none;
}
.pill[data-state="open"] { color: var(--ok); }
.pill[data-state="open"]::before { animation: pulse 2s ease-in-out infinite; }
.pill[data-state="connecting"] { color: var(--warn); }
.pill[data-state="closed"], .pill[data-state="error"] { color: var(--err); }
@keyframes pulse { 50% { opacity: .3; } }

main {
  max-width: 82rem; margin: 0 auto; padding: 1.25rem 1.5rem 3rem; display: grid; gap: 1.25rem;
}
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: .75rem; }
@media (max-width: 860px) { .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.card {
  position: relative; overflow: hidden; min-height: 6.4rem; padding: .85rem 1rem;
  background: var(--panel); border: 1px solid var(--border); border-radius: .8rem;
}
.card h2 {
  margin: 0 0 .3rem; font-size: .72rem; font-weight: 600; letter-spacing: .06em;
  text-transform: uppercase; color: var(--muted);
}
.value {
  font-size: 1.75rem; font-weight: 650; line-height: 1.15; font-variant-numeric: tabular-nums;
  position: relative; z-index: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.sub { margin-top: .2rem; font-size: .8rem; color: var(--muted); position: relative; z-index: 1; }
.spark { position: absolute; left: 0; right: 0; bottom: 0; width: 100%; height: 2.4rem; }
.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.spark polygon { fill: var(--accent-soft); }

.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.25rem; }
@media (max-width: 860px) { .columns { grid-template-columns: minmax(0, 1fr); } }
.panel {
  background: var(--panel); border: 1px solid var(--border); border-radius: .8rem;
  padding: 1rem 1.15rem 1.15rem; min-width: 0;
}
.panel > h2 {
  display: flex; align-items: center; gap: .6rem; margin: 0 0 .85rem; font-size: 1rem;
}
.panel > h2 small { font-size: .8rem; }

form { display: grid; gap: .8rem; }
label { display: grid; gap: .3rem; font-size: .84rem; font-weight: 550; }
label small { font-size: .78rem; }
input, textarea {
  font: inherit; color: inherit; background: var(--field); border: 1px solid var(--border);
  border-radius: .5rem; padding: .5rem .65rem; min-width: 0; width: 100%;
}
textarea { font-family: var(--mono); font-size: .88rem; resize: vertical; min-height: 5.5rem; }
input:focus, textarea:focus {
  outline: 3px solid var(--accent-soft); border-color: var(--accent); outline-offset: 0;
}
.check { display: flex; align-items: center; gap: .5rem; font-weight: 500; }
.check input { width: auto; accent-color: var(--accent); }
.form-foot { display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
button {
  font: inherit; font-weight: 600; font-size: .9rem; border: 1px solid transparent;
  border-radius: .5rem; padding: .5rem 1.1rem; background: var(--accent); color: #fff;
  cursor: pointer; white-space: nowrap;
}
button:hover:not(:disabled) { filter: brightness(1.08); }
button:focus-visible { outline: 3px solid var(--accent-soft); }
button.secondary { background: transparent; color: var(--text); border-color: var(--border); }
button:disabled { opacity: .45; cursor: default; }
output { display: block; font-size: .85rem; min-height: 1.3rem; overflow-wrap: anywhere; white-space: pre-wrap; }
output[data-state="ok"] { color: var(--ok); }
output[data-state="error"] { color: var(--err); }
output[data-state="pending"] { color: var(--muted); }
output code { color: var(--text); background: var(--accent-soft); padding: .05rem .35rem; border-radius: .3rem; }

table.topics { width: 100%; border-collapse: collapse; font-size: .88rem; table-layout: fixed; }
.topics th {
  text-align: left; font-size: .72rem; font-weight: 600; letter-spacing: .06em;
  text-transform: uppercase; color: var(--muted); padding: 0 .25rem .4rem;
  border-bottom: 1px solid var(--border);
}
.topics td { padding: .4rem .25rem; border-bottom: 1px solid var(--border); vertical-align: middle; }
.topics tr:last-child td { border-bottom: 0; }
.topics .bar-col { width: 28%; }
.topics .num { text-align: right; width: 6.5rem; font-variant-numeric: tabular-nums; }
.bar { display: block; height: .45rem; border-radius: 999px; background: linear-gradient(90deg, var(--accent), var(--accent-2)); min-width: .45rem; }
button.link {
  background: none; border: 0; padding: 0; color: var(--text); font: .86rem var(--mono);
  text-align: left; overflow-wrap: anywhere; white-space: normal; cursor: pointer;
}
button.link:hover { color: var(--accent); text-decoration: underline; filter: none; }
.empty, .hint { color: var(--muted); font-size: .84rem; margin: .6rem 0 0; }

.tail-controls { display: flex; gap: .5rem; }
.tail-controls input { flex: 1; font-family: var(--mono); font-size: .9rem; }
#tail-list {
  list-style: none; margin: .75rem 0 0; padding: 0; max-height: 30rem; overflow: auto;
  border: 1px solid var(--border); border-radius: .6rem; background: var(--field);
}
#tail-list:empty::before {
  content: "Events appear here once you follow a selector."; display: block; padding: 1.6rem;
  text-align: center; color: var(--muted); font-size: .88rem;
}
#tail-list li { padding: .55rem .8rem; border-bottom: 1px solid var(--border); animation: fresh .9s ease-out; }
#tail-list li:last-child { border-bottom: 0; }
@keyframes fresh { from { background: var(--accent-soft); } to { background: transparent; } }
.event-meta { display: flex; flex-wrap: wrap; align-items: center; gap: .6rem; font-size: .76rem; color: var(--muted); }
.event-type {
  font-family: var(--mono); font-weight: 600; color: var(--accent); background: var(--accent-soft);
  padding: .02rem .45rem; border-radius: .3rem;
}
.event-id { font-family: var(--mono); overflow-wrap: anywhere; }
.event-data {
  margin: .3rem 0 0; font: .86rem/1.45 var(--mono); white-space: pre-wrap; overflow-wrap: anywhere;
}
.event-data:empty::before { content: "(empty data)"; color: var(--muted); font-style: italic; }
`;

// Plain browser JavaScript. No backticks or dollar-brace sequences in here: it sits inside a
// TypeScript template literal.
const SCRIPT = String.raw`
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const integer = new Intl.NumberFormat('en');
  const decimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
  const setText = (id, text) => { const el = $(id); if (el.textContent !== text) el.textContent = text; };
  const setState = (el, state, text) => { el.dataset.state = state; el.textContent = text; el.title = text; };

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? integer.format(n) : decimal.format(n)) + ' ' + units[i];
  }
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), r = s % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + r + 's';
    return r + 's';
  }

  $('hub-path').textContent = CONFIG.hubPath;
  $('mode').hidden = !CONFIG.dev;

  // A token given in the page's address (?authorization=…) opens the stats stream too; it is
  // then taken out of the address bar, where it would be seen and kept in the history.
  const params = new URLSearchParams(location.search);
  const pageToken = params.get('authorization');
  if (pageToken !== null) {
    params.delete('authorization');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
  }

  // ---- Live counters: "stats" events from the hub itself.
  const rates = [];
  const statsStatus = $('stats-status');
  const stats = new EventSource(CONFIG.statsPath +
    (pageToken !== null ? '?authorization=' + encodeURIComponent(pageToken) : ''));
  stats.onopen = () => setState(statsStatus, 'open', 'live');
  stats.onerror = () => {
    if (stats.readyState === EventSource.CLOSED) setState(statsStatus, 'closed', 'disconnected');
    else setState(statsStatus, 'connecting', 'reconnecting');
  };
  stats.addEventListener('stats', (e) => {
    const s = JSON.parse(e.data);
    setState(statsStatus, 'open', 'live');
    setText('connections', integer.format(s.connections));
    setText('viewers', typeof s.viewers === 'number' ? integer.format(s.viewers) : '–');
    setText('subscribers', integer.format(s.subscribers));
    setText('wildcard', integer.format(s.wildcardSubscribers));
    setText('topics', integer.format(s.topics));
    setText('templates', integer.format(s.templates));
    setText('events-per-second', decimal.format(s.eventsPerSecond));
    setText('events-total', integer.format(s.eventsTotal));
    setText('bytes-queued', bytes(s.bytesQueued));
    setText('events-delivered', typeof s.eventsDelivered === 'number' ? integer.format(s.eventsDelivered) : '–');
    setText('bytes-written', typeof s.bytesWritten === 'number' ? bytes(s.bytesWritten) : '–');
    setText('history-events', integer.format(s.history.events));
    setText('history-bytes', bytes(s.history.bytes));
    setText('uptime', duration(s.uptimeSeconds));
    spark(s.eventsPerSecond);
    topicList(s.selectors, s.selectorCount);
  });

  function spark(rate) {
    rates.push(rate);
    if (rates.length > 61) rates.shift();
    const max = Math.max(1, ...rates);
    const step = 60 / Math.max(1, rates.length - 1);
    const y = (r) => (19.5 - (r / max) * 12).toFixed(2);
    const points = rates.length === 1
      ? ['0,' + y(rates[0]), '60,' + y(rates[0])]
      : rates.map((r, i) => (i * step).toFixed(2) + ',' + y(r));
    $('spark-line').setAttribute('points', points.join(' '));
    $('spark-area').setAttribute('points', '0,20 ' + points.join(' ') + ' 60,20');
  }

  // Rows are kept per selector and updated in place, so a click is never lost to a re-render.
  const topicRows = new Map();
  function topicRow(selector, truncated) {
    let row = topicRows.get(selector);
    if (row) return row;
    row = document.createElement('tr');
    row.dataset.selector = selector;
    const name = document.createElement('td');
    if (truncated) {
      // Only the start of a long selector is sent: it cannot be followed from here.
      const text = document.createElement('code');
      text.textContent = selector + '…';
      text.title = 'A long selector, cut';
      name.append(text);
    } else {
      const link = document.createElement('button');
      link.type = 'button';
      link.className = 'link';
      link.textContent = selector;
      link.title = 'Follow ' + selector + ' in the live tail';
      link.addEventListener('click', () => { $('tail-selector').value = selector; follow(); });
      name.append(link);
    }
    const share = document.createElement('td');
    const bar = document.createElement('span');
    bar.className = 'bar';
    share.append(bar);
    const count = document.createElement('td');
    count.className = 'num';
    row.append(name, share, count);
    topicRows.set(selector, row);
    return row;
  }

  function topicList(selectors, total) {
    const max = selectors.length > 0 ? selectors[0].subscribers : 1;
    const seen = new Set();
    const rows = selectors.map((entry) => {
      const row = topicRow(entry.selector, entry.truncated === true);
      seen.add(entry.selector);
      row.cells[1].firstChild.style.width = Math.max(2, (entry.subscribers / max) * 100) + '%';
      row.cells[2].textContent = integer.format(entry.subscribers);
      return row;
    });
    for (const selector of topicRows.keys()) if (!seen.has(selector)) topicRows.delete(selector);
    const list = $('topic-list');
    if (rows.length !== list.children.length || rows.some((row, i) => list.children[i] !== row)) {
      list.replaceChildren(...rows);
    }
    $('topic-empty').hidden = rows.length > 0;
    setText('topic-count', total > selectors.length
      ? 'top ' + selectors.length + ' of ' + integer.format(total) : total > 0 ? String(total) : '');
  }

  // ---- Dev mode's publisher token: short-lived; renewed once half its life has passed.
  let token = CONFIG.publisherToken;
  let renewAt = performance.now() + CONFIG.tokenTtlMs / 2;
  async function devToken(force) {
    if (!force && performance.now() < renewAt) return token;
    const response = await fetch(CONFIG.tokenPath, { method: 'POST', cache: 'no-store' });
    if (!response.ok) {
      throw new Error('no fresh publisher token (' + response.status + ' ' + (await response.text()).trim() + ')');
    }
    const fresh = await response.json();
    token = fresh.token;
    renewAt = performance.now() + (fresh.expiresIn * 1000) / 2;
    return token;
  }

  // ---- Publish form: the Mercure form POST, as any backend would send it.
  const result = $('publish-result');
  $('publish-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const topics = $('publish-topics').value.split(/\s+/).filter((t) => t !== '');
    if (topics.length === 0) { setState(result, 'error', 'Give at least one topic.'); return; }
    const body = new URLSearchParams();
    for (const topic of topics) body.append('topic', topic);
    body.append('data', $('publish-data').value);
    const type = $('publish-type').value.trim();
    if (type !== '') body.append('type', type);
    if ($('publish-private').checked) body.append('private', 'on');
    const tokenInput = $('publish-token');
    const button = $('publish-submit');
    button.disabled = true;
    setState(result, 'pending', 'Publishing…');
    try {
      const send = async (force) => {
        const token = CONFIG.tokenPath !== ''
          ? await devToken(force)
          : CONFIG.publisherToken || (tokenInput ? tokenInput.value.trim() : '');
        const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
        if (token !== '') headers.Authorization = 'Bearer ' + token;
        return fetch(CONFIG.hubPath, { method: 'POST', headers, body });
      };
      let response = await send(false);
      // The token expired after all (a laptop asleep) or the hub restarted with a new key.
      if (response.status === 401 && CONFIG.tokenPath !== '') response = await send(true);
      const text = (await response.text()).trim();
      if (response.ok) {
        const id = document.createElement('code');
        id.id = 'publish-id';
        id.textContent = text;
        result.dataset.state = 'ok';
        result.replaceChildren('Published · id ', id);
      } else {
        setState(result, 'error', response.status + ' ' + response.statusText + (text ? ' — ' + text : ''));
      }
    } catch (error) {
      setState(result, 'error', 'The hub could not be reached: ' + error.message);
    } finally {
      button.disabled = false;
    }
  });

  // ---- Live tail. fetch() reads the stream rather than EventSource, because EventSource only
  // hands out events whose type a listener names in advance; a tail must show every type.
  const MAX_EVENTS = 100;
  const tailStatus = $('tail-status');
  const tailList = $('tail-list');
  let tailCount = 0;
  let tail = null;

  function stopTail(state, text) {
    if (tail) tail.abort();
    tail = null;
    $('tail-stop').disabled = true;
    setState(tailStatus, state || 'idle', text || 'stopped');
  }

  function follow() {
    stopTail();
    const selector = $('tail-selector').value.trim();
    if (selector === '') { setState(tailStatus, 'error', 'give a topic selector'); return; }
    const controller = new AbortController();
    tail = controller;
    $('tail-stop').disabled = false;
    run(selector, controller.signal);
  }

  function show(event) {
    tailCount += 1;
    setText('tail-count', integer.format(tailCount));
    const item = document.createElement('li');
    const meta = document.createElement('div');
    meta.className = 'event-meta';
    const time = document.createElement('time');
    time.textContent = new Date().toLocaleTimeString();
    const type = document.createElement('span');
    type.className = 'event-type';
    type.textContent = event.type;
    const id = document.createElement('span');
    id.className = 'event-id';
    id.textContent = event.id === '' ? '' : 'id ' + event.id;
    meta.append(time, type, id);
    const data = document.createElement('pre');
    data.className = 'event-data';
    data.textContent = event.data;
    item.append(meta, data);
    tailList.prepend(item);
    while (tailList.children.length > MAX_EVENTS) tailList.lastElementChild.remove();
  }

  async function run(selector, signal) {
    const url = CONFIG.hubPath + '?topic=' + encodeURIComponent(selector);
    const state = { lastEventId: '', retry: 2000 };
    while (!signal.aborted) {
      setState(tailStatus, 'connecting', 'connecting');
      try {
        const headers = { Accept: 'text/event-stream' };
        if (state.lastEventId !== '') headers['Last-Event-ID'] = state.lastEventId;
        const response = await fetch(url, { headers, signal, cache: 'no-store' });
        const contentType = response.headers.get('content-type') || '';
        // HTML standard: a response that is not 200 with text/event-stream fails the connection
        // for good (no reconnection).
        if (response.status !== 200 || !/^text\/event-stream\b/i.test(contentType)) {
          const text = (await response.text()).trim();
          if (tail && tail.signal === signal) {
            stopTail('error', response.status + ' ' + response.statusText + (text ? ' — ' + text : ''));
          }
          return;
        }
        setState(tailStatus, 'open', 'following ' + selector);
        const parser = createParser(state, show);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser(value);
        }
      } catch (error) {
        if (signal.aborted) return;
      }
      if (signal.aborted) return;
      setState(tailStatus, 'connecting', 'reconnecting');
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, state.retry);
        signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
    }
  }

  // The HTML standard's "interpreting an event stream", for decoded text (TextDecoderStream
  // decodes UTF-8 and drops a leading BOM). state.lastEventId persists across reconnections.
  function createParser(state, onEvent) {
    let buffer = '';
    let skipLF = false;
    let data = '';
    let hasData = false;
    let type = '';
    const breaks = /[\r\n]/g;
    function line(text) {
      if (text === '') {
        // "If the data buffer is an empty string, set the data buffer and the event type
        // buffer to the empty string and return."
        if (hasData) onEvent({ type: type || 'message', data, id: state.lastEventId });
        data = ''; hasData = false; type = '';
        return;
      }
      if (text[0] === ':') return;
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') { data = hasData ? data + '\n' + value : value; hasData = true; }
      else if (field === 'id') { if (value.indexOf('\0') < 0) state.lastEventId = value; }
      else if (field === 'retry') { if (/^[0-9]+$/.test(value)) state.retry = Number(value); }
    }
    return (chunk) => {
      if (skipLF && chunk[0] === '\n') chunk = chunk.slice(1);
      if (chunk !== '') skipLF = false;
      buffer += chunk;
      let start = 0;
      breaks.lastIndex = 0;
      for (let m = breaks.exec(buffer); m !== null; m = breaks.exec(buffer)) {
        line(buffer.slice(start, m.index));
        start = m.index + 1;
        if (m[0] === '\r') {
          if (start === buffer.length) skipLF = true;
          else if (buffer[start] === '\n') start += 1;
        }
        breaks.lastIndex = start;
      }
      buffer = buffer.slice(start);
    };
  }

  $('tail-form').addEventListener('submit', (e) => { e.preventDefault(); follow(); });
  $('tail-stop').addEventListener('click', () => stopTail());
  $('tail-clear').addEventListener('click', () => {
    tailList.replaceChildren();
    tailCount = 0;
    setText('tail-count', '0');
  });
})();
`;
