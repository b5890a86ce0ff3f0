// Where the UI is: everything lives in the query string of "/", so a view
// with its filters is a shareable URL, the shim serves one page, and links in
// notification emails (/?task=ID) open the task.  `saved=NAME` names the
// saved view the filters came from (alone, it opens that view of mine).
import { useEffect, useState } from 'react';

export type View = 'board' | 'list' | 'teams' | 'inbox' | 'profile';
const VIEWS: View[] = ['board', 'list', 'teams', 'inbox', 'profile'];

/** List filter keys kept in the URL (the API's own names; filter: the filter language). */
export const FILTER_KEYS = ['status', 'assignee', 'team', 'priority', 'tag', 'due_before', 'due_after', 'overdue', 'filter', 'q', 'sort'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filter = Partial<Record<FilterKey, string>>;

export interface Route {
  view: View;
  task: number | null;
  team: number | null;
  filter: Filter;
  saved: string | null;
}

export function parse(search: string): Route {
  const p = new URLSearchParams(search);
  const v = p.get('view') as View | null;
  const id = (k: string) => (/^[1-9][0-9]{0,17}$/.test(p.get(k) ?? '') ? Number(p.get(k)) : null);
  const filter: Filter = {};
  for (const k of FILTER_KEYS) {
    const val = p.get(k);
    if (val) filter[k] = val;
  }
  // /?preferences (the link in every notification email) is the profile
  const view: View = p.has('preferences') ? 'profile' : v && VIEWS.includes(v) ? v : 'board';
  return { view, task: id('task'), team: id('team_id'), filter, saved: p.get('saved') || null };
}

export function href(r: Partial<Route>, base?: Route): string {
  const next: Route = { view: 'board', task: null, team: null, filter: {}, saved: null, ...base, ...r };
  const p = new URLSearchParams();
  if (next.view !== 'board') p.set('view', next.view);
  if (next.task) p.set('task', String(next.task));
  if (next.team) p.set('team_id', String(next.team));
  if (next.view === 'board' || next.view === 'list') {
    for (const k of FILTER_KEYS) if (next.filter[k]) p.set(k, next.filter[k]!);
    if (next.saved) p.set('saved', next.saved);
  }
  const s = p.toString();
  return s ? `/?${s}` : '/';
}

const listeners = new Set<() => void>();
export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const fn of listeners) fn();
}

export function useRoute(): Route {
  const [search, setSearch] = useState(location.search);
  useEffect(() => {
    const on = () => setSearch(location.search);
    listeners.add(on);
    window.addEventListener('popstate', on);
    return () => { listeners.delete(on); window.removeEventListener('popstate', on); };
  }, []);
  return parse(search);
}
