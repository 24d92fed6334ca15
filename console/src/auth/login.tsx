/**
 * Login with an API token (the same token the CLI uses). The token is checked with /v1/whoami
 * before it is kept; a rejected token leaves a plain message, never a blank page.
 */
import { useState } from 'preact/hooks';
import { ApiError, request } from '../api/client.js';
import type { User } from '../api/types.js';
import { setToken } from './session.js';

export function Login({ notice, onLogin }: { notice: string | null; onLogin: (me: User) => void }) {
  const [token, setTokenValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError('Enter your API token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const me = await request<User>('GET', '/v1/whoami', undefined, t);
      setToken(t);
      onLogin(me);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'That token was not accepted: it is wrong, expired or revoked.'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" id="main">
      <form class="panel" onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">gigafab console</h1>
        <p>Sign in with your API token. Operators find theirs in the server's data directory (operator-token).</p>
        {notice && (
          <p class="notice" role="status" data-testid="login-notice">
            {notice}
          </p>
        )}
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setTokenValue(e.currentTarget.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'login-error' : undefined}
        />
        {error && (
          <p class="error" role="alert" id="login-error" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
