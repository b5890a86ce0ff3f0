// The notification websocket: authenticates with its first frame
// {"access_token", "since"}, reconnects with backoff and catches up from the
// last id it saw; a refreshed token is sent on the open socket to extend it.
// Subscribers hear each notification once, and "resync" after a reconnect
// (what changed meanwhile without notifying us must be fetched again).
import { accessToken, onToken, refresh, type Notification } from './api';

export type LiveEvent = { type: 'notification'; notification: Notification } | { type: 'resync' };
type Listener = (e: LiveEvent) => void;

const listeners = new Set<Listener>();
let ws: WebSocket | null = null;
let lastId = 0;
let running = false;
let retries = 0;
let retryTimer: number | undefined;
let everOpened = false;

export function subscribe(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** This page changed something: views refetch as after a reconnect. */
export function announceChange(): void {
  emit({ type: 'resync' });
}

function emit(e: LiveEvent) {
  for (const fn of listeners) fn(e);
}

function connect() {
  const token = accessToken();
  if (!running || !token) return;
  const sock = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/notifications/ws`);
  ws = sock;
  sock.onopen = () => {
    sock.send(JSON.stringify({ access_token: accessToken(), since: lastId }));
    if (everOpened) emit({ type: 'resync' });
    everOpened = true;
  };
  sock.onmessage = (ev) => {
    retries = 0;
    let n: Notification;
    try { n = JSON.parse(String(ev.data)) as Notification; } catch { return; }
    if (typeof n.id !== 'number' || n.id <= lastId) return;
    lastId = n.id;
    emit({ type: 'notification', notification: n });
  };
  sock.onclose = async (ev) => {
    if (ws !== sock) return;
    ws = null;
    if (!running) return;
    // 1008: refused (usually an expired token): refresh before trying again
    if (ev.code === 1008 && !(await refresh())) return;
    const delay = Math.min(30_000, 1000 * 2 ** retries++);
    retryTimer = window.setTimeout(connect, delay);
  };
}

/** Starts the socket; since = the newest notification id already shown. */
export function start(since: number): void {
  lastId = Math.max(lastId, since);
  if (running) return;
  running = true;
  connect();
}

export function stop(): void {
  running = false;
  everOpened = false;
  lastId = 0;
  window.clearTimeout(retryTimer);
  const s = ws;
  ws = null;
  s?.close();
}

onToken((token) => {
  if (!token) stop();
  else if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ access_token: token }));
});

// coming back online: reconnect at once rather than after the backoff
window.addEventListener('online', () => {
  if (running && !ws) { window.clearTimeout(retryTimer); retries = 0; connect(); }
});
