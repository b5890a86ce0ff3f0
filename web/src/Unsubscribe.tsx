// The one-click unsubscribe link of an email (List-Unsubscribe), opened in a
// browser: ask first, then POST to the same address as a mail provider would
// (RFC 8058).  The signed token in the address is the authority, so no
// sign-in is needed, and all it can do is stop that user's email.
import { useState } from 'react';

export function Unsubscribe() {
  const [state, setState] = useState<'ask' | 'busy' | 'done'>('ask');
  const [error, setError] = useState('');
  async function confirm() {
    setState('busy');
    setError('');
    const res = await fetch(location.pathname + location.search, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    }).catch(() => null);
    if (res?.ok) { setState('done'); return; }
    const problem = res ? await res.json().catch(() => null) : null;
    setError(problem?.detail || 'The request failed; try again.');
    setState('ask');
  }
  return (
    <main id="main" className="auth">
      <section id="unsubscribe" className="card" aria-labelledby="unsub-title">
        <h1 id="unsub-title">Stop notification emails</h1>
        {state === 'done' ? (
          <p id="unsubscribe-done" role="status">Done: you will get no more notification emails. You can turn
            them back on in your <a href="/?preferences">preferences</a>.</p>
        ) : (
          <>
            <p>Turn off every email notification for the account this link was sent to? Notifications in the
              app stay on.</p>
            {error && <p id="message" className="error" role="alert">{error}</p>}
            <button id="unsubscribe-button" type="button" className="primary" disabled={state === 'busy'}
              onClick={() => { void confirm(); }}>Stop emails</button>
          </>
        )}
      </section>
    </main>
  );
}
