/**
 * Store: the single source of truth. Embedded SQLite (WAL, synchronous=FULL) by default;
 * the same Kysely code speaks PostgreSQL for multi-replica production.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { flushAudit } from './audit.js';
import { flushDeferred } from './deferred-insert.js';
import { migrationProvider } from './migrations.js';
import { createPostgresPool, GuardedPostgresDialect, type PostgresOptions, redact } from './postgres.js';
import type { Database } from './schema.js';
import { type FieldSealer, plainFields } from './sealed-fields.js';
import { isOutcomeUnknown } from './store-unavailable.js';
import { type TxBody, WriteBatcher, type WriteTxOptions } from './write-batcher.js';

export type Db = Kysely<Database>;
export type StoreDialect = 'sqlite' | 'postgres';

/** The advisory lock key that orders write transactions on PostgreSQL (any constant; "gigafab"). */
const WRITE_LOCK_KEY = 0x67696761;
/**
 * What opens a write transaction on PostgreSQL: BEGIN and the transaction-scoped advisory lock in one
 * simple query (one round trip instead of two; a constant, no parameters). Only the write batcher
 * opens transactions on the store's pool.
 */
const BEGIN_WRITE = `begin; select pg_advisory_xact_lock(${WRITE_LOCK_KEY})`;

export class Store {
  private readonly batcher: WriteBatcher<Database>;
  /** How tenant-written text is sealed before it is written (set by the key hierarchy, src/sovereignty/keys). */
  fields: FieldSealer = plainFields;
  constructor(
    readonly db: Db,
    readonly location: string,
    readonly dialect: StoreDialect = 'sqlite',
  ) {
    // On PostgreSQL every write transaction takes the advisory lock that orders writers: sent with its
    // BEGIN in one round trip (openPostgresStore's dialect, BEGIN_WRITE), so no begin step here.
    const tx: WriteTxOptions<Database> = {};
    this.batcher = new WriteBatcher(db, 512, tx);
    // Last before COMMIT, after the hooks (addPreCommit: the audit seal): the audit rows a transaction
    // appended and the rows held back by insertLater are written — on PostgreSQL all in one statement
    // (deferred-insert.ts, audit.ts), on SQLite one multi-row statement per table.
    this.batcher.addPreCommit(async (trx) => {
      for (const hook of this.preCommit) await hook(trx);
      await flushAudit(trx);
      await flushDeferred(trx);
    });
  }

  /** Run in every write transaction after its bodies, before the final flush and COMMIT. */
  private readonly preCommit: TxBody<Database, void>[] = [];

  /** write runs `body` in a group-committed transaction; resolves only once durable. */
  write<T>(body: TxBody<Database, T>): Promise<T> {
    return this.batcher.run(body);
  }

  /** The scheduler lease's fence (scheduler-lease.ts), run first in every decision commit; none: not fenced. */
  private fence: TxBody<Database, void> | null = null;

  /** Transactions whose fence was checked (FOR SHARE holds the lease row until they end). */
  private readonly fenced = new WeakSet<object>();

  /** Told when a decision's COMMIT outcome is unknown (its connection was lost on the way). */
  private onUncertainDecision: (() => void) | null = null;

  /**
   * setFence makes every `decide` check `fence` in its transaction before its body runs; `onUncertain`
   * is told when a decision's outcome is unknown, so the scheduler reads what was committed again.
   */
  setFence(fence: TxBody<Database, void>, onUncertain?: () => void): void {
    this.fence = fence;
    this.onUncertainDecision = onUncertain ?? null;
  }

  /**
   * decide: a scheduler decision (a start, a preemption, a job's end or requeue) — a `write` that the
   * lease's fence checks first, so a process that lost the lease commits nothing. A decision whose
   * COMMIT outcome is unknown (a failover cut its connection) is told to the fence's owner.
   */
  decide<T>(body: TxBody<Database, T>): Promise<T> {
    const fence = this.fence;
    if (!fence) return this.write(body);
    return this.write(async (trx) => {
      // Once per transaction: every decision in a group commit commits or rolls back with the first check.
      if (!this.fenced.has(trx)) {
        await fence(trx);
        this.fenced.add(trx);
      }
      return body(trx);
    }).catch((err: unknown) => {
      if (isOutcomeUnknown(err)) this.onUncertainDecision?.();
      throw err;
    });
  }

  /** addPreCommit runs `hook` inside every write transaction, after its bodies, before COMMIT. */
  addPreCommit(hook: TxBody<Database, void>): void {
    // Whatever the hook holds back or appends to the audit log is written by the final flush.
    this.preCommit.push(hook);
  }

  async close(): Promise<void> {
    await this.batcher.drain();
    this.batcher.close();
    await this.db.destroy();
  }
}

/** openSqliteStore opens (creating on first start) `<dataDir>/gigafab.db` and migrates it. */
export async function openSqliteStore(dataDir: string): Promise<Store> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, 'gigafab.db');
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  // FULL: an acknowledged write survives a process crash and a power loss.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  await migrate(db);
  return new Store(db, path);
}

/** openPostgresStore connects to `url` (libpq form, multi-host allowed) and migrates the database. */
export async function openPostgresStore(url: string, opts: PostgresOptions = {}): Promise<Store> {
  const pool = await createPostgresPool(url, opts);
  const db = new Kysely<Database>({ dialect: new GuardedPostgresDialect(pool, { begin: BEGIN_WRITE }) });
  try {
    // Two replicas starting at once must not both run a migration.
    await db.connection().execute(async (conn) => {
      await sql`SELECT pg_advisory_lock(${WRITE_LOCK_KEY + 1})`.execute(conn);
      try {
        await migrate(conn);
      } finally {
        await sql`SELECT pg_advisory_unlock(${WRITE_LOCK_KEY + 1})`.execute(conn);
      }
    });
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new Store(db, redact(url), 'postgres');
}

/** openLeaseDb: one PostgreSQL connection of its own for the scheduler lease's renewals (scheduler-lease.ts). */
export async function openLeaseDb(url: string): Promise<Db> {
  const pool = await createPostgresPool(url, { poolSize: 1 });
  return new Kysely<Database>({ dialect: new GuardedPostgresDialect(pool) });
}

export interface StoreConfig {
  /** Where the embedded SQLite database lives when no database URL is given. */
  dataDir: string;
  /** `postgres://…` or `postgresql://…` (GIGAFAB_DATABASE_URL / --database): use PostgreSQL. */
  databaseUrl?: string;
  /** PostgreSQL connection pool size. */
  poolSize?: number;
}

/** openStore: PostgreSQL when a database URL is configured, otherwise the embedded SQLite file. */
export function openStore(config: StoreConfig): Promise<Store> {
  const url = config.databaseUrl?.trim();
  if (!url) return openSqliteStore(config.dataDir);
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new Error(`unsupported database URL ${redact(url)}: expected postgres://… or postgresql://…`);
  }
  return openPostgresStore(url, { poolSize: config.poolSize });
}

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}

/**
 * Kysely prepares every query anew; with better-sqlite3, preparing costs more than running.
 * Cache prepared statements by SQL text (bounded: the app issues a small, fixed set of shapes).
 */
function withStatementCache(sqlite: SQLite.Database) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        if (cache.size >= 500) cache.delete(cache.keys().next().value as string);
        stmt = sqlite.prepare(text);
        cache.set(text, stmt);
      }
      return stmt;
    },
  };
}
