// Small pieces every screen uses: loading and error state of a fetch, the
// field error next to its input, empty and loading placeholders, the status
// line, the signed-in session, and refreshing when something changed.
import { createContext, useCallback, useContext, useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, type Team, type User } from './api';
import { subscribe, type LiveEvent } from './live';

export interface Session {
  me: User;
  teams: Team[];
  setMe: (u: User) => void;
  reloadTeams: () => Promise<void>;
  unread: number;
  refreshUnread: () => void;
}
export const SessionContext = createContext<Session | null>(null);
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('no session');
  return s;
}

export interface Load<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  reload: () => Promise<void>;
  setData: (d: T) => void;
}

/** Fetches on mount and when deps change; reload() fetches again quietly. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Load<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async (quiet: boolean) => {
    const mine = ++seq.current;
    if (!quiet) setLoading(true);
    try {
      const d = await fnRef.current();
      if (mine === seq.current) { setData(d); setError(null); }
    } catch (e) {
      if (mine === seq.current) setError(toApiError(e));
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, []);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => { void run(false); }, deps);
  return { data, error, loading, reload: () => run(true), setData };
}

export function toApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, { detail: e instanceof Error ? e.message : String(e) });
}

/**
 * Calls reload when another user's change may show here: a notification
 * (about this task, if taskId is given), the socket reconnecting, the tab
 * coming back into view, and every `pollMs` while it is visible (changes
 * that notify nobody here, e.g. on a teammate's task).
 */
export function useLiveRefresh(reload: () => void, taskId?: number, pollMs = 20_000): void {
  const ref = useRef(reload);
  ref.current = reload;
  useEffect(() => {
    let timer: number | undefined;
    const soon = () => { window.clearTimeout(timer); timer = window.setTimeout(() => ref.current(), 150); };
    const off = subscribe((e: LiveEvent) => {
      if (e.type === 'resync' || taskId === undefined || e.notification.task_id === taskId) soon();
    });
    const onVisible = () => { if (document.visibilityState === 'visible') soon(); };
    document.addEventListener('visibilitychange', onVisible);
    const poll = window.setInterval(() => { if (document.visibilityState === 'visible') ref.current(); }, pollMs);
    return () => {
      off();
      window.clearTimeout(timer);
      window.clearInterval(poll);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [taskId, pollMs]);
}

export function ErrorNote({ error }: { error: ApiError | null | undefined }) {
  if (!error) return null;
  return <p className="error" role="alert">{error.message}</p>;
}

/** The message of errors[].field for this field, with the id the input points at. */
export function FieldError({ error, field, id }: { error: ApiError | null | undefined; field: string; id: string }) {
  const msg = error?.field(field);
  return msg ? <span className="field-error" id={id}>{msg}</span> : null;
}

/** Props for an input whose errors show in a FieldError with this id. */
export function invalid(error: ApiError | null | undefined, field: string, id: string) {
  return error?.field(field) ? { 'aria-invalid': true as const, 'aria-describedby': id } : {};
}

/** A label, its control (given the aria props for an error) and the error of that field. */
export function Field({ id, label, error, field, wide, children }: {
  id: string; label: ReactNode; error: ApiError | null | undefined; field: string; wide?: boolean;
  children: (aria: ReturnType<typeof invalid>) => ReactNode;
}) {
  return (
    <div className={wide ? 'field wide' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {children(invalid(error, field, `e-${id}`))}
      <FieldError error={error} field={field} id={`e-${id}`} />
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="loading" role="status" aria-live="polite">Loading {what}…</p>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/** A button whose visible label ("Delete") is completed for screen readers by what it acts on. */
export function ItemButton({ label, item, className, onClick }: { label: string; item: string; className?: string; onClick: () => void }) {
  return (
    <button type="button" className={className} onClick={onClick}>
      {label}<span className="sr-only"> {item}</span>
    </button>
  );
}

/** Copies text to the clipboard and says so (or that it could not). */
export async function copyText(text: string, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} copied.`);
  } catch {
    say('Could not copy: select the text and copy it yourself.', 'warn');
  }
}

// ---- the status line: short confirmations and notices, read by screen readers
type Say = { text: string; kind: 'ok' | 'warn' | 'error'; n: number };
const sayListeners = new Set<(s: Say) => void>();
let sayCount = 0;
export function say(text: string, kind: Say['kind'] = 'ok'): void {
  const s = { text, kind, n: ++sayCount };
  for (const fn of sayListeners) fn(s);
}

export function StatusLine() {
  const [msg, setMsg] = useState<Say | null>(null);
  useEffect(() => {
    let timer: number | undefined;
    const on = (s: Say) => {
      setMsg(s);
      window.clearTimeout(timer);
      timer = window.setTimeout(() => setMsg(null), s.kind === 'ok' ? 4000 : 8000);
    };
    sayListeners.add(on);
    return () => { sayListeners.delete(on); window.clearTimeout(timer); };
  }, []);
  return (
    <div id="status-line" className={`status-line ${msg ? `show ${msg.kind}` : ''}`} role="status" aria-live="polite">
      {msg?.text}
    </div>
  );
}

/** A native modal dialog (focus kept inside, Escape closes; starts at [data-autofocus]). */
export function Dialog({ open, onClose, title, children, id }: {
  open: boolean; onClose: () => void; title: string; children: ReactNode; id: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // before paint: the dialog opens and closes in the same frame as whatever
  // the change shows (a view saved and shown, say), so no key typed in
  // between meets a dialog that the screen no longer shows
  useLayoutEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      d.showModal();
      // showModal() focuses the first control (the close button): start at the form instead
      d.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    }
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} id={id} aria-labelledby={`${id}-title`} onClose={onClose} onCancel={onClose}>
      <div className="dialog-head">
        <h2 id={`${id}-title`}>{title}</h2>
        <button type="button" className="ghost" onClick={onClose} aria-label="Close">✕</button>
      </div>
      {open && children}
    </dialog>
  );
}
