// Planning in the task view: subtasks (progress {total, done}, a new
// subtask), relations (blocks, blocked by, relates, duplicates; a picker of
// the tasks the user can see) and the recurrence rule's field with presets.
import { useState, type FormEvent } from 'react';
import { ApiError, call, client, type Relation, type Task } from './api';
import { href, navigate, type Route } from './route';
import { Empty, ErrorNote, FieldError, ItemButton, Loading, invalid, say, toApiError, useLiveRefresh, useLoad } from './ui';
import { STATUS_LABEL } from './util';

function TaskLink({ id, title, route }: { id: number; title: string; route: Route }) {
  const to = href({ task: id }, route);
  return <a href={to} onClick={(e) => { e.preventDefault(); navigate(to); }}>{title}</a>;
}

// ---------------------------------------------------------------- subtasks
export function Subtasks({ task, route, onChanged }: { task: Task; route: Route; onChanged: () => void }) {
  const subs = useLoad(() => call(() => client.GET('/api/v1/tasks/{id}/subtasks', { params: { path: { id: task.id } } })),
    [task.id, task.version, task.subtasks.total, task.subtasks.done]);
  useLiveRefresh(() => void subs.reload(), task.id);
  const [title, setTitle] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const { total, done } = task.subtasks;

  async function add(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const t = await call(() => client.POST('/api/v1/tasks', { body: { title, parent_id: task.id } }));
      setTitle('');
      say(`Subtask “${t.title}” created.`);
      onChanged();
      await subs.reload();
    } catch (err) {
      setError(toApiError(err));
    }
  }

  return (
    <section className="card" aria-labelledby="subtasks-title" id="subtasks">
      <h2 id="subtasks-title">Subtasks</h2>
      {total > 0 && (
        <p className="progress-line">
          <progress id="subtask-progress" max={total} value={done} aria-label="Subtasks done" /> {done} of {total} done
        </p>
      )}
      {subs.loading && !subs.data && <Loading what="subtasks" />}
      <ErrorNote error={subs.error} />
      {subs.data && subs.data.items.length === 0 && <Empty>No subtasks.</Empty>}
      {subs.data && subs.data.items.length > 0 && (
        <ul className="plan-list" id="subtask-list">
          {subs.data.items.map((s) => (
            <li key={s.id} data-task-id={s.id}>
              <span className={`status status-${s.status}`}>{STATUS_LABEL[s.status]}</span>{' '}
              <TaskLink id={s.id} title={s.title} route={route} />
              {s.subtasks.total > 0 && <span className="muted"> ({s.subtasks.done}/{s.subtasks.total})</span>}
            </li>
          ))}
        </ul>
      )}
      <form className="inline-form" onSubmit={add}>
        <label htmlFor="new-subtask">New subtask</label>
        <input id="new-subtask" value={title} required maxLength={200} onChange={(e) => setTitle(e.target.value)}
          {...invalid(error, error?.field('parent_id') ? 'parent_id' : 'title', 'e-new-subtask')} />
        <button type="submit">Add subtask</button>
        <FieldError error={error} field={error?.field('parent_id') ? 'parent_id' : 'title'} id="e-new-subtask" />
        <ErrorNote error={error && !error.problem.errors?.length ? error : null} />
      </form>
    </section>
  );
}

/** "Subtask of …" with the parent's title, when the user can see it. */
export function ParentLink({ id, route }: { id: number; route: Route }) {
  const parent = useLoad(() => call(() => client.GET('/api/v1/tasks/{id}', { params: { path: { id } } })), [id]);
  return (
    <p className="muted" id="parent-task">
      Subtask of {parent.data ? <TaskLink id={id} title={parent.data.title} route={route} /> : `#${id}`}
    </p>
  );
}

// ---------------------------------------------------------------- relations
type AddType = 'blocks' | 'blocked_by' | 'relates' | 'duplicates';
const ADD_TYPES: [AddType, string][] = [
  ['blocks', 'Blocks'], ['blocked_by', 'Is blocked by'], ['relates', 'Relates to'], ['duplicates', 'Duplicates'],
];
const REL_LABEL: Record<Relation['type'], string> = {
  blocks: 'Blocks', blocked_by: 'Blocked by', relates: 'Relates to', duplicates: 'Duplicates', duplicated_by: 'Duplicated by',
};

/**
 * A task chosen among those the user can see: recently updated ones, or
 * the search's matches (typo-tolerant) for the text typed.
 */
function TaskPicker({ exclude, value, onChange, describedBy }: {
  exclude: Set<number>; value: string; onChange: (v: string) => void; describedBy: object;
}) {
  const [q, setQ] = useState('');
  const found = useLoad(async () => {
    const text = q.trim();
    if (!text) {
      const r = await call(() => client.GET('/api/v1/tasks', { params: { query: { sort: '-updated_at', limit: 30 } } }));
      return r.items;
    }
    const r = await call(() => client.GET('/api/v1/search', { params: { query: { q: text, limit: 30 } } }));
    return r.items.map((i) => i.task);
  }, [q]);
  const options = (found.data ?? []).filter((t) => !exclude.has(t.id));
  return (
    <>
      <div className="field">
        <label htmlFor="rel-search">Find a task</label>
        <input id="rel-search" type="search" value={q} placeholder="title or words" onChange={(e) => { setQ(e.target.value); onChange(''); }} />
      </div>
      <div className="field">
        <label htmlFor="rel-task">Task</label>
        <select id="rel-task" value={value} onChange={(e) => onChange(e.target.value)} {...describedBy}>
          <option value="">{found.loading ? 'Searching…' : options.length ? 'Choose…' : 'No task found'}</option>
          {options.map((t) => <option key={t.id} value={String(t.id)}>{t.title} (#{t.id}, {STATUS_LABEL[t.status]})</option>)}
        </select>
      </div>
    </>
  );
}

export function Relations({ task, route, onChanged }: { task: Task; route: Route; onChanged: () => void }) {
  const rels = useLoad(() => call(() => client.GET('/api/v1/tasks/{id}/relations', { params: { path: { id: task.id } } })),
    [task.id, task.version, task.blocked_by_open]);
  useLiveRefresh(() => void rels.reload(), task.id);
  const [type, setType] = useState<AddType>('blocked_by');
  const [other, setOther] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const items = rels.data?.items ?? [];

  async function run(fn: () => Promise<unknown>, ok: string) {
    setError(null);
    try {
      await fn();
      say(ok);
      onChanged();
      await rels.reload();
      return true;
    } catch (err) {
      setError(toApiError(err));
      return false;
    }
  }
  async function add(e: FormEvent) {
    e.preventDefault();
    if (!other) return;
    const label = ADD_TYPES.find(([t]) => t === type)![1].toLowerCase();
    if (await run(() => call(() => client.POST('/api/v1/tasks/{id}/relations', {
      params: { path: { id: task.id } }, body: { type, task_id: Number(other) },
    })), `Now ${label} #${other}.`)) setOther('');
  }
  const remove = (r: Relation) => run(
    () => call(() => client.DELETE('/api/v1/tasks/{id}/relations/{other_id}', { params: { path: { id: task.id, other_id: r.task_id } } })),
    `Relation with “${r.title}” removed.`);

  return (
    <section className="card" aria-labelledby="relations-title" id="relations">
      <h2 id="relations-title">Relations</h2>
      {task.blocked_by_open > 0 && (
        <p className="warn" id="blocked-note">
          Blocked by {task.blocked_by_open} open {task.blocked_by_open === 1 ? 'task' : 'tasks'}.
        </p>
      )}
      {rels.loading && !rels.data && <Loading what="relations" />}
      <ErrorNote error={rels.error} />
      {rels.data && items.length === 0 && <Empty>No related tasks.</Empty>}
      {items.length > 0 && (
        <ul className="plan-list" id="relation-list">
          {items.map((r) => (
            <li key={`${r.type}-${r.task_id}`} data-task-id={r.task_id} data-type={r.type}>
              <span className="rel-type">{REL_LABEL[r.type]}</span>{' '}
              <TaskLink id={r.task_id} title={r.title} route={route} />{' '}
              <span className={`status status-${r.status}`}>{STATUS_LABEL[r.status]}</span>{' '}
              <ItemButton label="Remove" item={`relation with ${r.title}`} className="link danger" onClick={() => void remove(r)} />
            </li>
          ))}
        </ul>
      )}
      <form className="relation-form" onSubmit={add} aria-label="Add a relation">
        <div className="field">
          <label htmlFor="rel-type">This task</label>
          <select id="rel-type" value={type} onChange={(e) => setType(e.target.value as AddType)}>
            {ADD_TYPES.map(([t, l]) => <option key={t} value={t}>{l}</option>)}
          </select>
        </div>
        <TaskPicker exclude={new Set([task.id, ...items.map((r) => r.task_id)])} value={other} onChange={setOther}
          describedBy={invalid(error, 'task_id', 'e-rel-task')} />
        <button type="submit" disabled={!other}>Add relation</button>
        <FieldError error={error} field="task_id" id="e-rel-task" />
        <ErrorNote error={error && !error.field('task_id') ? error : null} />
      </form>
    </section>
  );
}

// ---------------------------------------------------------------- recurrence
const DAYS = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];
const DAY_NAME = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Common rules, anchored on the due date (or today). */
function presets(due: string): [string, string][] {
  const d = due ? new Date(`${due}T12:00:00`) : new Date();
  const day = d.getDay();
  return [
    ['FREQ=DAILY', 'Every day'],
    ['FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR', 'Every weekday'],
    [`FREQ=WEEKLY;BYDAY=${DAYS[day]}`, `Every week on ${DAY_NAME[day]}`],
    [`FREQ=WEEKLY;INTERVAL=2;BYDAY=${DAYS[day]}`, `Every 2 weeks on ${DAY_NAME[day]}`],
    [`FREQ=MONTHLY;BYMONTHDAY=${d.getDate()}`, `Every month on day ${d.getDate()}`],
    ['FREQ=MONTHLY;BYDAY=-1FR', 'The last Friday of every month'],
    ['FREQ=YEARLY', 'Every year'],
  ];
}

/** The rule as text (RRULE without the prefix), with presets and the API's reason when it is refused. */
export function RecurrenceField({ value, due, onChange, error }: {
  value: string; due: string; onChange: (v: string) => void; error: ApiError | null;
}) {
  const list = presets(due);
  const norm = value.trim().toUpperCase();
  const preset = !norm ? '' : list.find(([r]) => r === norm)?.[0] ?? 'custom';
  const err = error?.field('recurrence');
  return (
    <fieldset className="field wide recurrence">
      <legend>Repeat</legend>
      <div className="recurrence-row">
        <div className="field">
          <label htmlFor="f-repeat">Common rules</label>
          <select id="f-repeat" value={preset} onChange={(e) => { if (e.target.value !== 'custom') onChange(e.target.value); }}>
            <option value="">Does not repeat</option>
            {list.map(([r, l]) => <option key={r} value={r}>{l}</option>)}
            <option value="custom" disabled={preset !== 'custom'}>Custom rule</option>
          </select>
        </div>
        <div className="field grow">
          <label htmlFor="f-recurrence">Rule (RRULE)</label>
          <input id="f-recurrence" value={value} maxLength={500} spellCheck={false} placeholder="e.g. FREQ=WEEKLY;BYDAY=MO,FR"
            onChange={(e) => onChange(e.target.value)}
            aria-invalid={err ? true : undefined} aria-describedby={err ? 'e-recurrence recurrence-help' : 'recurrence-help'} />
        </div>
      </div>
      {err && <span className="field-error" id="e-recurrence">{err}</span>}
      <span className="muted small-text" id="recurrence-help">
        Completing the task creates the next one, due on the rule's next date. FREQ DAILY, WEEKLY, MONTHLY or YEARLY with INTERVAL, BYDAY, BYMONTHDAY, COUNT or UNTIL.
      </span>
    </fieldset>
  );
}
