// Labels, dates and the search snippet, shared by the screens.
import type { Priority, Status, Task } from './api';

export const STATUSES: Status[] = ['todo', 'in_progress', 'done', 'canceled'];
export const BOARD_COLUMNS: Status[] = ['todo', 'in_progress', 'done'];
export const PRIORITIES: Priority[] = ['none', 'low', 'medium', 'high', 'urgent'];
export const STATUS_LABEL: Record<Status, string> = {
  todo: 'To Do', in_progress: 'In Progress', done: 'Done', canceled: 'Canceled',
};
export const PRIORITY_LABEL: Record<Priority, string> = {
  none: 'No priority', low: 'Low', medium: 'Medium', high: 'High', urgent: 'Urgent',
};
export const EVENTS = ['assigned', 'updated', 'commented', 'mentioned', 'due_soon', 'overdue', 'unblocked'] as const;
export type EventName = (typeof EVENTS)[number];
export const EVENT_LABEL: Record<EventName, string> = {
  assigned: 'A task is assigned to me', updated: 'A task of mine changes', commented: 'Someone comments',
  mentioned: 'Someone mentions me', due_soon: 'A task is due soon', overdue: 'A task is overdue',
  unblocked: 'A task of mine is no longer blocked',
};
/** The defaults of doc/sql-api.md ("Preferences"), for events never set. */
export const EVENT_DEFAULTS: Record<EventName, { in_app: boolean; email: boolean }> = {
  assigned: { in_app: true, email: true }, updated: { in_app: true, email: false },
  commented: { in_app: true, email: false }, mentioned: { in_app: true, email: true },
  due_soon: { in_app: true, email: true }, overdue: { in_app: true, email: false },
  unblocked: { in_app: true, email: false },
};

export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function dueLabel(t: Pick<Task, 'due_date' | 'status'>): { text: string; overdue: boolean } {
  if (!t.due_date) return { text: '', overdue: false };
  const today = new Date().toISOString().slice(0, 10);
  const open = t.status === 'todo' || t.status === 'in_progress';
  return { text: t.due_date, overdue: open && t.due_date < today };
}

/**
 * search_tasks() returns HTML-escaped text with matches in <mark>: split it
 * into plain and marked parts and unescape, so nothing is parsed as HTML.
 */
export function snippetParts(snippet: string): { text: string; mark: boolean }[] {
  const unescape = (s: string) => s.replace(/&(lt|gt|quot|#39|#x27|amp);/g, (_, e: string) =>
    ({ lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", amp: '&' })[e] ?? '');
  const parts: { text: string; mark: boolean }[] = [];
  const re = /<mark>(.*?)<\/mark>/gs;
  let last = 0;
  for (let m = re.exec(snippet); m; m = re.exec(snippet)) {
    if (m.index > last) parts.push({ text: unescape(snippet.slice(last, m.index)), mark: false });
    parts.push({ text: unescape(m[1]), mark: true });
    last = m.index + m[0].length;
  }
  if (last < snippet.length) parts.push({ text: unescape(snippet.slice(last)), mark: false });
  return parts;
}

export function parseTags(s: string): string[] {
  return [...new Set(s.split(',').map((t) => t.trim()).filter(Boolean))];
}

export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
