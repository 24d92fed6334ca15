/** Shell: skip link, header (who is signed in, sign out), role-based navigation and the main region. */
import type { ComponentChildren } from 'preact';
import type { User } from '../api/types.js';
import { Link } from '../lib/router.js';
import { navFor } from '../routes.js';

export function Shell({
  me,
  path,
  onLogout,
  children,
}: {
  me: User;
  path: string;
  onLogout: () => void;
  children: ComponentChildren;
}) {
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">gigafab</span>
        <span class="who" data-testid="whoami">
          {me.name} · {me.role}
          {me.org ? ` · ${me.org}` : ''}
        </span>
        <button type="button" onClick={onLogout}>
          Sign out
        </button>
      </header>
      <div class="body">
        <nav aria-label="Views">
          <ul>
            {navFor(me.role).map((n) => (
              <li key={n.path}>
                <Link href={n.path} aria-current={path === n.path || path.startsWith(`${n.path}/`) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          {children}
        </main>
      </div>
    </>
  );
}
