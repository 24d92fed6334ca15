/**
 * The console's root: restores the session from sessionStorage (checking the token with
 * /v1/whoami), shows the login when there is none or the server rejects it, else the shell with
 * the view for the current path.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, endSession, get, onSessionEnd } from './api/client.js';
import type { User } from './api/types.js';
import { Login } from './auth/login.js';
import { MeContext } from './auth/me.js';
import { clearToken, getToken } from './auth/session.js';
import { ErrorBoundary } from './components/error-boundary.js';
import { Shell } from './components/shell.js';
import { navigate, useLocation } from './lib/router.js';
import { homeFor, viewFor } from './routes.js';

type Session = { status: 'checking' } | { status: 'out'; notice: string | null } | { status: 'in'; me: User };

export function App() {
  const [session, setSession] = useState<Session>(() => (getToken() ? { status: 'checking' } : { status: 'out', notice: null }));
  const { path } = useLocation();

  useEffect(() => onSessionEnd((notice) => setSession({ status: 'out', notice })), []);

  useEffect(() => {
    if (session.status !== 'checking') return;
    get<User>('/v1/whoami')
      .then((me) => setSession({ status: 'in', me }))
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) return; // endSession already showed the login
        setSession({
          status: 'out',
          notice: `Could not check your session: ${err instanceof Error ? err.message : String(err)}`,
        });
      });
  }, [session.status]);

  useEffect(() => {
    // The start page, or a page this role has no view for (after signing in as someone else): go home.
    if (session.status === 'in' && viewFor(session.me.role, path) === null) navigate(homeFor(session.me.role), true);
  }, [session, path]);

  useEffect(() => {
    const titles: Record<Session['status'], string> = { checking: 'gigafab', out: 'Sign in · gigafab', in: 'gigafab console' };
    document.title = titles[session.status];
  }, [session.status]);

  if (session.status === 'checking') return <p aria-busy="true">Checking your session…</p>;
  if (session.status === 'out') return <Login notice={session.notice} onLogin={(me) => setSession({ status: 'in', me })} />;

  const logout = () => {
    clearToken();
    endSession('You signed out.');
  };
  const view = viewFor(session.me.role, path);
  return (
    <MeContext.Provider value={session.me}>
      <Shell me={session.me} path={path} onLogout={logout}>
        <ErrorBoundary key={path}>{view}</ErrorBoundary>
      </Shell>
    </MeContext.Provider>
  );
}
