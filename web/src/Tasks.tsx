// The board (To Do / In Progress / Done, drag or move buttons to change
// status, with If-Match) and the list (sortable, filtered, paged, search
// with highlighted snippets), sharing the filters of the URL (the filter
// language's text included), saved views and the export and report buttons.
import { useEffect, useState, type DragEvent, type FormEvent } from 'react';
import { ApiError, call, client, download, type ListQuery, type Status, type Task, type TaskInput } from './api';
import { FILTER_KEYS, href, navigate, type Filter, type Route } from './route';
import {
  BOARD_COLUMNS, PRIORITIES, PRIORITY_LABEL, STATUSES, STATUS_LABEL, dueLabel, saveBlob, snippetParts,
} from './util';
import { Empty, ErrorNote, FieldError, Loading, invalid, say, toApiError, useLiveRefresh, useLoad, useSession } from './ui';
import { ViewsBar } from './Views';

const PAGE = 50;

function query(filter: Filter, extra: Partial<ListQuery> = {}): ListQuery {
  const q: Record<string, string | number> = {};
  for (const k of FILTER_KEYS) if (filter[k]) q[k] = filter[k]!;
  return { ...q, limit: PAGE, ...extra } as ListQuery;
}

/** PATCH with If-Match; a stale version (412) reloads instead of overwriting. */
export async function patchTask(task: Task, patch: TaskInput): Promise<Task | 'stale'> {
  try {
    return await call(() => client.PATCH('/api/v1/tasks/{id}', {
      params: { path: { id: task.id }, header: { 'If-Match': `"${task.version}"` } },
      body: patch,
    }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 412) return 'stale';
    throw e;
  }
}

function openTask(route: Route, id: number) {
  navigate(href({ task: id }, route));
}

// ---------------------------------------------------------------- filters
function FilterBar({ route, board, error }: { route: Route; board: boolean; error: ApiError | null }) {
  const { teams, me } = useSession();
  const f = route.filter;
  const set = (k: keyof Filter, v: string) => navigate(href({ filter: { ...f, [k]: v || undefined } }, route), true);
  const people = new Map<number, string>();
  for (const t of teams) for (const m of t.members) if (m.user_id !== me.id) people.set(m.user_id, m.display_name);
  const [q, setQ] = useState(f.q ?? '');
  // results come with snippets in the list, so searching from the board goes there
  const search = (e: FormEvent) => {
    e.preventDefault();
    navigate(href({ view: q.trim() ? 'list' : route.view, filter: { ...f, q: q.trim() || undefined } }, route), true);
  };
  const active = FILTER_KEYS.filter((k) => k !== 'sort' && k !== 'q' && f[k]).length;
  const [expanded, setOpen] = useState(false);
  const filterError = !!error?.field('filter');
  const open = expanded || filterError;
  const applyFilter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    set('filter', String(new FormData(e.currentTarget).get('filter') ?? '').trim());
  };

  return (
    <div className={`filters ${open ? '' : 'collapsed'}`} id="filters">
      <form role="search" onSubmit={search} className="search">
        <label className="sr-only" htmlFor="search">Search tasks</label>
        <input id="search" type="search" placeholder="Search tasks  ( / )" value={q}
          onChange={(e) => { setQ(e.target.value); if (!e.target.value) set('q', ''); }} />
        <button type="submit">Search</button>
      </form>
      <form className="filter-lang" onSubmit={applyFilter} aria-label="Filter language">
        <label htmlFor="filter-text">Filter</label>
        <div className="filter-lang-row">
          <input id="filter-text" name="filter" key={f.filter ?? ''} defaultValue={f.filter ?? ''} maxLength={2000} spellCheck={false}
            placeholder="e.g. assignee:me due<+7d -tag:blocked" {...invalid(error, 'filter', 'e-filter-text')}
            aria-describedby={filterError ? 'e-filter-text filter-help' : 'filter-help'} />
          <button type="submit">Apply</button>
        </div>
        <span className="sr-only" id="filter-help">
          Fields status, priority, assignee, team, tag, due, created, updated, text; AND, OR, NOT, parentheses; is:ready, is:overdue, has:subtasks.
        </span>
        <FieldError error={error} field="filter" id="e-filter-text" />
      </form>
      <button type="button" className="filter-toggle" aria-expanded={open} aria-controls="filters" onClick={() => setOpen(!open)}>
        Filters{active ? ` (${active})` : ''}
      </button>
      {!board && (
        <label>Status
          <select value={f.status ?? ''} onChange={(e) => set('status', e.target.value)}>
            <option value="">Any</option>
            <option value="todo,in_progress">Open</option>
            {STATUSES.map((s) => <option key={s} value={s}>{STATUS_LABEL[s]}</option>)}
          </select>
        </label>
      )}
      <label>Assignee
        <select value={f.assignee ?? ''} onChange={(e) => set('assignee', e.target.value)}>
          <option value="">Anyone</option>
          <option value="me">Me</option>
          <option value="none">Nobody</option>
          {teams.map((t) => <option key={`t${t.id}`} value={`team:${t.id}`}>{t.name} (team)</option>)}
          {[...people].map(([id, name]) => <option key={`u${id}`} value={`user:${id}`}>{name}</option>)}
        </select>
      </label>
      <label>Priority
        <select value={f.priority ?? ''} onChange={(e) => set('priority', e.target.value)}>
          <option value="">Any</option>
          <option value="high,urgent">High or urgent</option>
          {PRIORITIES.map((p) => <option key={p} value={p}>{PRIORITY_LABEL[p]}</option>)}
        </select>
      </label>
      <label>Team
        <select value={f.team ?? ''} onChange={(e) => set('team', e.target.value)}>
          <option value="">Any</option>
          {teams.map((t) => <option key={t.id} value={String(t.id)}>{t.name}</option>)}
        </select>
      </label>
      <label>Tag
        <input defaultValue={f.tag ?? ''} key={f.tag ?? ''} size={10} onBlur={(e) => set('tag', e.target.value.trim())}
          onKeyDown={(e) => { if (e.key === 'Enter') set('tag', e.currentTarget.value.trim()); }} />
      </label>
      <label>Due after
        <input type="date" value={f.due_after ?? ''} onChange={(e) => set('due_after', e.target.value)} />
      </label>
      <label>Due before
        <input type="date" value={f.due_before ?? ''} onChange={(e) => set('due_before', e.target.value)} />
      </label>
      <label className="check">
        <input type="checkbox" checked={f.overdue === 'true'} onChange={(e) => set('overdue', e.target.checked ? 'true' : '')} />
        Overdue
      </label>
      {!board && !f.q && (
        <label>Sort
          <select value={f.sort ?? ''} onChange={(e) => set('sort', e.target.value)}>
            <option value="">Newest first</option>
            <option value="-updated_at">Recently updated</option>
            <option value="due_date">Due date</option>
            <option value="-priority">Priority</option>
            <option value="title">Title</option>
            <option value="status">Status</option>
          </select>
        </label>
      )}
      {(active > 0 || f.q) && (
        <button type="button" className="link" onClick={() => { setQ(''); navigate(href({ filter: {}, saved: null }, route), true); }}>
          Clear filters
        </button>
      )}
    </div>
  );
}

// ---------------------------------------------------------------- export
function ExportButtons({ filter }: { filter: Filter }) {
  const [busy, setBusy] = useState(false);
  async function get(path: string, params: Record<string, string>, name: string) {
    setBusy(true);
    try {
      saveBlob(await download(path, params), name);
      say(`Downloaded ${name}.`);
    } catch (e) {
      say(toApiError(e).message, 'error');
    } finally {
      setBusy(false);
    }
  }
  const listParams: Record<string, string> = {};
  for (const k of FILTER_KEYS) if (filter[k]) listParams[k] = filter[k]!;
  // the summary report takes a team (and a date range), not the list filter
  const reportParams: Record<string, string> = filter.team ? { team: filter.team } : {};
  return (
    <div className="export" role="group" aria-label="Export and reports">
      <button type="button" disabled={busy} onClick={() => get('/api/v1/tasks/export.csv', listParams, 'tasks.csv')}>Export CSV</button>
      <button type="button" disabled={busy} onClick={() => get('/api/v1/reports/summary', reportParams, 'summary.json')}>Report (JSON)</button>
      <button type="button" disabled={busy} onClick={() => get('/api/v1/reports/summary.pdf', reportParams, 'summary.pdf')}>Report (PDF)</button>
    </div>
  );
}

// ---------------------------------------------------------------- board
function Card({ task, route, onMove }: { task: Task; route: Route; onMove: (t: Task, s: Status) => void }) {
  const col = BOARD_COLUMNS.indexOf(task.status);
  const due = dueLabel(task);
  const prev = BOARD_COLUMNS[col - 1];
  const next = BOARD_COLUMNS[col + 1];
  return (
    <li className="task-card" draggable data-task-id={task.id}
      onDragStart={(e) => { e.dataTransfer.setData('text/x-task-id', String(task.id)); e.dataTransfer.effectAllowed = 'move'; }}>
      <button type="button" className="card-title" data-nav onClick={() => openTask(route, task.id)}>{task.title}</button>
      <div className="card-meta">
        {task.priority !== 'none' && <span className={`prio prio-${task.priority}`}>{PRIORITY_LABEL[task.priority]}</span>}
        {due.text && <span className={due.overdue ? 'due overdue' : 'due'}>Due {due.text}</span>}
        {task.assignee && <span className="assignee">{task.assignee.name}</span>}
        {task.tags.map((t) => <span key={t} className="tag">{t}</span>)}
        <PlanningBadges task={task} />
      </div>
      <div className="card-move">
        {prev && <button type="button" className="ghost small" onClick={() => onMove(task, prev)}
          aria-label={`Move “${task.title}” to ${STATUS_LABEL[prev]}`}>← {STATUS_LABEL[prev]}</button>}
        {next && <button type="button" className="ghost small" onClick={() => onMove(task, next)}
          aria-label={`Move “${task.title}” to ${STATUS_LABEL[next]}`}>{STATUS_LABEL[next]} →</button>}
      </div>
    </li>
  );
}

/** Subtask progress and open blockers, on cards and list rows. */
function PlanningBadges({ task }: { task: Task }) {
  const { total, done } = task.subtasks;
  return (
    <>
      {total > 0 && <span className="subtask-count">Subtasks {done}/{total}</span>}
      {task.blocked_by_open > 0 && <span className="blocked">Blocked by {task.blocked_by_open}</span>}
    </>
  );
}

/** A filter-language error shows next to the filter field (FilterBar), not here. */
function LoadError({ error }: { error: ApiError }) {
  return error.field('filter') ? <Empty>Fix the filter to see tasks.</Empty> : <ErrorNote error={error} />;
}

type Column = { items: Task[]; next: string | null };

function Board({ route, onError }: { route: Route; onError: (e: ApiError | null) => void }) {
  const filter = { ...route.filter, status: undefined, sort: undefined };
  const key = JSON.stringify(filter);
  const cols = useLoad(async () => {
    const pages = await Promise.all(BOARD_COLUMNS.map((s) =>
      call(() => client.GET('/api/v1/tasks', { params: { query: query(filter, { status: s, sort: '-priority,due_date' }) } }))));
    return Object.fromEntries(BOARD_COLUMNS.map((s, i) => [s, { items: pages[i].items, next: pages[i].next_cursor }])) as Record<string, Column>;
  }, [key]);
  useLiveRefresh(() => void cols.reload());
  useEffect(() => onError(cols.error), [cols.error]); // eslint-disable-line react-hooks/exhaustive-deps
  const [over, setOver] = useState<Status | null>(null);

  async function move(task: Task, status: Status) {
    if (task.status === status) return;
    try {
      const r = await patchTask(task, { status });
      if (r === 'stale') say(`“${task.title}” was changed by someone else: the board was reloaded and nothing was overwritten.`, 'warn');
      else say(`Moved “${task.title}” to ${STATUS_LABEL[status]}.`);
    } catch (e) {
      say(toApiError(e).message, 'error');
    }
    await cols.reload();
  }

  async function more(s: Status) {
    const c = cols.data?.[s];
    if (!c?.next || !cols.data) return;
    const page = await call(() => client.GET('/api/v1/tasks', {
      params: { query: query(filter, { status: s, sort: '-priority,due_date', cursor: c.next! }) },
    })).catch((e) => { say(toApiError(e).message, 'error'); return null; });
    if (page) cols.setData({ ...cols.data, [s]: { items: [...c.items, ...page.items], next: page.next_cursor } });
  }

  function drop(e: DragEvent, s: Status) {
    e.preventDefault();
    setOver(null);
    const id = Number(e.dataTransfer.getData('text/x-task-id'));
    const task = cols.data && Object.values(cols.data).flatMap((c) => c.items).find((t) => t.id === id);
    if (task) void move(task, s);
  }

  if (cols.loading && !cols.data) return <Loading what="the board" />;
  if (cols.error && (!cols.data || cols.error.field('filter'))) return <LoadError error={cols.error} />;
  return (
    <div className="board">
      {BOARD_COLUMNS.map((s) => {
        const c = cols.data![s];
        return (
          <section key={s} className={`column ${over === s ? 'over' : ''}`} aria-labelledby={`col-${s}`} data-status={s}
            onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; setOver(s); }}
            onDragLeave={() => setOver(null)} onDrop={(e) => drop(e, s)}>
            <h2 id={`col-${s}`}>{STATUS_LABEL[s]} <span className="count">{c.items.length}{c.next ? '+' : ''}</span></h2>
            {c.items.length === 0
              ? <Empty>{s === 'todo' ? 'Nothing to do. Press c to create a task.' : 'No tasks here.'}</Empty>
              : <ul className="cards">{c.items.map((t) => <Card key={t.id} task={t} route={route} onMove={move} />)}</ul>}
            {c.next && <button type="button" className="link" onClick={() => more(s)}>Load more</button>}
          </section>
        );
      })}
    </div>
  );
}

// ---------------------------------------------------------------- list
type Row = { task: Task; snippet?: string };
type Page = { rows: Row[]; next: string | null; fuzzy?: boolean };

const SORTABLE: [string, string][] = [['title', 'Title'], ['status', 'Status'], ['priority', 'Priority'], ['due_date', 'Due']];

function List({ route, onError }: { route: Route; onError: (e: ApiError | null) => void }) {
  const f = route.filter;
  const key = JSON.stringify(f);
  const fetchPage = async (cursor?: string): Promise<Page> => {
    if (f.q) {
      const { sort: _s, q, ...rest } = f;
      const r = await call(() => client.GET('/api/v1/search', { params: { query: { ...query(rest, cursor ? { cursor } : {}), q } } }));
      return { rows: r.items.map((i) => ({ task: i.task, snippet: i.snippet })), next: r.next_cursor, fuzzy: r.fuzzy };
    }
    const r = await call(() => client.GET('/api/v1/tasks', { params: { query: query(f, cursor ? { cursor } : {}) } }));
    return { rows: r.items.map((task) => ({ task })), next: r.next_cursor };
  };
  const page = useLoad(() => fetchPage(), [key]);
  useLiveRefresh(() => void page.reload());
  useEffect(() => onError(page.error), [page.error]); // eslint-disable-line react-hooks/exhaustive-deps

  async function more() {
    if (!page.data?.next) return;
    try {
      const p = await fetchPage(page.data.next);
      page.setData({ ...p, rows: [...page.data.rows, ...p.rows] });
    } catch (e) {
      say(toApiError(e).message, 'error');
    }
  }

  const sort = f.sort ?? '-created_at';
  const sortBy = (field: string) => {
    const next = sort === field ? `-${field}` : field;
    navigate(href({ filter: { ...f, sort: next } }, route), true);
  };

  if (page.loading && !page.data) return <Loading what="tasks" />;
  if (page.error && (!page.data || page.error.field('filter'))) return <LoadError error={page.error} />;
  const rows = page.data!.rows;
  if (rows.length === 0) {
    return <Empty>{f.q ? <>No task matches “{f.q}”.</> : <>No tasks match these filters. Press <kbd>c</kbd> to create one.</>}</Empty>;
  }
  return (
    <>
      {page.data!.fuzzy && <p className="hint">No exact match; these titles are close.</p>}
      <div className="table-wrap">
        <table id="tasks" className="tasks">
          <caption className="sr-only">Tasks{f.q ? ` matching “${f.q}”` : ''}</caption>
          <thead>
            <tr>
              {SORTABLE.map(([field, label]) => {
                const dir = sort === field ? 'ascending' : sort === `-${field}` ? 'descending' : undefined;
                return (
                  <th key={field} scope="col" aria-sort={dir ?? 'none'}>
                    {f.q ? label : (
                      <button type="button" className="sort" onClick={() => sortBy(field)}>
                        {label}{dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''}
                      </button>
                    )}
                  </th>
                );
              })}
              <th scope="col">Assignee</th>
              <th scope="col">Tags</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ task, snippet }) => {
              const due = dueLabel(task);
              return (
                <tr key={task.id} data-task-id={task.id}>
                  <td>
                    <button type="button" className="row-title" data-nav onClick={() => openTask(route, task.id)}>{task.title}</button>
                    <div className="card-meta"><PlanningBadges task={task} /></div>
                    {snippet && (
                      <div className="snippet">
                        {snippetParts(snippet).map((p, i) => (p.mark ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
                      </div>
                    )}
                  </td>
                  <td><span className={`status status-${task.status}`}>{STATUS_LABEL[task.status]}</span></td>
                  <td><span className={`prio prio-${task.priority}`}>{PRIORITY_LABEL[task.priority]}</span></td>
                  <td className={due.overdue ? 'overdue' : ''}>{due.text}</td>
                  <td>{task.assignee?.name ?? ''}</td>
                  <td>{task.tags.map((t) => <span key={t} className="tag">{t}</span>)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {page.data!.next && <button type="button" id="more" onClick={more}>Load more</button>}
    </>
  );
}

export function TasksScreen({ route }: { route: Route }) {
  const board = route.view === 'board';
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <main id="main" className="tasks-screen" aria-labelledby="screen-title">
      <div className="screen-head">
        <h1 id="screen-title">{board ? 'Board' : 'Tasks'}</h1>
        <ViewsBar route={route} />
        <ExportButtons filter={route.filter} />
      </div>
      <FilterBar route={route} board={board} error={error} key={board ? 'b' : 'l'} />
      {board ? <Board route={route} onError={setError} /> : <List route={route} onError={setError} />}
    </main>
  );
}
