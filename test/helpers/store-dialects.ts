/**
 * The store's two dialects for tests that run once per dialect: SQLite in a directory, or a fresh
 * database on one throwaway PostgreSQL cluster per test process (started on first use, stopped and
 * removed when the process exits: no node:test hook, so the benches may import it too).
 * storeOpener(dialect)(dir) opens the same database again when called again with the same dir.
 */
import { openPostgresStore, openSqliteStore, type Store } from '../../src/store/open-store.js';
import { type PostgresCluster, startPostgres } from './postgres.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type Dialect = (typeof DIALECTS)[number];

let cluster: Promise<PostgresCluster> | null = null;
const databases = new Map<string, string>();

/** postgresCluster: this process's cluster (started once, removed at exit). */
export function postgresCluster(): Promise<PostgresCluster> {
  cluster ??= startPostgres();
  return cluster;
}

/** databaseFor: the PostgreSQL database that stands for `dir` (created on first use). */
export async function databaseFor(dir: string): Promise<string> {
  let url = databases.get(dir);
  if (!url) {
    url = await (await postgresCluster()).createDatabase(`t${databases.size + 1}`);
    databases.set(dir, url);
  }
  return url;
}

export function storeOpener(dialect: Dialect): (dir: string) => Promise<Store> {
  if (dialect === 'sqlite') return openSqliteStore;
  return async (dir) => openPostgresStore(await databaseFor(dir));
}
