// Profile and preferences: display name and time zone, password change,
// per-event notification channels (in-app, email), and personal access
// tokens (the secret shown once, when made).
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, call, client } from './api';
import { Empty, ErrorNote, Field, ItemButton, Loading, copyText, say, toApiError, useLoad, useSession } from './ui';
import { EVENTS, EVENT_DEFAULTS, EVENT_LABEL, when, type EventName } from './util';

const EXPIRY: [string, string][] = [['30', '30 days'], ['90', '90 days'], ['365', 'A year'], ['', 'Never']];

function Tokens() {
  const tokens = useLoad(() => call(() => client.GET('/api/v1/me/tokens')), []);
  const [error, setError] = useState<ApiError | null>(null);
  const [made, setMade] = useState<{ name: string; token: string } | null>(null);
  // the secret gets the focus, so that it is read out and easy to select
  useEffect(() => { if (made) document.getElementById('new-token')?.focus(); }, [made]);

  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setError(null);
    const days = String(f.get('expires') ?? '');
    try {
      const t = await call(() => client.POST('/api/v1/me/tokens', {
        body: {
          name: String(f.get('name') ?? ''),
          scopes: f.get('scope') === 'write' ? ['read', 'write'] : ['read'],
          ...(days ? { expires_in_days: Number(days) } : {}),
        },
      }));
      form.reset();
      setMade({ name: t.name, token: t.token });
      say(`Token “${t.name}” created. Copy it now: it is shown only once.`);
      await tokens.reload();
    } catch (err) {
      setError(toApiError(err));
    }
  }

  async function revoke(id: number, name: string) {
    if (!window.confirm(`Revoke the token “${name}”? Whatever uses it stops working at once.`)) return;
    try {
      await call(() => client.DELETE('/api/v1/me/tokens/{id}', { params: { path: { id } } }));
      say(`Token “${name}” revoked.`);
      await tokens.reload();
    } catch (err) {
      say(toApiError(err).message, 'error');
    }
  }

  const list = tokens.data ?? [];
  return (
    <section className="card wide" aria-labelledby="tokens-title" id="tokens">
      <h2 id="tokens-title">Personal access tokens</h2>
      <p className="muted">For scripts and calendar apps (CalDAV): a token works like your session, with the scopes you give it, until it expires or you revoke it.</p>
      {made && (
        <div className="new-token" role="region" aria-label="Your new token">
          <p><strong>Copy the token “{made.name}” now:</strong> it is not shown again.</p>
          <div className="filter-lang-row">
            <input id="new-token" aria-label={`The token ${made.name}`} readOnly value={made.token} onFocus={(e) => e.currentTarget.select()} />
            <button type="button" className="primary" onClick={() => copyText(made.token, 'Token')}>Copy token</button>
            <button type="button" onClick={() => setMade(null)}>Done</button>
          </div>
        </div>
      )}
      <form className="token-form" onSubmit={create} aria-label="New token">
        <Field id="t-name" label="Token name" error={error} field="name">
          {(aria) => <input id="t-name" name="name" required maxLength={100} placeholder="e.g. phone calendar" {...aria} />}
        </Field>
        <Field id="t-scope" label="Access" error={error} field="scopes">
          {(aria) => (
            <select id="t-scope" name="scope" defaultValue="read" {...aria}>
              <option value="read">Read only</option>
              <option value="write">Read and write</option>
            </select>
          )}
        </Field>
        <Field id="t-expires" label="Expires after" error={error} field="expires_in_days">
          {(aria) => (
            <select id="t-expires" name="expires" defaultValue="90" {...aria}>
              {EXPIRY.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
            </select>
          )}
        </Field>
        <button type="submit" className="primary">Create token</button>
        <ErrorNote error={error && !error.problem.errors?.length ? error : null} />
      </form>
      {tokens.loading && !tokens.data && <Loading what="tokens" />}
      <ErrorNote error={tokens.error} />
      {tokens.data && list.length === 0 && <Empty>No tokens yet.</Empty>}
      {list.length > 0 && (
        <div className="table-wrap">
          <table id="token-list">
            <caption className="sr-only">Your personal access tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th><th scope="col">Access</th><th scope="col" className="col-email">Created</th>
                <th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <tr key={t.id} data-token-id={t.id}>
                  <td>{t.name}</td>
                  <td>{t.scopes.includes('write') ? 'Read and write' : 'Read only'}</td>
                  <td className="col-email">{when(t.created_at)}</td>
                  <td>{t.expires_at ? when(t.expires_at) : 'Never'}</td>
                  <td>{t.last_used_at ? when(t.last_used_at) : 'Not yet'}</td>
                  <td>
                    <ItemButton label="Revoke" item={t.name} className="link danger" onClick={() => revoke(t.id, t.name)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

type Prefs = Record<EventName, { in_app: boolean; email: boolean }>;

function zones(current: string): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  const all = intl.supportedValuesOf?.('timeZone') ?? [];
  return [...new Set([current, 'UTC', ...all])].filter(Boolean).sort();
}

export function ProfileScreen() {
  const { me, setMe } = useSession();
  const [name, setName] = useState(me.display_name);
  const [tz, setTz] = useState(me.timezone);
  const [pErr, setPErr] = useState<ApiError | null>(null);
  const [pwErr, setPwErr] = useState<ApiError | null>(null);
  const stored: Partial<Prefs> = me.preferences.notifications ?? {};
  const [prefs, setPrefs] = useState<Prefs>(() =>
    Object.fromEntries(EVENTS.map((e) => [e, { ...EVENT_DEFAULTS[e], ...stored[e] }])) as Prefs);
  const [nErr, setNErr] = useState<ApiError | null>(null);

  async function saveProfile(e: FormEvent) {
    e.preventDefault();
    setPErr(null);
    try {
      setMe(await call(() => client.PATCH('/api/v1/me', { body: { display_name: name, timezone: tz } })));
      say('Profile saved.');
    } catch (err) {
      setPErr(toApiError(err));
    }
  }

  async function changePassword(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setPwErr(null);
    if (f.get('new_password') !== f.get('confirm')) {
      setPwErr(new ApiError(422, { detail: 'The two new passwords differ.', errors: [{ field: 'confirm', message: 'does not match the new password' }] }));
      return;
    }
    try {
      await call(() => client.POST('/api/v1/me/password', {
        body: { current_password: String(f.get('current_password')), new_password: String(f.get('new_password')) },
      }));
      form.reset();
      say('Password changed. Your other sessions were signed out.');
    } catch (err) {
      setPwErr(toApiError(err));
    }
  }

  async function savePrefs(e: FormEvent) {
    e.preventDefault();
    setNErr(null);
    try {
      setMe(await call(() => client.PATCH('/api/v1/me', { body: { preferences: { notifications: prefs } } })));
      say('Notification preferences saved.');
    } catch (err) {
      setNErr(toApiError(err));
    }
  }

  return (
    <main id="main" aria-labelledby="screen-title">
      <h1 id="screen-title">Profile and preferences</h1>
      <div className="profile-grid">
        <form className="card" onSubmit={saveProfile} aria-labelledby="profile-title">
          <h2 id="profile-title">Profile</h2>
          <p className="muted">{me.email}{me.role === 'admin' && ' · administrator'}</p>
          <ErrorNote error={pErr && !pErr.problem.errors?.length ? pErr : null} />
          <Field id="p-name" label="Display name" error={pErr} field="display_name">
            {(aria) => <input id="p-name" value={name} required maxLength={100} onChange={(e) => setName(e.target.value)} {...aria} />}
          </Field>
          <Field id="p-tz" label="Time zone" error={pErr} field="timezone">
            {(aria) => (
              <select id="p-tz" value={tz} onChange={(e) => setTz(e.target.value)} {...aria}>
                {zones(me.timezone).map((z) => <option key={z} value={z}>{z}</option>)}
              </select>
            )}
          </Field>
          <button type="submit" className="primary">Save profile</button>
        </form>

        <form className="card" onSubmit={changePassword} aria-labelledby="password-title">
          <h2 id="password-title">Password</h2>
          <ErrorNote error={pwErr} />
          <Field id="pw-current" label="Current password" error={pwErr} field="current_password">
            {(aria) => <input id="pw-current" name="current_password" type="password" required autoComplete="current-password" {...aria} />}
          </Field>
          <Field id="pw-new" label="New password (12 to 72 characters)" error={pwErr} field="new_password">
            {(aria) => <input id="pw-new" name="new_password" type="password" required minLength={12} maxLength={72} autoComplete="new-password" {...aria} />}
          </Field>
          <Field id="pw-confirm" label="New password again" error={pwErr} field="confirm">
            {(aria) => <input id="pw-confirm" name="confirm" type="password" required autoComplete="new-password" {...aria} />}
          </Field>
          <button type="submit" className="primary">Change password</button>
        </form>

        <form id="preferences" className="card wide" onSubmit={savePrefs} aria-labelledby="prefs-title">
          <h2 id="prefs-title">Notifications</h2>
          <ErrorNote error={nErr} />
          <table className="prefs">
            <caption className="sr-only">How you hear about each event</caption>
            <thead><tr><th scope="col">Event</th><th scope="col">In the app</th><th scope="col">By email</th></tr></thead>
            <tbody>
              {EVENTS.map((ev) => (
                <tr key={ev}>
                  <th scope="row">{EVENT_LABEL[ev]}</th>
                  {(['in_app', 'email'] as const).map((ch) => (
                    <td key={ch}>
                      <input type="checkbox" aria-label={`${EVENT_LABEL[ev]}: ${ch === 'in_app' ? 'in the app' : 'by email'}`}
                        checked={prefs[ev][ch]} onChange={(e) => setPrefs({ ...prefs, [ev]: { ...prefs[ev], [ch]: e.target.checked } })} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <button type="submit" className="primary">Save preferences</button>
        </form>

        <Tokens />
      </div>
    </main>
  );
}
