// Notifications: newest first, unread ones marked, mark read / mark all
// read, paging; new ones arrive over the websocket (App keeps the count).
import { useEffect, useState } from 'react';
import { call, client, type Notification } from './api';
import { subscribe } from './live';
import { href, navigate } from './route';
import { Empty, ErrorNote, Loading, say, toApiError, useLoad, useSession } from './ui';
import { when } from './util';

export function InboxScreen() {
  const { refreshUnread, unread } = useSession();
  const [unreadOnly, setUnreadOnly] = useState(false);
  const page = useLoad(() => call(() => client.GET('/api/v1/notifications', {
    params: { query: { limit: 50, ...(unreadOnly ? { unread: 'true' } : {}) } },
  })), [unreadOnly]);

  useEffect(() => subscribe((e) => {
    if (e.type === 'resync') void page.reload();
    else if (page.data && !page.data.items.some((n) => n.id === e.notification.id)) {
      page.setData({ ...page.data, items: [e.notification, ...page.data.items] });
    }
  }), [page.data]); // eslint-disable-line react-hooks/exhaustive-deps

  async function mark(ids: number[] | 'all') {
    try {
      await call(() => client.POST('/api/v1/notifications/read', { body: ids === 'all' ? { all: true } : { ids } }));
      const now = new Date().toISOString();
      if (page.data) {
        page.setData({ ...page.data, items: page.data.items.map((n) => (ids === 'all' || ids.includes(n.id) ? { ...n, read_at: n.read_at ?? now } : n)) });
      }
      refreshUnread();
      if (ids === 'all') say('All notifications marked read.');
    } catch (e) {
      say(toApiError(e).message, 'error');
    }
  }

  async function more() {
    const d = page.data;
    if (!d?.next_cursor) return;
    try {
      const next = await call(() => client.GET('/api/v1/notifications', {
        params: { query: { limit: 50, cursor: d.next_cursor!, ...(unreadOnly ? { unread: 'true' } : {}) } },
      }));
      page.setData({ items: [...d.items, ...next.items], next_cursor: next.next_cursor });
    } catch (e) {
      say(toApiError(e).message, 'error');
    }
  }

  const open = (n: Notification) => {
    if (!n.read_at) void mark([n.id]);
    navigate(href({ task: n.task_id }));
  };
  const items = page.data?.items ?? [];
  return (
    <main id="main" aria-labelledby="screen-title">
      <div className="screen-head">
        <h1 id="screen-title">Notifications</h1>
        <div className="actions">
          <label className="check"><input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.target.checked)} /> Unread only</label>
          <button type="button" id="mark-all" onClick={() => mark('all')} disabled={unread === 0 && !items.some((n) => !n.read_at)}>Mark all read</button>
        </div>
      </div>
      {page.loading && !page.data && <Loading what="notifications" />}
      <ErrorNote error={page.error} />
      {page.data && items.length === 0 && <Empty>{unreadOnly ? 'No unread notifications.' : 'Nothing yet. When someone assigns you a task or mentions you, it shows here.'}</Empty>}
      <ul className="inbox card" id="notif-list">
        {items.map((n) => (
          <li key={n.id} className={n.read_at ? 'read' : 'unread'} data-notification-id={n.id}>
            <button type="button" className="link notif-open" data-nav onClick={() => open(n)}>
              {!n.read_at && <span className="sr-only">Unread: </span>}{n.message}
            </button>
            <time dateTime={n.created_at} className="muted">{when(n.created_at)}</time>
            {!n.read_at && <button type="button" className="small" onClick={() => mark([n.id])}>Mark read<span className="sr-only">: {n.message}</span></button>}
          </li>
        ))}
      </ul>
      {page.data?.next_cursor && <button type="button" onClick={more}>Load more</button>}
    </main>
  );
}
