// Sign-in: paste a token. `logfsctl up` prints a link with `#token=…` that skips this page; the
// admin token is also in <data>/admin.token.
import { useState } from 'react';

export function SignInPage({ error, onSignIn }: { error: string | null; onSignIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  return (
    <div className="signin">
      <form
        className="signin-card"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) onSignIn(token.trim());
        }}
      >
        <div className="signin-brand">
          <span className="brand-mark brand-mark-lg">
            <svg viewBox="0 0 16 16" width="22" height="22" aria-hidden>
              <path d="M4 3v10h8" stroke="white" strokeWidth="2.2" fill="none" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
          </span>
          <div>
            <h1>Sign in to logFS</h1>
            <p className="muted">Streams, graphs, live records and the fleet, in one place.</p>
          </div>
        </div>
        {error && (
          <div className="banner banner-bad" role="alert">
            {error}
          </div>
        )}
        <label className="field">
          <span className="field-label">Access token</span>
          <input name="token" type="password" autoFocus autoComplete="off" spellCheck={false} placeholder="Paste your token" value={token} onChange={(e) => setToken(e.target.value)} />
          <span className="field-help">
            An admin token is written to <code>&lt;data&gt;/admin.token</code> when the service first starts; <code>logfsctl up</code> also prints a sign-in link. Provider tokens are created by an admin (<code>POST /api/v1/tokens</code>).
          </span>
        </label>
        <button className="btn btn-primary btn-block" type="submit" disabled={!token.trim()}>
          Sign in
        </button>
        <p className="signin-foot muted">The token stays in this browser (local storage) until you sign out.</p>
      </form>
    </div>
  );
}
