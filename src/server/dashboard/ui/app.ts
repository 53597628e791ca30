/**
 * The dashboard page's script, bundled by the build into the page (see ../page-build.ts): live
 * counters from the hub's `stats` stream, the most subscribed topics, a publish form and a live
 * tail. Streams are read with `herald/client`; event data is only ever shown as text
 * (`textContent`), never parsed as HTML.
 * @packageDocumentation
 */

import {
  type HeraldClientError,
  type Subscription,
  subscribe,
  subscribeHub,
} from '../../../client/index.js';
import type { DashboardConfig } from '../page.js';
import type { DashboardSnapshot } from '../stats.js';

/** The element with this id; the page is static, so a missing one is a bug in index.html. */
function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

const integer = new Intl.NumberFormat('en');
const decimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

function setText(id: string, text: string): void {
  const element = $(id);
  if (element.textContent !== text) element.textContent = text;
}

function setState(element: HTMLElement, state: string, text: string): void {
  element.dataset.state = state;
  element.textContent = text;
  element.title = text;
}

function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = count;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i === 0 ? integer.format(n) : decimal.format(n)} ${units[i]}`;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${r}s`;
  return `${r}s`;
}

/** "401 Unauthorized — reason" for a refused response, else the error's message. */
function refusal(error: HeraldClientError): string {
  const response = error.response;
  if (response === undefined) return error.message;
  const reason = error.reason === undefined ? '' : ` — ${error.reason}`;
  return `${response.status} ${response.statusText}${reason}`;
}

/** Whether `error` is about the connection (it is being retried), not one dropped event. */
function connectionError(error: HeraldClientError): boolean {
  return error.code !== 'INVALID_JSON' && error.code !== 'EVENT_TOO_LARGE';
}

// The server writes the configuration into the page as a JSON data block (not a script).
const CONFIG = JSON.parse($('dashboard-config').textContent ?? '{}') as DashboardConfig;

$('hub-path').textContent = CONFIG.hubPath;
$('mode').hidden = !CONFIG.dev;

// A token given in the page's address (?authorization=…) opens the stats stream too; it is then
// taken out of the address bar, where it would be seen and kept in the history.
const params = new URLSearchParams(location.search);
const pageToken = params.get('authorization');
if (pageToken !== null) {
  params.delete('authorization');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
}

// ---- Live counters: "stats" events from the hub itself.
const rates: number[] = [];
const statsStatus = $('stats-status');
subscribe<{ stats: DashboardSnapshot }>(
  CONFIG.statsPath + (pageToken !== null ? `?authorization=${encodeURIComponent(pageToken)}` : ''),
  {
    json: true,
    events: ['stats'],
    // Snapshots carry no id: nothing to deduplicate.
    dedupe: false,
    onOpen: () => setState(statsStatus, 'open', 'live'),
    onError: (error) => {
      if (connectionError(error)) setState(statsStatus, 'connecting', 'reconnecting');
    },
    onClose: (reason) => {
      if (reason !== undefined) setState(statsStatus, 'closed', 'disconnected');
    },
  },
).on('stats', (s) => {
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
  setText(
    'events-delivered',
    typeof s.eventsDelivered === 'number' ? integer.format(s.eventsDelivered) : '–',
  );
  setText('bytes-written', typeof s.bytesWritten === 'number' ? bytes(s.bytesWritten) : '–');
  setText('history-events', integer.format(s.history.events));
  setText('history-bytes', bytes(s.history.bytes));
  setText('uptime', duration(s.uptimeSeconds));
  spark(s.eventsPerSecond);
  topicList(s.selectors, s.selectorCount);
});

function spark(rate: number): void {
  rates.push(rate);
  if (rates.length > 61) rates.shift();
  const max = Math.max(1, ...rates);
  const step = 60 / Math.max(1, rates.length - 1);
  const y = (r: number): string => (19.5 - (r / max) * 12).toFixed(2);
  const points =
    rates.length === 1
      ? [`0,${y(rate)}`, `60,${y(rate)}`]
      : rates.map((r, i) => `${(i * step).toFixed(2)},${y(r)}`);
  $('spark-line').setAttribute('points', points.join(' '));
  $('spark-area').setAttribute('points', `0,20 ${points.join(' ')} 60,20`);
}

// Rows are kept per selector and updated in place, so a click is never lost to a re-render.
interface TopicRow {
  row: HTMLTableRowElement;
  bar: HTMLSpanElement;
  count: HTMLTableCellElement;
}
const topicRows = new Map<string, TopicRow>();

function topicRow(selector: string, truncated: boolean): TopicRow {
  const known = topicRows.get(selector);
  if (known) return known;
  const row = document.createElement('tr');
  row.dataset.selector = selector;
  const name = document.createElement('td');
  if (truncated) {
    // Only the start of a long selector is sent: it cannot be followed from here.
    const text = document.createElement('code');
    text.textContent = `${selector}…`;
    text.title = 'A long selector, cut';
    name.append(text);
  } else {
    const link = document.createElement('button');
    link.type = 'button';
    link.className = 'link';
    link.textContent = selector;
    link.title = `Follow ${selector} in the live tail`;
    link.addEventListener('click', () => {
      $<HTMLInputElement>('tail-selector').value = selector;
      follow();
    });
    name.append(link);
  }
  const share = document.createElement('td');
  const bar = document.createElement('span');
  bar.className = 'bar';
  share.append(bar);
  const count = document.createElement('td');
  count.className = 'num';
  row.append(name, share, count);
  const entry = { row, bar, count };
  topicRows.set(selector, entry);
  return entry;
}

function topicList(selectors: DashboardSnapshot['selectors'], total: number): void {
  const max = selectors[0]?.subscribers ?? 1;
  const seen = new Set<string>();
  const rows = selectors.map((entry) => {
    const { row, bar, count } = topicRow(entry.selector, entry.truncated === true);
    seen.add(entry.selector);
    bar.style.width = `${Math.max(2, (entry.subscribers / max) * 100)}%`;
    count.textContent = integer.format(entry.subscribers);
    return row;
  });
  for (const selector of topicRows.keys()) if (!seen.has(selector)) topicRows.delete(selector);
  const list = $('topic-list');
  if (rows.length !== list.children.length || rows.some((row, i) => list.children[i] !== row)) {
    list.replaceChildren(...rows);
  }
  $('topic-empty').hidden = rows.length > 0;
  setText(
    'topic-count',
    total > selectors.length
      ? `top ${selectors.length} of ${integer.format(total)}`
      : total > 0
        ? String(total)
        : '',
  );
}

// ---- Dev mode's publisher token: short-lived; renewed once half its life has passed.
let token = CONFIG.publisherToken;
let renewAt = performance.now() + CONFIG.tokenTtlMs / 2;

async function devToken(force: boolean): Promise<string> {
  if (!force && performance.now() < renewAt) return token;
  const response = await fetch(CONFIG.tokenPath, { method: 'POST', cache: 'no-store' });
  if (!response.ok) {
    const text = (await response.text()).trim();
    throw new Error(`no fresh publisher token (${response.status} ${text})`);
  }
  const fresh = (await response.json()) as { token: string; expiresIn: number };
  token = fresh.token;
  renewAt = performance.now() + (fresh.expiresIn * 1000) / 2;
  return token;
}

// ---- Publish form: the Mercure form POST, as any backend would send it.
const result = $('publish-result');
const tokenInput = document.getElementById('publish-token') as HTMLInputElement | null;
const publishButton = $<HTMLButtonElement>('publish-submit');

async function publish(): Promise<void> {
  const topics = $<HTMLInputElement>('publish-topics')
    .value.split(/\s+/)
    .filter((t) => t !== '');
  if (topics.length === 0) {
    setState(result, 'error', 'Give at least one topic.');
    return;
  }
  const body = new URLSearchParams();
  for (const topic of topics) body.append('topic', topic);
  body.append('data', $<HTMLTextAreaElement>('publish-data').value);
  const type = $<HTMLInputElement>('publish-type').value.trim();
  if (type !== '') body.append('type', type);
  if ($<HTMLInputElement>('publish-private').checked) body.append('private', 'on');
  publishButton.disabled = true;
  setState(result, 'pending', 'Publishing…');
  try {
    const send = async (force: boolean): Promise<Response> => {
      const bearer =
        CONFIG.tokenPath !== ''
          ? await devToken(force)
          : CONFIG.publisherToken || (tokenInput ? tokenInput.value.trim() : '');
      const headers: Record<string, string> = {
        'Content-Type': 'application/x-www-form-urlencoded',
      };
      if (bearer !== '') headers.Authorization = `Bearer ${bearer}`;
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
      setState(
        result,
        'error',
        `${response.status} ${response.statusText}${text ? ` — ${text}` : ''}`,
      );
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    setState(result, 'error', `The hub could not be reached: ${message}`);
  } finally {
    publishButton.disabled = false;
  }
}

$('publish-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void publish();
});

// ---- Live tail: subscribeHub hands out every event type (EventSource only those a listener
// names in advance), reconnects with Last-Event-ID, and stops for good on a refusal.
const MAX_EVENTS = 100;
const tailStatus = $('tail-status');
const tailList = $('tail-list');
const tailStop = $<HTMLButtonElement>('tail-stop');
let tailCount = 0;
let tail: Subscription | null = null;

function stopTail(state = 'idle', text = 'stopped'): void {
  const running = tail;
  tail = null;
  running?.close();
  tailStop.disabled = true;
  setState(tailStatus, state, text);
}

function show(type: string, data: string, lastEventId: string): void {
  tailCount += 1;
  setText('tail-count', integer.format(tailCount));
  const item = document.createElement('li');
  const meta = document.createElement('div');
  meta.className = 'event-meta';
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  const typeLabel = document.createElement('span');
  typeLabel.className = 'event-type';
  typeLabel.textContent = type;
  const id = document.createElement('span');
  id.className = 'event-id';
  id.textContent = lastEventId === '' ? '' : `id ${lastEventId}`;
  meta.append(time, typeLabel, id);
  const text = document.createElement('pre');
  text.className = 'event-data';
  text.textContent = data;
  item.append(meta, text);
  tailList.prepend(item);
  while (tailList.children.length > MAX_EVENTS) tailList.lastElementChild?.remove();
}

function follow(): void {
  stopTail();
  const selector = $<HTMLInputElement>('tail-selector').value.trim();
  if (selector === '') {
    setState(tailStatus, 'error', 'give a topic selector');
    return;
  }
  tailStop.disabled = false;
  setState(tailStatus, 'connecting', 'connecting');
  const subscription: Subscription = subscribeHub(CONFIG.hubPath, {
    topics: selector,
    // The hub may send no heartbeats (--heartbeat 0): a quiet topic is not a dead connection.
    idleTimeoutMs: 0,
    onOpen: () => {
      if (tail === subscription) setState(tailStatus, 'open', `following ${selector}`);
    },
    onEvent: (event) => show(event.type, event.raw, event.lastEventId),
    // Shown like any event: the hub's history no longer holds all that was asked for.
    onGap: (gap) => show('herald.gap', JSON.stringify(gap), subscription.lastEventId),
    onError: (error) => {
      if (tail === subscription && connectionError(error)) {
        setState(tailStatus, 'connecting', 'reconnecting');
      }
    },
    onClose: (reason) => {
      // A refusal (a status other than 200, not an event stream) is final, as in EventSource.
      if (tail === subscription && reason !== undefined) stopTail('error', refusal(reason));
    },
  });
  tail = subscription;
}

$('tail-form').addEventListener('submit', (e) => {
  e.preventDefault();
  follow();
});
tailStop.addEventListener('click', () => stopTail());
$('tail-clear').addEventListener('click', () => {
  tailList.replaceChildren();
  tailCount = 0;
  setText('tail-count', '0');
});
