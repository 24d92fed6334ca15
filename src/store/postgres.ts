/**
 * PostgreSQL for the store: a `pg` pool behind Kysely's PostgresDialect, 64-bit integers parsed
 * to numbers (ids, counts), libpq-style multi-host URLs resolved to the writable primary, and
 * connection failures reported as `store_unavailable` (see store-unavailable.ts).
 */
import { createHash } from 'node:crypto';
import { CompiledQuery, type DatabaseConnection, type Driver, PostgresDialect, type TransactionSettings } from 'kysely';
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

/**
 * PrimaryPool: the connection pool, following the writable primary of a multi-host URL. When the
 * database becomes unreachable or refuses a write as read-only (the old primary came back as a
 * standby), it looks for the primary again (at most once a second) and hands out connections of a new
 * pool there; the old pool ends as its connections come back. With one host it never moves.
 */
export class PrimaryPool {
  private current: pg.Pool;
  private searching = false;
  private lastSearch = 0;

  constructor(
    private readonly target: PostgresTarget,
    private url: string,
    private readonly opts: Required<PostgresOptions>,
  ) {
    this.current = this.poolAt(url);
  }

  connect(): Promise<pg.PoolClient> {
    return this.current.connect();
  }

  end(): Promise<void> {
    return this.current.end();
  }

  /** unavailable: a query met an unreachable or read-only database; find the primary again. */
  unavailable(): void {
    if (this.target.hosts.length <= 1 || this.searching || Date.now() - this.lastSearch < 1000) return;
    this.searching = true;
    this.lastSearch = Date.now();
    resolvePrimary(this.target, this.opts.connectTimeoutMs)
      .then((url) => {
        if (url === this.url) return;
        const old = this.current;
        this.current = this.poolAt(url);
        this.url = url;
        void old.end().catch(() => undefined);
      })
      .catch(() => undefined) // no primary yet: the next failure looks again
      .finally(() => {
        this.searching = false;
      });
  }

  private poolAt(connectionString: string): pg.Pool {
    const { poolSize, connectTimeoutMs } = this.opts;
    const pool = new pg.Pool({ connectionString, max: poolSize, connectionTimeoutMillis: connectTimeoutMs, types });
    // A connection that dies (server restart, failover) must not crash the process: idle ones are reported
    // on the pool, checked-out ones on the client (the query running on it fails and says so), and the
    // pool replaces them on the next checkout.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      client.on('error', () => undefined);
      prepareHotStatements(client);
    });
    return pool;
  }
}

/**
 * Statements worth preparing once per connection: parameterised DML and selects of named columns. Not
 * `select *` or `returning *`, whose result shape a migration may change under a cached plan.
 */
const PREPARABLE = /^\s*(insert|update|delete|select)\s/i;
const WHOLE_ROW = /select \*|returning \*/i;
/** Statement names by SQL text; bounded, so ad-hoc queries cannot grow it (or the server's cache) without end. */
const names = new Map<string, string>();
const MAX_NAMES = 4096;

function statementName(text: string): string | null {
  let name = names.get(text);
  if (name) return name;
  if (names.size >= MAX_NAMES || !PREPARABLE.test(text) || WHOLE_ROW.test(text)) return null;
  name = `gf_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
  names.set(text, name);
  return name;
}

/**
 * prepareHotStatements makes node-postgres send the store's repeated statements as named prepared
 * statements: PostgreSQL parses and plans each once per connection instead of on every call (the
 * submission path runs the same handful of statements thousands of times a second). Kysely calls
 * `query(text, values)`; this turns such a call into `query({ name, text, values })`.
 */
function prepareHotStatements(client: pg.PoolClient): void {
  const query = client.query;
  client.query = function (this: pg.PoolClient, ...args: unknown[]) {
    const [text, values] = args;
    if (typeof text === 'string' && Array.isArray(values) && values.length > 0) {
      const name = statementName(text);
      if (name) return Reflect.apply(query, this, [{ name, text, values }]);
    }
    return Reflect.apply(query, this, args);
  } as typeof client.query;
}

export async function createPostgresPool(url: string, opts: PostgresOptions = {}): Promise<PrimaryPool> {
  const full = { poolSize: opts.poolSize ?? 10, connectTimeoutMs: opts.connectTimeoutMs ?? 5000 };
  const target = parsePostgresUrl(url);
  return new PrimaryPool(target, await resolvePrimary(target, full.connectTimeoutMs), full);
}

/** The PostgreSQL dialect whose driver reports lost connections as `store_unavailable` (and tells the pool). */
export class GuardedPostgresDialect extends PostgresDialect {
  constructor(
    private readonly primary: PrimaryPool,
    /** begin: the SQL that opens a transaction without settings (default `begin`); a constant, sent as one simple query. */
    private readonly opts: { begin?: string } = {},
  ) {
    super({ pool: primary });
  }

  override createDriver(): Driver {
    return guardDriver(super.createDriver(), () => this.primary.unavailable(), this.opts.begin);
  }
}

function guardDriver(inner: Driver, unavailable: () => void, begin?: string): Driver {
  const guard = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      const e = asStoreError(err);
      if (isUnavailable(e)) unavailable();
      throw e;
    });
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
    beginTransaction: (c, s: TransactionSettings) =>
      guard(
        begin && !s.isolationLevel && !s.accessMode
          ? unwrap(c)
              .executeQuery(CompiledQuery.raw(begin))
              .then(() => undefined)
          : inner.beginTransaction(unwrap(c), s),
      ),
    commitTransaction: (c) =>
      inner.commitTransaction(unwrap(c)).catch((err: unknown) => {
        if (!isUnavailable(err)) throw err;
        unavailable();
        throw storeUnavailable(err, true);
      }),
    // A ROLLBACK after a lost connection (a statement's, or the COMMIT's) fails too: the database rolls
    // back a transaction whose connection is gone, and the error to report is the one that made Kysely
    // roll back — above all a COMMIT's "outcome unknown", which a failed ROLLBACK's would replace.
    rollbackTransaction: (c) =>
      inner.rollbackTransaction(unwrap(c)).catch((err: unknown) => {
        if (!isUnavailable(err)) throw asStoreError(err);
        unavailable();
      }),
    releaseConnection: (c) => inner.releaseConnection(unwrap(c)),
    destroy: () => inner.destroy(),
  };
}
