/**
 * startReplicas: `count` real `gigafab server` processes on one PostgreSQL database, as an operator
 * would run them: the first starts on a fresh data directory, the others on copies of it (the
 * operator token and the audit signing key; server.pid is not copied) whose `keys/` is the first's
 * (the local key provider's directory, shared as a volume would be: a KEK one replica creates, the
 * others read). `leaderOf()` finds the replica
 * whose /healthz says it holds the scheduler lease.
 */
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from './server.js';

export interface Health {
  status: string;
  role?: 'leader' | 'follower';
  fencingToken?: number;
}

export async function health(s: TestServer, timeoutMs = 1000): Promise<Health | null> {
  try {
    const r = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    const body: unknown = await r.json();
    if (!body || typeof body !== 'object') return null;
    const get = (k: string): unknown => (k in body ? Reflect.get(body, k) : undefined);
    const role = get('role');
    const token = get('fencingToken');
    return {
      status: String(get('status')),
      ...(role === 'leader' || role === 'follower' ? { role } : {}),
      ...(typeof token === 'number' ? { fencingToken: token } : {}),
    };
  } catch {
    return null;
  }
}

export async function startReplicas(
  databaseUrl: string,
  count: number,
  timeScale = 600,
  extraArgs: string[] = [],
  /** Another build's bin/gigafab.js (a bench comparing builds); default: this checkout's. */
  bin?: string,
): Promise<TestServer[]> {
  const args = ['--database', databaseUrl, ...extraArgs];
  const first = await startTestServer({ extraArgs: args, timeScale, ...(bin ? { bin } : {}) });
  const out = [first];
  // The first replica makes its key directory on first use: make it now, so the links point at it.
  mkdirSync(join(first.dataDir, 'keys'), { recursive: true, mode: 0o700 });
  for (let i = 1; i < count; i++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'gigafab-replica-'));
    const skip = new Set([join(first.dataDir, 'server.pid'), join(first.dataDir, 'keys')]);
    cpSync(first.dataDir, dataDir, { recursive: true, filter: (src) => !skip.has(src) });
    symlinkSync(join(first.dataDir, 'keys'), join(dataDir, 'keys'));
    out.push(await startTestServer({ extraArgs: args, timeScale, dataDir, ...(bin ? { bin } : {}) }));
  }
  return out;
}

/** leader: the replica that says it leads (null: none answers as leader right now). */
export async function leaderOf(replicas: readonly TestServer[]): Promise<TestServer | null> {
  for (const r of replicas) if ((await health(r, 300))?.role === 'leader') return r;
  return null;
}
