/**
 * PostgreSQL for the store: a `pg` pool behind Kysely's PostgresDialect, 64-bit integers parsed
 * to numbers (ids, counts), libpq-style multi-host URLs resolved to the writable primary, and
 * connection failures reported as `store_unavailable` (see store-unavailable.ts).
 */
import { type DatabaseConnection, type Driver, PostgresDialect, type TransactionSettings } from 'kysely';
import pg from 'pg';
import { asStoreError, isUnavailable, storeUnavailable } from './store-unavailable.js';

const INT8_OID = 20;
/** bigserial ids and count(*) are int8: numbers here, as on SQLite (ids stay far below 2^53). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long to wait for a connection before answering "unavailable" (default 5000 ms). */
  connectTimeoutMs?: number;
}

export interface PostgresTarget {
  hosts: { host: string; port: number }[];
  /** `read-write`: only a primary will do (libpq's target_session_attrs). */
  readWrite: boolean;
  /** The URL without the host list and without target_session_attrs (node-postgres knows neither). */
  base: URL;
}

/**
 * parsePostgresUrl splits a libpq URL (`postgresql://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write`)
 * into its hosts; node-postgres itself connects to one host only.
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const m = /^(postgres(?:ql)?:\/\/)(?:([^@/]*)@)?([^/?]*)(.*)$/.exec(url);
  if (!m) throw new Error(`not a PostgreSQL URL: ${redact(url)}`);
  const [, scheme, auth, hostList, rest] = m;
  const hosts = (hostList ?? '')
    .split(',')
    .filter((h) => h !== '')
    .map((h) => {
      const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h);
      if (!hp) throw new Error(`bad host "${h}" in PostgreSQL URL`);
      return { host: hp[1]!, port: hp[2] ? Number(hp[2]) : 5432 };
    });
  const base = new URL(`${scheme}${auth ? `${auth}@` : ''}${hosts[0] ? 'placeholder' : 'localhost'}${rest}`);
  const readWrite = base.searchParams.get('target_session_attrs') === 'read-write';
  base.searchParams.delete('target_session_attrs');
  return { hosts, readWrite, base };
}

/** The URL as it may be printed: without the password. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

function urlFor(target: PostgresTarget, h: { host: string; port: number } | undefined): string {
  const u = new URL(target.base.href);
  if (h) {
    u.hostname = h.host;
    u.port = String(h.port);
  }
  return u.href;
}

/** resolvePrimary: the first host that answers (and, for read-write, is not a standby). */
async function resolvePrimary(target: PostgresTarget, timeoutMs: number): Promise<string> {
  if (target.hosts.length <= 1 && !target.readWrite) return urlFor(target, target.hosts[0]);
  const failures: string[] = [];
  for (const h of target.hosts.length ? target.hosts : [undefined]) {
    const client = new pg.Client({ connectionString: urlFor(target, h), connectionTimeoutMillis: timeoutMs });
    try {
      await client.connect();
      const r = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
      if (!target.readWrite || r.rows[0]?.transaction_read_only === 'off') return urlFor(target, h);
      failures.push(`${h?.host}:${h?.port} is read-only`);
    } catch (err) {
      failures.push(`${h?.host}:${h?.port}: ${(err as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw asStoreError(Object.assign(new Error(`no writable PostgreSQL host (${failures.join('; ')})`), { code: '08001' }));
}

export async function createPostgresPool(url: string, opts: PostgresOptions = {}): Promise<pg.Pool> {
  const timeout = opts.connectTimeoutMs ?? 5000;
  const connectionString = await resolvePrimary(parsePostgresUrl(url), timeout);
  const pool = new pg.Pool({ connectionString, max: opts.poolSize ?? 10, connectionTimeoutMillis: timeout, types });
  // A connection that dies (server restart, failover) must not crash the process: idle ones are reported
  // on the pool, checked-out ones on the client (the query running on it fails and says so), and the
  // pool replaces them on the next checkout.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** The PostgreSQL dialect whose driver reports lost connections as `store_unavailable`. */
export class GuardedPostgresDialect extends PostgresDialect {
  override createDriver(): Driver {
    return guardDriver(super.createDriver());
  }
}

function guard<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw asStoreError(err);
  });
}

function guardDriver(inner: Driver): Driver {
  const conn = (c: DatabaseConnection): DatabaseConnection => ({
    executeQuery: (q) => guard(c.executeQuery(q)),
    streamQuery: (q, chunk) => c.streamQuery(q, chunk),
  });
  // Kysely hands our wrapped connection back to the driver: map it to the pool's own.
  const inners = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const unwrap = (c: DatabaseConnection) => inners.get(c) ?? c;
  return {
    init: () => guard(inner.init()),
    async acquireConnection() {
      const c = await guard(inner.acquireConnection());
      const wrapped = conn(c);
      inners.set(wrapped, c);
      return wrapped;
    },
    beginTransaction: (c, s: TransactionSettings) => guard(inner.beginTransaction(unwrap(c), s)),
    commitTransaction: (c) =>
      inner.commitTransaction(unwrap(c)).catch((err: unknown) => {
        throw isUnavailable(err) ? storeUnavailable(err, true) : err;
      }),
    rollbackTransaction: (c) => guard(inner.rollbackTransaction(unwrap(c))),
    releaseConnection: (c) => inner.releaseConnection(unwrap(c)),
    destroy: () => inner.destroy(),
  };
}
