// One task: every field editable, the recurrence rule included (saved with
// If-Match: a stale edit is refused and the task reloads), subtasks and
// relations (Planning.tsx), threaded comments with reply, edit, delete and
// @mention suggestions, and the history with its descriptions.
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import {
  ApiError, call, client, type Comment, type DirectoryEntry, type Priority, type Status, type Task, type TaskInput,
  type Team, type User,
} from './api';
import { ParentLink, RecurrenceField, Relations, Subtasks } from './Planning';
import { href, navigate, type Route } from './route';
import { patchTask } from './Tasks';
import { PRIORITIES, PRIORITY_LABEL, STATUSES, STATUS_LABEL, parseTags, when } from './util';
import {
  Empty, ErrorNote, Field, FieldError, Loading, invalid, say, toApiError, useLiveRefresh, useLoad, useSession,
} from './ui';

// ---------------------------------------------------------------- assignee
export type Option = { value: string; label: string; group: 'People' | 'Teams' };

/**
 * Whom the signed-in user may assign (doc/sql-api.md, "Who sees and does
 * what"): themselves, a team they belong to, a member of a team they lead or
 * own; admins anyone (the directory).
 */
export function useAssignable(): Option[] {
  const { me, teams } = useSession();
  const admin = me.role === 'admin';
  const dir = useLoad(async () => (admin ? call(() => client.GET('/api/v1/users', { params: { query: { limit: 200 } } })) : []), [admin]);
  return useMemo(() => {
    const people = new Map<number, string>([[me.id, `${me.display_name} (me)`]]);
    const out: Option[] = [];
    for (const t of teams) {
      const mine = t.members.find((m) => m.user_id === me.id)?.role;
      if (mine || admin) out.push({ value: `team:${t.id}`, label: t.name, group: 'Teams' });
      if (admin || mine === 'lead' || mine === 'owner') for (const m of t.members) if (!people.has(m.user_id)) people.set(m.user_id, m.display_name);
    }
    for (const u of dir.data ?? []) if (!people.has(u.id)) people.set(u.id, u.display_name);
    return [...[...people].map(([id, label]) => ({ value: `user:${id}`, label, group: 'People' as const })), ...out];
  }, [me, teams, admin, dir.data]);
}

export function AssigneeSelect({ value, onChange, current, id, describedBy }: {
  value: string; onChange: (v: string) => void; current?: Task['assignee']; id: string; describedBy?: object;
}) {
  const options = useAssignable();
  const all = [...options];
  if (current && !all.some((o) => o.value === `${current.type}:${current.id}`)) {
    all.push({ value: `${current.type}:${current.id}`, label: current.name ?? `#${current.id}`, group: current.type === 'team' ? 'Teams' : 'People' });
  }
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value)} {...describedBy}>
      <option value="">Nobody</option>
      {(['People', 'Teams'] as const).map((g) => (
        <optgroup key={g} label={g}>
          {all.filter((o) => o.group === g).map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
        </optgroup>
      ))}
    </select>
  );
}

export function assigneeValue(a: Task['assignee']): string {
  return a ? `${a.type}:${a.id}` : '';
}

export function assigneeInput(v: string): TaskInput['assignee'] {
  if (!v) return null;
  const [type, id] = v.split(':');
  return { type: type as 'user' | 'team', id: Number(id) };
}

export function TeamSelect({ value, onChange, id, teams }: { value: string; onChange: (v: string) => void; id: string; teams: Team[] }) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">No team</option>
      {teams.map((t) => <option key={t.id} value={String(t.id)}>{t.name}</option>)}
    </select>
  );
}

// ---------------------------------------------------------------- mentions
/** A textarea that suggests people from /users after "@" (arrows, Enter or Tab, Escape). */
export function MentionInput({ value, onChange, id, label, onSubmit, autoFocus }: {
  value: string; onChange: (v: string) => void; id: string; label: string; onSubmit?: () => void; autoFocus?: boolean;
}) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const [items, setItems] = useState<DirectoryEntry[]>([]);
  const [active, setActive] = useState(0);
  const [at, setAt] = useState<{ start: number; end: number; q: string } | null>(null);
  const seq = useRef(0);
  // where the caret goes once a picked mention is in the text: set in the
  // same commit as the new value, before the next key can be typed (a later
  // frame moved the caret back under keys typed meanwhile)
  const caretAfter = useRef<number | null>(null);
  useLayoutEffect(() => {
    const c = caretAfter.current;
    if (c === null || !ref.current) return;
    caretAfter.current = null;
    ref.current.focus();
    ref.current.setSelectionRange(c, c);
  }, [value]);

  useEffect(() => {
    if (!at) { setItems([]); return; }
    const mine = ++seq.current;
    const timer = window.setTimeout(async () => {
      const users = await call(() => client.GET('/api/v1/users', { params: { query: { q: at.q, limit: 8 } } })).catch(() => []);
      if (mine === seq.current) { setItems(users); setActive(0); }
    }, 120);
    return () => window.clearTimeout(timer);
  }, [at?.q, at?.start]);

  function track(text: string, caret: number) {
    const m = /(^|[^A-Za-z0-9_.@])@([A-Za-z0-9._%+-]*)$/.exec(text.slice(0, caret));
    setAt(m ? { start: caret - m[2].length - 1, end: caret, q: m[2] } : null);
  }

  function pick(u: DirectoryEntry) {
    if (!at) return;
    const insert = `@${u.email} `;
    const next = value.slice(0, at.start) + insert + value.slice(at.end);
    onChange(next);
    setAt(null);
    caretAfter.current = at.start + insert.length;
  }

  function key(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (at && items.length) {
      if (e.key === 'ArrowDown') { e.preventDefault(); setActive((active + 1) % items.length); return; }
      if (e.key === 'ArrowUp') { e.preventDefault(); setActive((active - 1 + items.length) % items.length); return; }
      if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); pick(items[active]); return; }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); setAt(null); return; }
    }
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && onSubmit) { e.preventDefault(); onSubmit(); }
  }

  const open = at !== null && items.length > 0;
  return (
    <div className="mention">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} ref={ref} value={value} required maxLength={10000} autoFocus={autoFocus}
        aria-describedby={`${id}-hint`}
        onChange={(e) => { onChange(e.target.value); track(e.target.value, e.target.selectionStart); }}
        onKeyDown={key} onBlur={() => window.setTimeout(() => setAt(null), 150)} />
      <span className="sr-only" id={`${id}-hint`}>Type @ and a name to mention someone; Ctrl+Enter sends.</span>
      <span className="sr-only" role="status" aria-live="polite">{open ? `${items.length} people suggested; use the up and down arrows and Enter.` : ''}</span>
      {open && (
        <ul className="suggest" role="listbox" aria-label="People to mention" id={`${id}-list`}>
          {items.map((u, i) => (
            <li key={u.id} role="option" aria-selected={i === active} id={`${id}-opt-${u.id}`}
              className={i === active ? 'active' : ''} onMouseDown={(e) => { e.preventDefault(); pick(u); }}>
              <strong>{u.display_name}</strong> <span className="muted">{u.email}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

// ---------------------------------------------------------------- the form
type Draft = {
  title: string; description: string; status: Status; priority: Priority; due_date: string;
  assignee: string; team_id: string; tags: string; recurrence: string;
};

function draftOf(t: Task): Draft {
  return {
    title: t.title, description: t.description ?? '', status: t.status, priority: t.priority,
    due_date: t.due_date ?? '', assignee: assigneeValue(t.assignee), team_id: t.team_id ? String(t.team_id) : '',
    tags: t.tags.join(', '), recurrence: t.recurrence ?? '',
  };
}

function changes(d: Draft, t: Task): TaskInput {
  const o = draftOf(t);
  const p: TaskInput = {};
  if (d.title !== o.title) p.title = d.title;
  if (d.description !== o.description) p.description = d.description;
  if (d.status !== o.status) p.status = d.status;
  if (d.priority !== o.priority) p.priority = d.priority;
  if (d.due_date !== o.due_date) p.due_date = d.due_date || null;
  if (d.assignee !== o.assignee) p.assignee = assigneeInput(d.assignee);
  if (d.team_id !== o.team_id) p.team_id = d.team_id ? Number(d.team_id) : null;
  if (parseTags(d.tags).join(',') !== t.tags.join(',')) p.tags = parseTags(d.tags);
  if (d.recurrence.trim() !== o.recurrence) p.recurrence = d.recurrence.trim() || null;
  return p;
}

function TaskForm({ task, latest, onSaved, onStale, onDirty }: {
  task: Task; latest: Task; onSaved: (t: Task) => void; onStale: () => void; onDirty: (d: boolean) => void;
}) {
  const { teams, me } = useSession();
  const [draft, setDraft] = useState(() => draftOf(task));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const patch = changes(draft, task);
  const dirty = Object.keys(patch).length > 0;
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const myTeams = teams.filter((t) => me.role === 'admin' || t.members.some((m) => m.user_id === me.id));

  // not editing: follow the server's copy (another user's change shows at once)
  const prev = useRef(task);
  useEffect(() => {
    if (Object.keys(changes(draft, prev.current)).length === 0) setDraft(draftOf(task));
    prev.current = task;
  }, [task]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => onDirty(dirty), [dirty]); // eslint-disable-line react-hooks/exhaustive-deps

  async function save(e: FormEvent) {
    e.preventDefault();
    if (!dirty) return;
    setBusy(true);
    setError(null);
    try {
      const r = await patchTask(task, patch);
      if (r === 'stale') {
        say('Someone else changed this task meanwhile: your edit was not saved, and the task was reloaded.', 'warn');
        onStale();
      } else {
        say('Saved.');
        onSaved(r);
      }
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  }

  const stale = latest.version !== task.version;
  return (
    <form className="task-form" onSubmit={save} aria-label="Task fields">
      {stale && dirty && (
        <p className="warn" role="alert">
          Someone else changed this task while you were editing.{' '}
          <button type="button" className="link" onClick={() => { setDraft(draftOf(latest)); onStale(); }}>Discard my edits and show theirs</button>
        </p>
      )}
      <ErrorNote error={error && !error.problem.errors?.length ? error : null} />
      <Field id="f-title" label="Title" error={error} field="title" wide>
        {(aria) => <input id="f-title" value={draft.title} required maxLength={200} onChange={(e) => set('title', e.target.value)} {...aria} />}
      </Field>
      <Field id="f-description" label="Description" error={error} field="description" wide>
        {(aria) => <textarea id="f-description" value={draft.description} rows={4} onChange={(e) => set('description', e.target.value)} {...aria} />}
      </Field>
      <div className="field">
        <label htmlFor="f-status">Status</label>
        <select id="f-status" value={draft.status} onChange={(e) => set('status', e.target.value as Status)}>
          {STATUSES.map((s) => <option key={s} value={s}>{STATUS_LABEL[s]}</option>)}
        </select>
        <FieldError error={error} field="status" id="e-status" />
      </div>
      <div className="field">
        <label htmlFor="f-priority">Priority</label>
        <select id="f-priority" value={draft.priority} onChange={(e) => set('priority', e.target.value as Priority)}>
          {PRIORITIES.map((p) => <option key={p} value={p}>{PRIORITY_LABEL[p]}</option>)}
        </select>
      </div>
      <Field id="f-due" label="Due date" error={error} field="due_date">
        {(aria) => <input id="f-due" type="date" value={draft.due_date} onChange={(e) => set('due_date', e.target.value)} {...aria} />}
      </Field>
      <div className="field">
        <label htmlFor="f-assignee">Assignee</label>
        <AssigneeSelect id="f-assignee" value={draft.assignee} onChange={(v) => set('assignee', v)} current={task.assignee}
          describedBy={invalid(error, 'assignee', 'e-assignee')} />
        <FieldError error={error} field="assignee" id="e-assignee" />
      </div>
      <div className="field">
        <label htmlFor="f-team">Team</label>
        <TeamSelect id="f-team" value={draft.team_id} onChange={(v) => set('team_id', v)} teams={myTeams} />
        <FieldError error={error} field="team_id" id="e-team" />
      </div>
      <Field id="f-tags" label="Tags (comma separated)" error={error} field="tags">
        {(aria) => <input id="f-tags" value={draft.tags} onChange={(e) => set('tags', e.target.value)} {...aria} />}
      </Field>
      <RecurrenceField value={draft.recurrence} due={draft.due_date} onChange={(v) => set('recurrence', v)} error={error} />
      <div className="actions wide">
        <button type="submit" className="primary" disabled={!dirty || busy}>Save changes</button>
        {dirty && <button type="button" onClick={() => setDraft(draftOf(task))}>Undo edits</button>}
      </div>
    </form>
  );
}

// ---------------------------------------------------------------- comments
function Comments({ taskId, me }: { taskId: number; me: User }) {
  const thread = useLoad(() => call(() => client.GET('/api/v1/tasks/{id}/comments', { params: { path: { id: taskId } } })), [taskId]);
  useLiveRefresh(() => void thread.reload(), taskId);
  const [body, setBody] = useState('');
  const [replyTo, setReplyTo] = useState<number | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [text, setText] = useState('');
  const [error, setError] = useState<ApiError | null>(null);

  async function run(fn: () => Promise<unknown>, done: () => void) {
    setError(null);
    try {
      await fn();
      done();
      await thread.reload();
    } catch (e) {
      setError(toApiError(e));
    }
  }
  const add = (parent: number | null, b: string) => run(
    () => call(() => client.POST('/api/v1/tasks/{id}/comments', { params: { path: { id: taskId } }, body: { body: b, parent_id: parent } })),
    () => { if (parent) { setReplyTo(null); setText(''); } else setBody(''); say(parent ? 'Reply posted.' : 'Comment posted.'); });
  const edit = (c: Comment) => run(
    () => call(() => client.PATCH('/api/v1/comments/{id}', { params: { path: { id: c.id } }, body: { body: text } })),
    () => { setEditing(null); setText(''); say('Comment edited.'); });
  const remove = (c: Comment) => {
    if (!window.confirm('Delete this comment? Replies to it stay.')) return;
    void run(() => call(() => client.DELETE('/api/v1/comments/{id}', { params: { path: { id: c.id } } })), () => say('Comment deleted.'));
  };

  const items = thread.data ?? [];
  return (
    <section className="card" aria-labelledby="comments-title">
      <h2 id="comments-title">Comments</h2>
      {thread.loading && !thread.data && <Loading what="comments" />}
      <ErrorNote error={thread.error ?? error} />
      {thread.data && items.length === 0 && <Empty>No comments yet.</Empty>}
      <ul className="comments" id="comments">
        {items.map((c) => (
          <li key={c.id} className={`comment depth-${Math.min(c.depth ?? 0, 6)}`} data-comment-id={c.id}>
            <div className="comment-head">
              <strong>{c.author_name ?? 'Someone'}</strong>{' '}
              <time dateTime={c.created_at} className="muted">{when(c.created_at)}</time>
              {c.edited_at && <span className="muted"> (edited)</span>}
            </div>
            {editing === c.id ? (
              <form onSubmit={(e) => { e.preventDefault(); void edit(c); }}>
                <MentionInput id={`edit-${c.id}`} label="Edit comment" value={text} onChange={setText} autoFocus onSubmit={() => void edit(c)} />
                <div className="actions">
                  <button type="submit" className="primary">Save</button>
                  <button type="button" onClick={() => setEditing(null)}>Cancel</button>
                </div>
              </form>
            ) : (
              <p className={c.deleted ? 'comment-body deleted' : 'comment-body'}>{c.deleted ? 'This comment was deleted.' : c.body}</p>
            )}
            {!c.deleted && editing !== c.id && (
              <div className="comment-actions">
                <button type="button" className="link" onClick={() => { setReplyTo(c.id); setText(''); setEditing(null); }}>Reply</button>
                {c.author_id === me.id && (
                  <button type="button" className="link" onClick={() => { setEditing(c.id); setText(c.body ?? ''); setReplyTo(null); }}>Edit</button>
                )}
                {(c.author_id === me.id || me.role === 'admin') && (
                  <button type="button" className="link danger" onClick={() => remove(c)}>Delete</button>
                )}
              </div>
            )}
            {replyTo === c.id && (
              <form className="reply-form" onSubmit={(e) => { e.preventDefault(); void add(c.id, text); }}>
                <MentionInput id={`reply-${c.id}`} label={`Reply to ${c.author_name ?? 'this comment'}`} value={text} onChange={setText} autoFocus
                  onSubmit={() => void add(c.id, text)} />
                <div className="actions">
                  <button type="submit" className="primary">Reply</button>
                  <button type="button" onClick={() => setReplyTo(null)}>Cancel</button>
                </div>
              </form>
            )}
          </li>
        ))}
      </ul>
      <form id="comment-form" onSubmit={(e) => { e.preventDefault(); void add(null, body); }}>
        <MentionInput id="new-comment" label="Add a comment" value={body} onChange={setBody} onSubmit={() => void add(null, body)} />
        <FieldError error={error} field="body" id="e-body" />
        <button type="submit" className="primary">Comment</button>
      </form>
    </section>
  );
}

// ---------------------------------------------------------------- history
function History({ taskId, version }: { taskId: number; version: number }) {
  const hist = useLoad(() => call(() => client.GET('/api/v1/tasks/{id}/history', { params: { path: { id: taskId }, query: { limit: 50 } } })), [taskId, version]);
  const [note, setNote] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  async function more() {
    const d = hist.data;
    if (!d?.next_cursor) return;
    const next = await call(() => client.GET('/api/v1/tasks/{id}/history', { params: { path: { id: taskId }, query: { limit: 50, cursor: d.next_cursor! } } }))
      .catch((e) => { say(toApiError(e).message, 'error'); return null; });
    if (next) hist.setData({ items: [...d.items, ...next.items], next_cursor: next.next_cursor });
  }
  async function post(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      await call(() => client.POST('/api/v1/tasks/{id}/updates', { params: { path: { id: taskId } }, body: { description: note } }));
      setNote('');
      await hist.reload();
    } catch (err) {
      setError(toApiError(err));
    }
  }
  return (
    <section className="card" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <form className="inline-form" onSubmit={post}>
        <label htmlFor="progress">Progress update</label>
        <input id="progress" value={note} required onChange={(e) => setNote(e.target.value)} placeholder="What happened?" {...invalid(error, 'description', 'e-progress')} />
        <button type="submit">Post</button>
        <FieldError error={error} field="description" id="e-progress" />
      </form>
      <ErrorNote error={error && !error.problem.errors?.length ? error : hist.error} />
      {hist.loading && !hist.data && <Loading what="history" />}
      <ol className="history" id="history">
        {hist.data?.items.map((e) => (
          <li key={e.id}>
            <time dateTime={e.at} className="muted">{when(e.at)}</time>{' '}
            <strong>{e.actor_name ?? e.actor_role ?? 'Someone'}</strong>: {e.description}
          </li>
        ))}
      </ol>
      {hist.data?.next_cursor && <button type="button" className="link" onClick={more}>Older history</button>}
    </section>
  );
}

// ---------------------------------------------------------------- the screen
export function TaskDetail({ route, id }: { route: Route; id: number }) {
  const { me } = useSession();
  // load.data: the newest copy from the server; base: the copy the form
  // edits, which follows load.data while the form has no edits
  const load = useLoad(() => call(() => client.GET('/api/v1/tasks/{id}', { params: { path: { id } } })), [id]);
  const [base, setBase] = useState<Task>();
  const [formKey, setFormKey] = useState(0);
  const dirty = useRef(false);
  useLiveRefresh(() => void load.reload(), id);
  useEffect(() => {
    if (load.data && (!base || base.id !== load.data.id || !dirty.current)) setBase(load.data);
  }, [load.data]); // eslint-disable-line react-hooks/exhaustive-deps
  const back = href({ task: null }, route);
  const headRef = useRef<HTMLHeadingElement>(null);
  const ready = base !== undefined || load.error !== null;
  useEffect(() => { if (ready) headRef.current?.focus(); }, [id, ready]);

  async function reloadFresh() {
    try {
      const t = await call(() => client.GET('/api/v1/tasks/{id}', { params: { path: { id } } }));
      dirty.current = false;
      load.setData(t);
      setBase(t);
      setFormKey((k) => k + 1);
    } catch (e) {
      say(toApiError(e).message, 'error');
    }
  }

  async function remove() {
    if (!base || !window.confirm(`Delete “${base.title}”? This cannot be undone.`)) return;
    const del = (cascade: boolean) => call(() => client.DELETE('/api/v1/tasks/{id}', { params: { path: { id }, query: cascade ? { cascade: true } : {} } }));
    try {
      try {
        await del(false);
      } catch (e) {
        // a task with subtasks: 422 naming cascade; deleting them too is a second, explicit choice
        if (!(e instanceof ApiError && e.field('cascade'))) throw e;
        if (!window.confirm(`“${base.title}” has subtasks. Delete them as well?`)) return;
        await del(true);
      }
      say('Task deleted.');
      navigate(back);
    } catch (e) {
      say(toApiError(e).message, 'error');
    }
  }

  const latest = load.data;
  return (
    <main id="main" className="task-detail" aria-labelledby="task-title">
      <p><a href={back} onClick={(e) => { e.preventDefault(); navigate(back); }}>← Back</a></p>
      {load.loading && !load.data && <Loading what="the task" />}
      {load.error && !load.data && (
        <>
          <h1 id="task-title" tabIndex={-1} ref={headRef}>Task not found</h1>
          <ErrorNote error={load.error} />
        </>
      )}
      {base && latest && (
        <>
          <div className="screen-head">
            <h1 id="task-title" tabIndex={-1} ref={headRef}>{latest.title}</h1>
            <button type="button" className="danger" onClick={remove}>Delete task</button>
          </div>
          <p className="muted" id="task-meta">
            #{latest.id} · {STATUS_LABEL[latest.status]} · created {when(latest.created_at)} · updated {when(latest.updated_at)}
            {latest.completed_at && ` · completed ${when(latest.completed_at)}`}
            {latest.recurrence && ' · repeats'}
          </p>
          {latest.parent_id && <ParentLink id={latest.parent_id} route={route} />}
          <section className="card" aria-label="Details">
            <TaskForm key={`${id}-${formKey}`} task={base} latest={latest} onDirty={(d) => { dirty.current = d; }}
              onSaved={(t) => { dirty.current = false; load.setData(t); setBase(t); }} onStale={reloadFresh} />
          </section>
          <div className="plan-cols">
            <Subtasks task={latest} route={route} onChanged={() => void load.reload()} />
            <Relations task={latest} route={route} onChanged={() => void load.reload()} />
          </div>
          <div className="detail-cols">
            <Comments taskId={id} me={me} />
            <History taskId={id} version={latest.version} />
          </div>
        </>
      )}
    </main>
  );
}
