// The chat page: sign in, open one subscription for every room, presence and our private
// inbox, and keep a list of messages per conversation. Sending is a plain POST.
import { subscribeHub } from '/vendor/herald/client.browser.js';

const STORAGE_KEY = 'herald-chat';
const $ = (id) => document.getElementById(id);

/** `{ name, token, rooms }` once signed in; kept in localStorage so a reload stays signed in. */
let session = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
/** Conversations by key (`room:general`, `dm:bob`): their messages and unread count. */
const conversations = new Map();
let current = 'room:general';
let online = [];
let sub;

// For the end-to-end test: every event id this page received, in order.
window.__received = [];

// ---- sign-in -------------------------------------------------------------------------------

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: $('name').value }),
  });
  const body = await response.json();
  if (!response.ok) {
    $('login-error').textContent = body.error;
    return;
  }
  session = body;
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  start();
});

$('logout').addEventListener('click', () => signOut());

function signOut(message = '') {
  sub?.close();
  localStorage.removeItem(STORAGE_KEY);
  location.hash = message;
  location.reload();
}

// ---- the subscription ----------------------------------------------------------------------

function setStatus(text) {
  $('status').textContent = text;
  $('status').className = `status ${text}`;
}

function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('me-name').textContent = session.name;
  paintAvatar($('me-avatar'), session.name);
  for (const room of session.rooms) conversation(`room:${room}`);
  select(current);

  sub = subscribeHub('/events', {
    // A URI template for every room, the presence topic, and our own inbox (private updates:
    // the token says we may read it).
    topics: ['/chat/rooms/{room}', '/chat/presence', `/chat/users/${session.name}/inbox`],
    token: () => session.token,
    json: true,
    // Come back quickly after a restart: 250 ms, then exponential backoff with jitter, ≤ 2 s.
    minDelayMs: 250,
    maxDelayMs: 2000,
    onOpen: () => setStatus('live'),
    onError: () => setStatus(sub.readyState === 2 ? 'closed' : 'reconnecting'),
    onClose: (reason) => {
      setStatus('closed');
      // 401: the token is no longer valid (the server's secret changed): sign in again.
      if (reason?.response?.status === 401) signOut('signed-out');
    },
  });
  const record = (handler) => (data, event) => {
    window.__received.push(event.lastEventId);
    handler(data, event);
  };
  sub.on(
    'message',
    record((m, e) => add(`room:${m.room}`, m, e.lastEventId)),
  );
  sub.on(
    'direct',
    record((m, e) => add(`dm:${m.from === session.name ? m.to : m.from}`, m, e.lastEventId)),
  );
  sub.on(
    'presence',
    record((p) => {
      online = p.online;
      renderLists();
    }),
  );
}

// ---- conversations -------------------------------------------------------------------------

function conversation(key) {
  let c = conversations.get(key);
  if (c === undefined) {
    c = { messages: [], unread: 0 };
    conversations.set(key, c);
  }
  return c;
}

function add(key, message, id) {
  const c = conversation(key);
  c.messages.push({ ...message, id });
  if (key === current) appendMessage({ ...message, id });
  else if (message.from !== session.name) c.unread += 1;
  renderLists();
}

function select(key) {
  current = key;
  const c = conversation(key);
  c.unread = 0;
  const [kind, name] = key.split(':');
  $('title').textContent = kind === 'room' ? `# ${name}` : `@ ${name}`;
  $('subtitle').textContent =
    kind === 'room'
      ? `topic /chat/rooms/${name}`
      : `private: only you and ${name} receive these (inbox topics, authorized by your token)`;
  $('text').placeholder = kind === 'room' ? `Message #${name}` : `Message ${name} privately`;
  $('messages').replaceChildren();
  if (c.messages.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = 'No messages yet. Say hello!';
    $('messages').append(empty);
  }
  for (const m of c.messages) appendMessage(m);
  renderLists();
  $('text').focus();
}

function appendMessage(m) {
  $('messages').querySelector('.empty')?.remove();
  const li = document.createElement('li');
  li.dataset.id = m.id;
  if (m.from === session.name) li.classList.add('mine');
  const avatar = document.createElement('span');
  paintAvatar(avatar, m.from);
  const who = document.createElement('div');
  who.className = 'who';
  who.textContent = m.from;
  const time = document.createElement('time');
  time.textContent = new Date(m.time).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
  });
  who.append(time);
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = m.text; // textContent: never HTML from other people
  li.append(avatar, who, text);
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom || m.from === session.name) list.scrollTop = list.scrollHeight;
}

function paintAvatar(element, name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) % 360;
  element.className = 'avatar';
  element.textContent = name.slice(0, 1);
  element.style.background = `hsl(${hash} 55% 52%)`;
}

function renderLists() {
  const item = (key, label, marker) => {
    const c = conversation(key);
    const li = document.createElement('li');
    li.dataset.key = key;
    if (key === current) li.classList.add('active');
    if (c.unread > 0) li.classList.add('unread');
    li.append(marker);
    li.append(label);
    if (c.unread > 0) {
      const count = document.createElement('span');
      count.className = 'count';
      count.textContent = String(c.unread);
      li.append(count);
    }
    li.addEventListener('click', () => select(key));
    return li;
  };
  $('rooms').replaceChildren(
    ...session.rooms.map((room) => {
      const hash = document.createElement('span');
      hash.className = 'hash';
      hash.textContent = '#';
      return item(`room:${room}`, room, hash);
    }),
  );
  // People: whoever is online, plus anyone we have a conversation with.
  const people = new Set(online);
  for (const key of conversations.keys()) if (key.startsWith('dm:')) people.add(key.slice(3));
  people.delete(session.name);
  $('people').replaceChildren(
    ...[...people].sort().map((name) => {
      const dot = document.createElement('span');
      dot.className = online.includes(name) ? 'dot on' : 'dot';
      return item(`dm:${name}`, name, dot);
    }),
  );
  $('nobody').hidden = people.size > 0;
}

// ---- sending -------------------------------------------------------------------------------

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (text === '') return;
  const [kind, name] = current.split(':');
  const response = await fetch('/api/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
    body: JSON.stringify(kind === 'room' ? { room: name, text } : { to: name, text }),
  });
  // The message itself comes back over the stream, like everyone else's.
  if (response.ok) $('text').value = '';
});

if (session === null) {
  $('login').hidden = false;
  if (location.hash === '#signed-out') $('login-error').textContent = 'Please sign in again.';
} else {
  start();
}
