// The HTTP API, typed from shim/openapi.json (src/gen/openapi.d.ts is made by
// openapi-typescript at build time), called through openapi-fetch.
// Tokens: the access token lives in this module's memory only; the refresh
// token in sessionStorage, so a reload keeps the session in this tab and no
// other tab or later visit gets it.
import createClient from 'openapi-fetch';
import type { components, paths } from './gen/openapi';

type S = components['schemas'];
export type Task = S['Task'];
export type TaskInput = S['TaskInput'];
export type User = S['User'];
export type Team = S['Team'];
export type Member = Team['members'][number];
export type Comment = S['Comment'];
export type HistoryEvent = S['HistoryEvent'];
export type Notification = S['Notification'];
export type Problem = S['Problem'];
export type DirectoryEntry = S['DirectoryEntry'];
export type TokenPair = S['TokenPair'];
export type SavedView = S['SavedView'];
export type PersonalToken = S['PersonalToken'];
export type Relation = S['Relation'];
export type Status = Task['status'];
export type Priority = Task['priority'];
export type Assignee = NonNullable<Task['assignee']>;
export type ListQuery = NonNullable<paths['/api/v1/tasks']['get']['parameters']['query']>;

export const client = createClient<paths>({ baseUrl: '' });

const REFRESH_KEY = 'taskmgmt.refresh_token';
let access: string | null = null;
let refreshTimer: number | undefined;
let refreshing: Promise<boolean> | null = null;
const tokenListeners = new Set<(token: string | null) => void>();

client.use({
  onRequest({ request }) {
    if (access && !request.headers.has('Authorization')) request.headers.set('Authorization', `Bearer ${access}`);
    return request;
  },
});

export function accessToken(): string | null {
  return access;
}

export function hasStoredSession(): boolean {
  return sessionStorage.getItem(REFRESH_KEY) !== null;
}

/** Called with the new access token after sign-in or refresh, null after sign-out. */
export function onToken(fn: (token: string | null) => void): () => void {
  tokenListeners.add(fn);
  return () => tokenListeners.delete(fn);
}

export function setTokens(pair: TokenPair): void {
  access = pair.access_token;
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  window.clearTimeout(refreshTimer);
  // refresh a little before expiry, so the websocket is never cut for it
  const ms = Math.max(10, pair.expires_in - 30) * 1000;
  refreshTimer = window.setTimeout(() => void refresh(), ms);
  for (const fn of tokenListeners) fn(access);
}

export function clearTokens(): void {
  access = null;
  window.clearTimeout(refreshTimer);
  sessionStorage.removeItem(REFRESH_KEY);
  for (const fn of tokenListeners) fn(null);
}

/** One refresh at a time; false (and signed out) when the refresh token is refused. */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    const token = sessionStorage.getItem(REFRESH_KEY);
    if (!token) return false;
    try {
      const { data, response } = await client.POST('/api/v1/auth/refresh', { body: { refresh_token: token } });
      if (response.ok && data) {
        setTokens(data);
        return true;
      }
    } catch {
      return false; // network: keep the session, the next call tries again
    }
    clearTokens();
    return false;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

/** An error answer: problem+json's detail, and errors[].field for the form. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Partial<Problem>;
  constructor(status: number, problem: Partial<Problem>) {
    super(problem.detail || problem.title || (status ? `The request failed (${status}).` : 'The server could not be reached.'));
    this.status = status;
    this.problem = problem;
  }
  field(name: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === name)?.message;
  }
}

type Answer<T> = { data?: T; error?: unknown; response: Response };
const problemOf = (a: { error?: unknown }) => (a.error && typeof a.error === 'object' ? a.error : {}) as Partial<Problem>;

/**
 * Runs one call, refreshing the access token once on a 401; resolves to the
 * data, or rejects with an ApiError.
 */
export async function call<T>(fn: () => Promise<Answer<T>>): Promise<T> {
  let r: Answer<T>;
  // a wrong (current) password is a 401 too, but the session is fine
  const expired = (a: Answer<T>) => a.response.status === 401 && access !== null && problemOf(a).code !== 'invalid_credentials';
  try {
    r = await fn();
    if (expired(r) && (await refresh())) r = await fn();
  } catch {
    throw new ApiError(0, { detail: 'The server could not be reached. Check your connection and try again.' });
  }
  if (r.response.ok) return r.data as T;
  if (expired(r)) clearTokens();
  throw new ApiError(r.response.status, problemOf(r));
}

/** GET of a non-JSON resource (CSV, PDF) with the bearer token, as a Blob. */
export async function download(path: string, query: Record<string, string>): Promise<Blob> {
  const get = () => fetch(`${path}?${new URLSearchParams(query)}`, {
    headers: access ? { Authorization: `Bearer ${access}` } : {},
  });
  let res = await get();
  if (res.status === 401 && (await refresh())) res = await get();
  if (!res.ok) {
    const problem = await res.json().catch(() => ({}));
    throw new ApiError(res.status, problem as Partial<Problem>);
  }
  return res.blob();
}

export async function signIn(email: string, password: string): Promise<void> {
  const pair = await call(() => client.POST('/api/v1/auth/token', {
    body: { grant_type: 'password', username: email, password },
  }));
  setTokens(pair);
}

export async function signOut(): Promise<void> {
  if (access) await call(() => client.POST('/api/v1/auth/logout')).catch(() => undefined);
  clearTokens();
}
