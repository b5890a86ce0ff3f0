// The shell: session start (refresh token from sessionStorage), header and
// navigation with the unread count, the live socket, keyboard shortcuts,
// the create-task and help dialogs, and the current screen.
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, call, client, hasStoredSession, onToken, refresh, signOut, type Priority, type Team, type User } from './api';
import { Auth } from './Auth';
import { InboxScreen } from './Inbox';
import { announceChange, start as startLive, subscribe } from './live';
import { ProfileScreen } from './Profile';
import { href, navigate, useRoute, type View } from './route';
import { AssigneeSelect, TaskDetail, TeamSelect, assigneeInput } from './TaskDetail';
import { TasksScreen } from './Tasks';
import { TeamsScreen } from './Teams';
import { Unsubscribe } from './Unsubscribe';
import { Dialog, ErrorNote, FieldError, SessionContext, StatusLine, invalid, say, toApiError, useSession, type Session } from './ui';
import { PRIORITIES, PRIORITY_LABEL, parseTags } from './util';

const NAV: [View, string][] = [['board', 'Board'], ['list', 'List'], ['teams', 'Teams'], ['inbox', 'Inbox'], ['profile', 'Profile']];

function CreateTask({ onDone }: { onDone: () => void }) {
  const { teams, me } = useSession();
  const [error, setError] = useState<ApiError | null>(null);
  const [assignee, setAssignee] = useState(`user:${me.id}`);
  const [team, setTeam] = useState('');
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setError(null);
    try {
      const t = await call(() => client.POST('/api/v1/tasks', {
        body: {
          title: String(f.get('title')), description: String(f.get('description') ?? ''),
          priority: f.get('priority') as Priority, due_date: (f.get('due_date') as string) || null,
          assignee: assigneeInput(assignee), team_id: team ? Number(team) : null, tags: parseTags(String(f.get('tags') ?? '')),
        },
      }));
      say(`Created “${t.title}”.`);
      announceChange();
      onDone();
    } catch (err) {
      setError(toApiError(err));
    }
  }
  return (
    <form id="task-form" className="task-form" onSubmit={submit}>
      <ErrorNote error={error && !error.problem.errors?.length ? error : null} />
      <div className="field wide">
        <label htmlFor="c-title">Title</label>
        <input id="c-title" name="title" required maxLength={200} data-autofocus {...invalid(error, 'title', 'e-c-title')} />
        <FieldError error={error} field="title" id="e-c-title" />
      </div>
      <div className="field wide">
        <label htmlFor="c-description">Description</label>
        <textarea id="c-description" name="description" rows={3} />
      </div>
      <div className="field">
        <label htmlFor="c-priority">Priority</label>
        <select id="c-priority" name="priority" defaultValue="none">
          {PRIORITIES.map((p) => <option key={p} value={p}>{PRIORITY_LABEL[p]}</option>)}
        </select>
      </div>
      <div className="field">
        <label htmlFor="c-due">Due date</label>
        <input id="c-due" name="due_date" type="date" {...invalid(error, 'due_date', 'e-c-due')} />
        <FieldError error={error} field="due_date" id="e-c-due" />
      </div>
      <div className="field">
        <label htmlFor="c-assignee">Assignee</label>
        <AssigneeSelect id="c-assignee" value={assignee} onChange={setAssignee} describedBy={invalid(error, 'assignee', 'e-c-assignee')} />
        <FieldError error={error} field="assignee" id="e-c-assignee" />
      </div>
      <div className="field">
        <label htmlFor="c-team">Team</label>
        <TeamSelect id="c-team" value={team} onChange={setTeam} teams={teams.filter((t) => t.members.some((m) => m.user_id === me.id))} />
      </div>
      <div className="field wide">
        <label htmlFor="c-tags">Tags (comma separated)</label>
        <input id="c-tags" name="tags" {...invalid(error, 'tags', 'e-c-tags')} />
        <FieldError error={error} field="tags" id="e-c-tags" />
      </div>
      <div className="actions wide">
        <button type="submit" className="primary">Create task</button>
      </div>
    </form>
  );
}

const SHORTCUTS: [string, string][] = [
  ['c', 'Create a task'], ['/', 'Search'], ['j / k', 'Next / previous task or item'], ['Enter', 'Open the focused task'],
  ['v', 'Saved views (board, list)'], ['b', 'Board'], ['l', 'List'], ['i', 'Notifications'], ['?', 'This help'], ['Esc', 'Close a dialog'],
];

function focusHeading() {
  const h = document.querySelector<HTMLElement>('main h1');
  h?.setAttribute('tabindex', '-1');
  h?.focus();
}

function typing(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  return !!el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const session = useSession();
  const route = useRoute();
  // board and list keep the filters (and the saved view they came from)
  const link = (v: View) => (v === 'board' || v === 'list' ? href({ view: v, task: null, filter: route.filter, saved: route.saved }) : href({ view: v }));
  const [creating, setCreating] = useState(false);
  const [help, setHelp] = useState(false);

  // attached before paint, so a shortcut typed as soon as a screen shows works
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target) || document.querySelector('dialog[open]')) return;
      const go = (v: View) => navigate(link(v));
      if (e.key === 'c') { e.preventDefault(); setCreating(true); }
      else if (e.key === '?') { e.preventDefault(); setHelp(true); }
      else if (e.key === '/') {
        e.preventDefault();
        const elsewhere = route.task || (route.view !== 'board' && route.view !== 'list');
        const focus = () => document.getElementById('search')?.focus();
        // at once when the box is on screen, so keys typed right after '/' land in it
        if (elsewhere) { navigate(href({ view: 'list', task: null }, route)); requestAnimationFrame(focus); } else focus();
      } else if (e.key === 'j' || e.key === 'k') {
        const items = [...document.querySelectorAll<HTMLElement>('main [data-nav]')];
        if (!items.length) return;
        e.preventDefault();
        const at = items.indexOf(document.activeElement as HTMLElement);
        const next = at < 0 ? (e.key === 'j' ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, at + (e.key === 'j' ? 1 : -1)));
        items[next].focus();
        items[next].scrollIntoView({ block: 'nearest' });
      } else if (e.key === 'v' && !route.task && (route.view === 'board' || route.view === 'list')) {
        e.preventDefault();
        document.getElementById('views-button')?.click();
      } else if (e.key === 'b') go('board');
      else if (e.key === 'l') go('list');
      else if (e.key === 'i') go('inbox');
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [route]);

  // screen changes move focus to the new screen's heading, as a page load would
  const first = useRef(true);
  useEffect(() => {
    if (first.current) { first.current = false; return; }
    if (!route.task) focusHeading();
  }, [route.view, route.task]);

  return (
    <>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); focusHeading(); }}>Skip to content</a>
      <header className="top">
        <a className="brand" href="/" onClick={(e) => { e.preventDefault(); navigate('/'); }}>
          <img src="/favicon.svg" alt="" width="22" height="22" /> taskmgmt
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([v, label]) => (
              <li key={v}>
                <a href={link(v)} aria-current={route.view === v && !route.task ? 'page' : undefined}
                  onClick={(e) => { e.preventDefault(); navigate(link(v)); }}>
                  {label}
                  {v === 'inbox' && session.unread > 0 && (
                    <span className="badge" id="notif-count" aria-label={`${session.unread} unread`}>{session.unread > 199 ? '200+' : session.unread}</span>
                  )}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who-box">
          <button type="button" className="primary" onClick={() => setCreating(true)} aria-keyshortcuts="c">New task</button>
          <button type="button" className="ghost" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts" aria-keyshortcuts="?">?</button>
          <span id="who">{session.me.display_name}</span>
          <button type="button" id="sign-out" onClick={onSignOut}>Sign out</button>
        </div>
      </header>
      {route.task ? <TaskDetail key={route.task} route={route} id={route.task} />
        : route.view === 'teams' ? <TeamsScreen route={route} />
          : route.view === 'inbox' ? <InboxScreen />
            : route.view === 'profile' ? <ProfileScreen />
              : <TasksScreen route={route} />}
      <Dialog id="create-dialog" open={creating} onClose={() => setCreating(false)} title="New task">
        <CreateTask onDone={() => setCreating(false)} />
      </Dialog>
      <Dialog id="help-dialog" open={help} onClose={() => setHelp(false)} title="Keyboard shortcuts">
        <dl className="shortcuts">
          {SHORTCUTS.map(([k, what]) => <div key={k}><dt><kbd>{k}</kbd></dt><dd>{what}</dd></div>)}
        </dl>
        <p className="muted">On the board, each card also has buttons to move it to the next or previous column.</p>
      </Dialog>
    </>
  );
}

export function App() {
  // the unsubscribe link of an email needs no session (GET of that address serves this page)
  if (location.pathname === '/api/v1/mail/unsubscribe') return <><Unsubscribe /><StatusLine /></>;
  return <SignedInApp />;
}

function SignedInApp() {
  const [phase, setPhase] = useState<'boot' | 'out' | 'in'>(hasStoredSession() ? 'boot' : 'out');
  const [me, setMe] = useState<User | null>(null);
  const [teams, setTeams] = useState<Team[]>([]);
  const [unread, setUnread] = useState(0);

  const reloadTeams = useCallback(async () => {
    setTeams(await call(() => client.GET('/api/v1/teams')).catch(() => []));
  }, []);
  const refreshUnread = useCallback(() => {
    void call(() => client.GET('/api/v1/notifications', { params: { query: { unread: 'true', limit: 200 } } }))
      .then((p) => setUnread(p.items.length + (p.next_cursor ? 1 : 0))).catch(() => undefined);
  }, []);

  const enter = useCallback(async () => {
    const [user, , latest] = await Promise.all([
      call(() => client.GET('/api/v1/me')),
      reloadTeams(),
      call(() => client.GET('/api/v1/notifications', { params: { query: { limit: 1 } } })).catch(() => null),
    ]);
    setMe(user);
    refreshUnread();
    setPhase('in');
    startLive(latest?.items[0]?.id ?? 0);
  }, [reloadTeams, refreshUnread]);

  useEffect(() => {
    if (phase === 'boot') {
      refresh().then((ok) => (ok ? enter() : setPhase('out'))).catch(() => setPhase('out'));
    }
    return onToken((t) => { if (!t) { setPhase('out'); setMe(null); } });
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => subscribe((e) => {
    if (e.type === 'notification') {
      setUnread((n) => n + 1);
      say(e.notification.message);
      // a new team assignment may mean a new team: keep pickers current
      if (e.notification.event === 'assigned') void reloadTeams();
    } else refreshUnread();
  }), [refreshUnread, reloadTeams]);

  useEffect(() => {
    if (phase !== 'boot') performance.mark('taskmgmt:interactive');
  }, [phase]);

  const session: Session | null = me && { me, setMe, teams, reloadTeams, unread, refreshUnread };
  return (
    <>
      {phase === 'boot' && <main id="main"><p className="loading" role="status">Loading…</p></main>}
      {phase === 'out' && <Auth onSignedIn={enter} />}
      {phase === 'in' && session && (
        <SessionContext.Provider value={session}>
          <Shell onSignOut={() => { void signOut(); }} />
        </SessionContext.Provider>
      )}
      <StatusLine />
    </>
  );
}
