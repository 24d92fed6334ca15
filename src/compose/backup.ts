/**
 * `gigafab admin backup|restore`: local admin commands on the data directory and the database URL,
 * not API routes — a backup must work while no server answers, and a restore runs before any
 * server exists. Both need what the server's process has anyway (the data directory, the database
 * URL), and nothing a tenant could reach.
 *
 * backup: an online, consistent copy while the server runs. SQLite through its online backup API
 * (better-sqlite3 `.backup()`, WAL: writers go on); PostgreSQL through `pg_dump --format=custom`
 * (one repeatable-read snapshot). The file (backup-archive.ts) holds the database and the audit
 * signing key (without it no checkpoint can be verified); the operator token file too. The local key
 * provider's keys/ go to a file of their own (`--keys-out`), never into the database's: the master
 * key is not stored with what it protects (SCS-0116), and an erasure's crypto-shredding reaches every
 * database backup as long as the keys are kept apart.
 *
 * restore: into a fresh installation only (an empty data directory, an empty database), then the
 * audit log is verified as `gigafab audit verify` does: a broken chain names the first bad record.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import type { VerifyReport } from '../server/audit/checkpoints.js';
import { AuditLog } from '../server/audit/index.js';
import type { KeyTables } from '../store/keys-tables.js';
import { openStore, type Store } from '../store/open-store.js';
import { createPostgresPool, redact } from '../store/postgres.js';
import { ArchiveError, extractArchive, type Manifest, readManifest, writeArchive } from './backup-archive.js';
import { VERSION } from './start.js';

const run = promisify(execFile);

/** What restore and backup print as they go (stderr); a line at a time. */
export type Progress = (line: string) => void;

/** The data-directory files a backup carries besides the database (keys/ go apart: --keys-out). */
const DATA_FILES = ['audit-signing-key.pem', 'operator-token'] as const;

/** BackupError: refused or failed, with a sentence for the operator (CLI exit 1). */
export class BackupError extends Error {
  override name = 'BackupError';
}

export interface BackupOptions {
  dataDir: string;
  databaseUrl?: string;
  file: string;
  /** Also write the local key provider's keys/ to this file (a backup of its own). */
  keysOut?: string;
  progress?: Progress;
}

async function pgTool(tool: 'pg_dump' | 'pg_restore', args: string[]): Promise<void> {
  try {
    await run(tool, args, { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new BackupError(`${tool} is not installed: install the PostgreSQL client tools`);
    throw new BackupError(`${tool} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' ')}`);
  }
}

async function withPg<T>(url: string, body: (q: (text: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const pool = await createPostgresPool(url, { poolSize: 1 }).catch((err: Error) => {
    throw new BackupError(`cannot reach the database ${redact(url)}: ${err.message}`);
  });
  try {
    const client = await pool.connect();
    try {
      return await body(async (text) => (await client.query(text)).rows as Record<string, unknown>[]);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}

/** The newest migration applied (null: none, or not a gigafab database). */
async function latestMigration(q: (text: string) => Promise<Record<string, unknown>[]> | Record<string, unknown>[]) {
  try {
    const rows = await q('SELECT name FROM kysely_migration ORDER BY name DESC LIMIT 1');
    return typeof rows[0]?.name === 'string' ? rows[0].name : null;
  } catch {
    return null;
  }
}

async function backupSqlite(dataDir: string, target: string, progress: Progress): Promise<string | null> {
  const path = join(dataDir, 'gigafab.db');
  if (!existsSync(path)) throw new BackupError(`${dataDir} holds no gigafab database (gigafab.db): give the server's --data-dir`);
  const db = new SQLite(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    let chunk = 0;
    let lastRemaining = Number.POSITIVE_INFINITY;
    let lastShown = -1;
    const done = await db.backup(target, {
      progress: ({ totalPages, remainingPages }) => {
        // The backup restarts when another connection (the running server) writes meanwhile; after
        // one restart the rest goes in a single step — one read transaction, which WAL writers do not wait for.
        if (remainingPages > lastRemaining) chunk = 0x7fffffff;
        else if (chunk === 0) chunk = Math.max(1024, Math.ceil(totalPages / 20));
        lastRemaining = remainingPages;
        const pct = Math.floor(((totalPages - remainingPages) / Math.max(1, totalPages)) * 100);
        if (pct >= lastShown + 10) {
          lastShown = pct;
          progress(`database: ${pct}% (${totalPages - remainingPages} of ${totalPages} pages)`);
        }
        return chunk;
      },
    });
    progress(`database: 100% (${done.totalPages} pages)`);
  } finally {
    db.close();
  }
  const copy = new SQLite(target, { readonly: true });
  try {
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`the copy of the database fails SQLite's quick_check: ${String(check)}`);
    return await latestMigration((text) => copy.prepare(text).all() as Record<string, unknown>[]);
  } finally {
    copy.close();
  }
}

/** backup writes a backup of the installation (and, with keysOut, its local keys) while it may be running. */
export async function backup(opts: BackupOptions): Promise<Manifest> {
  const progress = opts.progress ?? (() => undefined);
  const dataDir = resolve(opts.dataDir);
  const file = resolve(opts.file);
  for (const f of [file, opts.keysOut && resolve(opts.keysOut)])
    if (f && existsSync(f)) throw new BackupError(`${f} exists: a backup never overwrites a file`);
  const missing = !existsSync(join(dataDir, 'audit-signing-key.pem'));
  if (missing)
    throw new BackupError(
      `${dataDir} has no audit-signing-key.pem: give the server's --data-dir (its checkpoints cannot be verified without it)`,
    );
  const tmp = await mkdtemp(join(dirname(file), '.gigafab-backup-'));
  try {
    const url = opts.databaseUrl?.trim();
    let dbName: string;
    let migration: string | null;
    if (url) {
      dbName = 'database.pgdump';
      progress(`database: pg_dump of ${redact(url)}`);
      migration = await withPg(url, (q) => latestMigration(q));
      if (!migration) throw new BackupError(`${redact(url)} is not a gigafab database (no migrations applied)`);
      await pgTool('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', '--file', join(tmp, dbName), '--dbname', url]);
    } else {
      dbName = 'database.sqlite';
      migration = await backupSqlite(dataDir, join(tmp, dbName), progress);
    }
    const files = [{ name: dbName, path: join(tmp, dbName) }];
    for (const f of DATA_FILES) if (existsSync(join(dataDir, f))) files.push({ name: f, path: join(dataDir, f) });
    const meta = {
      kind: 'database' as const,
      dialect: url ? ('postgres' as const) : ('sqlite' as const),
      createdAt: new Date().toISOString(),
      gigafabVersion: VERSION,
      migration,
    };
    const partial = `${file}.partial`;
    const manifest = await writeArchive(partial, meta, files, progress);
    await rename(partial, file);
    if (opts.keysOut) {
      const keyFiles = ['root.key', 'keks.json']
        .filter((f) => existsSync(join(dataDir, 'keys', f)))
        .map((f) => ({ name: `keys/${f}`, path: join(dataDir, 'keys', f) }));
      if (keyFiles.length === 0) progress('note: keys/ is empty (no organisation has a key yet): the keys file lists nothing');
      const keysFile = resolve(opts.keysOut);
      await writeArchive(`${keysFile}.partial`, { ...meta, kind: 'keys', dialect: null }, keyFiles, progress);
      await rename(`${keysFile}.partial`, keysFile);
    } else if (existsSync(join(dataDir, 'keys', 'keks.json')))
      progress('note: keys/ (the local key provider) is not in this backup: back it up apart (--keys-out FILE) or use a KMS');
    return manifest;
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await rm(`${file}.partial`, { force: true });
    if (opts.keysOut) await rm(`${resolve(opts.keysOut)}.partial`, { force: true });
  }
}

export interface RestoreOptions {
  file: string;
  dataDir: string;
  databaseUrl?: string;
  /** A keys file written by `backup --keys-out`: restored into <dataDir>/keys. */
  keysFile?: string;
  progress?: Progress;
}

export interface RestoreResult {
  manifest: Manifest;
  audit: VerifyReport;
  /** Local key-provider keys the restored database refers to that keys/ does not hold (the server needs them to start). */
  missingKeys: string[];
}

/** missingLocalKeys: the live local-provider KEKs the database names that <dataDir>/keys/keks.json lacks. */
async function missingLocalKeys(store: Store, dataDir: string): Promise<string[]> {
  const rows = await store.db
    .withTables<KeyTables>()
    .selectFrom('org_keks')
    .select(['org_id', 'key_id'])
    .where('provider', '=', 'local')
    .where('state', '!=', 'destroyed')
    .execute();
  const path = join(dataDir, 'keys', 'keks.json');
  let held: Record<string, unknown> = {};
  try {
    held = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    held = {};
  }
  return rows.filter((r) => !(r.key_id in held)).map((r) => `${r.key_id} (organisation ${r.org_id})`);
}

async function isEmptyDir(dir: string): Promise<boolean> {
  if (!existsSync(dir)) return true;
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return false;
  }
}

/**
 * restore unpacks a backup into a fresh installation and verifies its audit log. Refused (nothing
 * written) unless the data directory is empty or absent and, on PostgreSQL, the database holds no table.
 */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const progress = opts.progress ?? (() => undefined);
  const dataDir = resolve(opts.dataDir);
  const url = opts.databaseUrl?.trim();
  const manifest = await readManifest(opts.file);
  if (manifest.kind !== 'database')
    throw new BackupError(`${opts.file} is a keys backup: give it with --keys, the database backup first`);
  if (manifest.dialect === 'sqlite' && url)
    throw new BackupError('this is a backup of an SQLite installation: restore it without --database (into --data-dir)');
  if (manifest.dialect === 'postgres' && !url)
    throw new BackupError('this is a backup of a PostgreSQL installation: give the empty target database with --database');
  if (opts.keysFile) {
    const km = await readManifest(opts.keysFile);
    if (km.kind !== 'keys') throw new BackupError(`${opts.keysFile} is not a keys backup (written by backup --keys-out)`);
  }
  if (!(await isEmptyDir(dataDir)))
    throw new BackupError(
      `${dataDir} is not empty: restore goes into a fresh installation only (an empty or new data directory)`,
    );
  if (url) {
    const tables = await withPg(url, (q) =>
      q(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema()`),
    );
    const n = Number(tables[0]?.n ?? 0);
    if (n > 0) throw new BackupError(`${redact(url)} is not empty (${n} tables): restore goes into a fresh, empty database only`);
  }
  const created = !existsSync(dataDir);
  const staging = join(dataDir, '.restore');
  try {
    progress(
      `restoring a ${manifest.dialect} backup of ${manifest.createdAt} (gigafab ${manifest.gigafabVersion}, migration ${manifest.migration ?? 'none'})`,
    );
    await extractArchive(opts.file, staging, progress);
    if (url) {
      progress(`database: pg_restore into ${redact(url)}`);
      await pgTool('pg_restore', [
        '--no-owner',
        '--no-privileges',
        '--single-transaction',
        '--exit-on-error',
        '--dbname',
        url,
        join(staging, 'database.pgdump'),
      ]);
    } else await rename(join(staging, 'database.sqlite'), join(dataDir, 'gigafab.db'));
    for (const f of DATA_FILES) if (existsSync(join(staging, f))) await rename(join(staging, f), join(dataDir, f));
    if (opts.keysFile) await extractArchive(opts.keysFile, dataDir, progress);
  } catch (err) {
    // Nothing half-restored stays behind: the target was empty before.
    if (created) await rm(dataDir, { recursive: true, force: true });
    else for (const e of await readdir(dataDir)) await rm(join(dataDir, e), { recursive: true, force: true });
    throw err instanceof ArchiveError ? new BackupError(`${opts.file}: ${err.message}`) : err;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  progress('verifying the audit log');
  const store = await openStore({ dataDir, databaseUrl: url });
  try {
    const audit = await new AuditLog(store, dataDir).verify(null);
    return { manifest, audit, missingKeys: await missingLocalKeys(store, dataDir) };
  } finally {
    await store.close();
  }
}
