// The notifications page: one EventSource, one listener per notification type, a badge that
// counts what you have not read yet, and toasts for what arrives while you look.
import { EventSource } from '/vendor/herald/client.browser.js';

const $ = (id) => document.getElementById(id);
const TYPES = ['info', 'alert', 'order'];

/** Newest first: `{ id, type, title, body, time }`. */
let notifications = [];
/** Ids read, per user, kept in localStorage so the badge survives a reload. */
let read = new Set();
let user;
let source;
const loadedAt = Date.now();

// For the end-to-end test: every event id this page received, in order.
window.__received = [];

// ---- who am I (the session cookie decides what /events streams) --------------------------

async function signIn(id) {
  // The server sets the session cookie; /events reads it (same origin: it is sent).
  await fetch('/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: id }),
  });
  user = id;
  $('user').value = id;
  $('hello').textContent = `Hello, ${me.users.find((u) => u.id === id).name.split(' ')[0]}`;
  $('topic').textContent = `/users/${id}/notifications`;
  read = new Set(JSON.parse(localStorage.getItem(`herald-read-${id}`) ?? '[]'));
  notifications = [];
  window.__received = [];
  render();
  connect();
}

// ---- the stream ----------------------------------------------------------------------------

function setStatus(text) {
  $('status').textContent = text;
  $('status').className = `status ${text}`;
}

function connect() {
  source?.close();
  // Herald's EventSource: the WHATWG API, so this is also what the browser's own would run.
  // It reconnects by itself and sends Last-Event-ID; the server then replays what we missed.
  source = new EventSource('/events');
  source.onopen = () => setStatus('live');
  source.onerror = () =>
    setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  for (const type of TYPES) {
    source.addEventListener(type, (event) => {
      window.__received.push(event.lastEventId);
      receive({ id: event.lastEventId, type, ...JSON.parse(event.data) });
    });
  }
}

function receive(n) {
  notifications.unshift(n);
  notifications.length = Math.min(notifications.length, 100);
  // A toast for what happens now; not for the history the page gets when it opens.
  if (n.time >= loadedAt) toast(n);
  render(true);
}

// ---- rendering -----------------------------------------------------------------------------

function ago(time) {
  const s = Math.max(0, Math.round((Date.now() - time) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

const ICONS = { info: 'i', alert: '!', order: '▣' };

function item(n) {
  const li = document.createElement('li');
  li.className = `item ${n.type}${read.has(n.id) ? '' : ' unread'}`;
  li.dataset.id = n.id;
  const icon = document.createElement('span');
  icon.className = 'icon';
  icon.textContent = ICONS[n.type];
  const text = document.createElement('div');
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = n.title;
  const body = document.createElement('div');
  body.className = 'body';
  body.textContent = n.body;
  text.append(title, body);
  const time = document.createElement('time');
  time.textContent = ago(n.time);
  li.append(icon, text, time);
  return li;
}

let lastUnread = 0;
function render(bump = false) {
  const unread = notifications.filter((n) => !read.has(n.id)).length;
  const badge = $('badge');
  badge.hidden = unread === 0;
  badge.textContent = unread > 99 ? '99+' : String(unread);
  if (bump && unread > lastUnread) {
    badge.classList.remove('bump');
    void badge.offsetWidth; // restart the animation
    badge.classList.add('bump');
  }
  lastUnread = unread;
  document.title = unread > 0 ? `(${unread}) Herald Notifications` : 'Herald Notifications';
  $('list').replaceChildren(...notifications.slice(0, 30).map(item));
  $('empty').hidden = notifications.length > 0;
  $('feed').replaceChildren(...notifications.slice(0, 6).map(item));
  for (const type of TYPES) {
    $(`count-${type}`).textContent = String(notifications.filter((n) => n.type === type).length);
  }
}

setInterval(() => render(), 10_000); // keep "2m ago" fresh

function toast(n) {
  const div = document.createElement('div');
  div.className = `toast ${n.type}`;
  const title = document.createElement('strong');
  title.textContent = n.title;
  const body = document.createElement('div');
  body.className = 'body';
  body.textContent = n.body;
  div.append(title, body);
  $('toasts').append(div);
  while ($('toasts').children.length > 3) $('toasts').firstElementChild.remove();
  setTimeout(() => div.remove(), n.type === 'alert' ? 8000 : 4000);
}

// ---- interactions --------------------------------------------------------------------------

$('bell').addEventListener('click', () => {
  const open = $('panel').hidden;
  $('panel').hidden = !open;
  $('bell').setAttribute('aria-expanded', String(open));
});

$('mark-read').addEventListener('click', () => {
  for (const n of notifications) read.add(n.id);
  localStorage.setItem(`herald-read-${user}`, JSON.stringify([...read].slice(-500)));
  render();
});

for (const button of document.querySelectorAll('[data-send]')) {
  button.addEventListener('click', () =>
    fetch('/api/notify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: button.dataset.send }),
    }),
  );
}

// ---- start: sign in as the session's user (or the first demo user) ------------------------

const me = await (await fetch('/api/me')).json();
for (const u of me.users) $('user').add(new Option(u.name, u.id));
await signIn(me.user ?? me.users[0].id);

$('user').addEventListener('change', () => signIn($('user').value));
