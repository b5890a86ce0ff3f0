// taskmgmt web UI: plain JavaScript over the HTTP API (no build step).
// Tokens live in sessionStorage, so a reload or a link opened in this tab
// keeps the session, and no other tab shares it.  A page load uses the
// stored access token while it is valid instead of refreshing: refresh
// tokens rotate on use, and a navigation that cut a refresh short would
// leave the tab with a spent one (the server then ends the session).
'use strict';

const state = { access: null, user: null, cursor: null, current: null, lastNotif: 0, ws: null };
const $ = (sel) => document.querySelector(sel);

function say(text, ok = false) {
  const m = $('#message');
  m.textContent = text || '';
  m.className = ok ? 'ok' : '';
}

async function api(method, path, body, retry = true) {
  const headers = { Accept: 'application/json' };
  if (state.access) headers.Authorization = `Bearer ${state.access}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && retry && sessionStorage.getItem('refresh_token')) {
    if (await refresh()) return api(method, path, body, false);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const detail = data && (data.errors && data.errors.length
      ? data.errors.map((e) => `${e.field}: ${e.message}`).join('; ')
      : data.detail || data.title);
    throw new Error(detail || `request failed (${res.status})`);
  }
  return data;
}

async function refresh() {
  const token = sessionStorage.getItem('refresh_token');
  try {
    const res = await fetch('/api/v1/auth/refresh', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: token }),
    });
    if (!res.ok) throw new Error('expired');
    signedIn(await res.json());
    return true;
  } catch (e) {
    signedOut();
    return false;
  }
}

function signedIn(tokens) {
  state.access = tokens.access_token;
  sessionStorage.setItem('access_token', tokens.access_token);
  sessionStorage.setItem('refresh_token', tokens.refresh_token);
}

// The stored access token if it is still good for 30 s, else null.
function storedAccessToken() {
  const token = sessionStorage.getItem('access_token');
  try {
    const claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return claims.exp * 1000 > Date.now() + 30000 ? token : null;
  } catch (e) {
    return null;
  }
}

function signedOut() {
  state.access = null;
  state.user = null;
  sessionStorage.removeItem('refresh_token');
  sessionStorage.removeItem('access_token');
  if (state.ws) state.ws.close();
  $('#auth').hidden = false;
  $('#app').hidden = true;
  $('#nav').hidden = true;
}

async function start() {
  state.user = await api('GET', '/api/v1/me');
  $('#who').textContent = state.user.display_name;
  $('#auth').hidden = true;
  $('#app').hidden = false;
  $('#nav').hidden = false;
  await loadTasks(true);
  await loadNotifications();
  connectNotifications();
  // links in notification emails point at /?task=ID and /?preferences; when
  // this tab has no session, they take effect after signing in
  const params = new URLSearchParams(location.search);
  const linked = params.get('task');
  if (linked && /^[0-9]+$/.test(linked)) await openTask(linked).catch((e) => say(e.message));
  if (params.has('preferences')) await showPreferences().catch((e) => say(e.message));
}

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value == null ? '' : String(value);
  if (cls) el.className = cls;
  return el;
}

const statusLabel = { todo: 'To Do', in_progress: 'In Progress', done: 'Done', canceled: 'Canceled' };

function taskRow(t) {
  const tr = document.createElement('tr');
  tr.dataset.id = t.id;
  tr.append(text('td', t.title), text('td', statusLabel[t.status] || t.status),
    text('td', t.priority, `prio-${t.priority}`), text('td', t.due_date || ''),
    text('td', t.assignee ? t.assignee.name : ''));
  const tags = document.createElement('td');
  for (const tag of t.tags) tags.append(text('span', tag, 'tag'));
  tr.append(tags);
  tr.addEventListener('click', () => openTask(t.id));
  return tr;
}

function filterParams() {
  const f = new FormData($('#filter-form'));
  const p = new URLSearchParams();
  for (const [k, v] of f) if (v) p.set(k, v);
  p.set('limit', '50');
  return p;
}

async function loadTasks(reset) {
  const p = filterParams();
  if (!reset && state.cursor) p.set('cursor', state.cursor);
  const page = await api('GET', `/api/v1/tasks?${p}`);
  const body = $('#tasks tbody');
  if (reset) body.replaceChildren();
  for (const t of page.items) body.append(taskRow(t));
  state.cursor = page.next_cursor;
  $('#more').hidden = !page.next_cursor;
}

async function openTask(id) {
  const t = await api('GET', `/api/v1/tasks/${id}`);
  state.current = t;
  // the address names the open task: a reload or a copied link reopens it
  history.replaceState(null, '', `/?task=${t.id}`);
  $('#detail').hidden = false;
  $('#detail-title').textContent = t.title;
  $('#detail-meta').textContent = `#${t.id} · ${statusLabel[t.status]} · priority ${t.priority}` +
    (t.due_date ? ` · due ${t.due_date}` : '') + (t.assignee ? ` · ${t.assignee.name}` : '');
  $('#detail-description').textContent = t.description;
  $('#detail-status').value = t.status;
  const [thread, events] = await Promise.all([
    api('GET', `/api/v1/tasks/${id}/comments`).catch(() => []),
    api('GET', `/api/v1/tasks/${id}/history`).catch(() => ({ items: [] })),
  ]);
  const comments = $('#comments');
  comments.replaceChildren();
  for (const c of (thread.items || thread)) {
    const li = text('li', c.deleted ? '(deleted)' : c.body, c.deleted ? 'deleted' : '');
    li.style.marginLeft = `${(c.depth || 0) * 1.5}rem`;
    comments.append(li);
  }
  const hist = $('#history');
  hist.replaceChildren();
  for (const e of (events.items || events)) hist.append(text('li', `${e.at.slice(0, 16).replace('T', ' ')} — ${e.description}`));
}

async function updateCurrent(patch) {
  const t = state.current;
  const res = await fetch(`/api/v1/tasks/${t.id}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${state.access}`, 'Content-Type': 'application/json', 'If-Match': `"${t.version}"` },
    body: JSON.stringify(patch),
  });
  if (res.status === 412) { say('Someone else changed this task; reloaded.'); await openTask(t.id); return; }
  if (!res.ok) { const d = await res.json().catch(() => ({})); throw new Error(d.detail || 'update failed'); }
  await openTask(t.id);
  await loadTasks(true);
  say('Saved.', true);
}

async function loadNotifications() {
  const page = await api('GET', '/api/v1/notifications?unread=true').catch(() => ({ items: [] }));
  const list = $('#notif-list');
  list.replaceChildren();
  for (const n of page.items) addNotification(n);
  $('#notif-count').textContent = String(page.items.length);
}

function addNotification(n) {
  state.lastNotif = Math.max(state.lastNotif, n.id);
  const li = text('li', n.message, n.read_at ? '' : 'unread');
  li.dataset.id = n.id;
  if (n.task_id) li.addEventListener('click', () => openTask(n.task_id));
  $('#notif-list').prepend(li);
}

// A notification means a task changed: show it without a reload.  Bursts
// (a bulk reassignment) coalesce into one list reload.
let refreshTimer = null;
function refreshSoon(taskId) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      await loadTasks(true);
      if (state.current && String(state.current.id) === String(taskId)) await openTask(taskId);
    } catch (e) { say(e.message); }
  }, 150);
}

function connectNotifications() {
  if (!('WebSocket' in window) || !state.access) return;
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/notifications/ws`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ access_token: state.access, since: state.lastNotif }));
  ws.onmessage = (ev) => {
    const n = JSON.parse(ev.data);
    if (!n.id || document.querySelector(`#notif-list li[data-id="${n.id}"]`)) return;
    addNotification(n);
    $('#notif-count').textContent = String(Number($('#notif-count').textContent) + 1);
    refreshSoon(n.task_id);
  };
  ws.onclose = () => { if (state.access && state.ws === ws) setTimeout(connectNotifications, 3000); };
}

// Notification preferences: what arrives in the app and by email, per event.
const eventLabel = {
  assigned: 'A task is assigned to you or your team', updated: 'A task you follow changes',
  commented: 'Someone comments on a task you follow', mentioned: 'Someone mentions you',
  due_soon: 'A task is due within 24 hours', overdue: 'A task is overdue',
};

async function showPreferences() {
  const prefs = await api('GET', '/api/v1/me/notification-preferences');
  const body = $('#prefs-form tbody');
  body.replaceChildren();
  for (const [ev, label] of Object.entries(eventLabel)) {
    const tr = document.createElement('tr');
    tr.append(text('td', label));
    for (const ch of ['in_app', 'email']) {
      const td = document.createElement('td');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.name = `${ev}.${ch}`;
      box.checked = Boolean(prefs[ev] && prefs[ev][ch]);
      box.setAttribute('aria-label', `${label}: ${ch === 'email' ? 'by email' : 'in the app'}`);
      td.append(box);
      tr.append(td);
    }
    body.append(tr);
  }
  $('#preferences').hidden = false;
  $('#preferences').scrollIntoView();
}

async function savePreferences() {
  const notifications = {};
  for (const box of document.querySelectorAll('#prefs-form input[type=checkbox]')) {
    const [ev, ch] = box.name.split('.');
    (notifications[ev] = notifications[ev] || {})[ch] = box.checked;
  }
  await api('PATCH', '/api/v1/me', { preferences: { notifications } });
  say('Preferences saved.', true);
}

// The one-click unsubscribe link of an email (List-Unsubscribe), opened in
// a browser: ask first, then POST to the same address, as a mail provider
// would.  The signed token in the address is the authority: no sign-in.
function unsubscribePage() {
  $('#auth').hidden = true;
  $('#unsubscribe').hidden = false;
  on('#unsubscribe-button', 'click', async () => {
    const res = await fetch(location.pathname + location.search, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    if (!res.ok) {
      const d = await res.json().catch(() => ({}));
      throw new Error(d.detail || `request failed (${res.status})`);
    }
    $('#unsubscribe-button').hidden = true;
    $('#unsubscribe-done').hidden = false;
  });
}

function on(sel, ev, fn) {
  $(sel).addEventListener(ev, async (e) => {
    if (ev === 'submit') e.preventDefault();
    try { await fn(e); } catch (err) { say(err.message); }
  });
}

on('#sign-in-form', 'submit', async (e) => {
  const f = new FormData(e.target);
  const tokens = await api('POST', '/api/v1/auth/token',
    { grant_type: 'password', username: f.get('email'), password: f.get('password') });
  signedIn(tokens);
  say('');
  await start();
});

on('#register-form', 'submit', async (e) => {
  const f = Object.fromEntries(new FormData(e.target));
  await api('POST', '/api/v1/auth/register', f);
  const tokens = await api('POST', '/api/v1/auth/token',
    { grant_type: 'password', username: f.email, password: f.password });
  signedIn(tokens);
  say('Welcome!', true);
  await start();
});

on('#sign-out', 'click', async () => {
  await api('POST', '/api/v1/auth/logout').catch(() => null);
  signedOut();
});

on('#task-form', 'submit', async (e) => {
  const f = new FormData(e.target);
  const task = { title: f.get('title'), priority: f.get('priority') };
  if (f.get('due_date')) task.due_date = f.get('due_date');
  const tags = String(f.get('tags') || '').split(',').map((s) => s.trim()).filter(Boolean);
  if (tags.length) task.tags = tags;
  await api('POST', '/api/v1/tasks', task);
  e.target.reset();
  await loadTasks(true);
  say('Task added.', true);
});

on('#filter-form', 'submit', () => loadTasks(true));
on('#more', 'click', () => loadTasks(false));
on('#detail-status', 'change', (e) => updateCurrent({ status: e.target.value }));
on('#assign-me', 'click', () => updateCurrent({ assignee: { type: 'user', id: state.user.id } }));
on('#comment-form', 'submit', async (e) => {
  const body = new FormData(e.target).get('body');
  await api('POST', `/api/v1/tasks/${state.current.id}/comments`, { body });
  e.target.reset();
  await openTask(state.current.id);
});
on('#notif-button', 'click', () => { $('#notifications').hidden = !$('#notifications').hidden; });
on('#prefs-button', 'click', () => ($('#preferences').hidden ? showPreferences() : ($('#preferences').hidden = true)));
on('#prefs-form', 'submit', savePreferences);
on('#mark-all', 'click', async () => {
  await api('POST', '/api/v1/notifications/read', { all: true });
  await loadNotifications();
});

if (location.pathname === '/api/v1/mail/unsubscribe') {
  unsubscribePage();
} else if (sessionStorage.getItem('refresh_token')) {
  state.access = storedAccessToken();
  (state.access ? Promise.resolve(true) : refresh()).then((ok) => ok && start()).catch(() => signedOut());
}
