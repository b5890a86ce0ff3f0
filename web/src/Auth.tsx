// Sign in, or create an account and sign in.
import { useState, type FormEvent } from 'react';
import { call, client, signIn, type ApiError } from './api';
import { ErrorNote, FieldError, invalid, toApiError } from './ui';

export function Auth({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [mode, setMode] = useState<'in' | 'up'>('in');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const email = String(f.get('email'));
    const password = String(f.get('password'));
    setBusy(true);
    setError(null);
    try {
      if (mode === 'up') {
        await call(() => client.POST('/api/v1/auth/register', {
          body: { email, password, display_name: String(f.get('display_name')) },
        }));
      }
      await signIn(email, password);
      await onSignedIn();
    } catch (err) {
      setError(toApiError(err));
      setBusy(false);
    }
  }

  return (
    <main id="main" className="auth">
      <section className="card auth-card" aria-labelledby="auth-title">
        <h1 id="auth-title">{mode === 'in' ? 'Sign in to taskmgmt' : 'Create your account'}</h1>
        <form id={mode === 'in' ? 'sign-in-form' : 'register-form'} onSubmit={submit} noValidate={false}>
          <ErrorNote error={error} />
          {mode === 'up' && (
            <label>Name
              <input name="display_name" required maxLength={100} autoComplete="name" {...invalid(error, 'display_name', 'e-name')} />
              <FieldError error={error} field="display_name" id="e-name" />
            </label>
          )}
          <label>Email
            <input name="email" type="email" required autoComplete="username" {...invalid(error, 'email', 'e-email')} />
            <FieldError error={error} field="email" id="e-email" />
          </label>
          <label>Password{mode === 'up' && ' (12 to 72 characters)'}
            <input name="password" type="password" required minLength={mode === 'up' ? 12 : undefined} maxLength={72}
              autoComplete={mode === 'up' ? 'new-password' : 'current-password'} {...invalid(error, 'password', 'e-password')} />
            <FieldError error={error} field="password" id="e-password" />
          </label>
          <button type="submit" className="primary" disabled={busy}>{mode === 'in' ? 'Sign in' : 'Create account'}</button>
        </form>
        <p>
          {mode === 'in' ? 'New here? ' : 'Have an account? '}
          <button type="button" className="link" onClick={() => { setMode(mode === 'in' ? 'up' : 'in'); setError(null); }}>
            {mode === 'in' ? 'Create an account' : 'Sign in instead'}
          </button>
        </p>
      </section>
    </main>
  );
}
