// Profile and preferences: display name and time zone, password change,
// and per-event notification channels (in-app, email).
import { useState, type FormEvent } from 'react';
import { ApiError, call, client } from './api';
import { ErrorNote, Field, say, toApiError, useSession } from './ui';
import { EVENTS, EVENT_DEFAULTS, EVENT_LABEL, type EventName } from './util';

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
      </div>
    </main>
  );
}
