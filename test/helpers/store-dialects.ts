/**
 * The store's two dialects for tests that run once per dialect: SQLite in a directory, or a fresh
 * database on one throwaway PostgreSQL cluster per test file (started on first use, removed after the
 * file). openStore(dir) opens the same database again when called again with the same dir.
 */
import { after } from 'node:test';
import { openPostgresStore, openSqliteStore, type Store } from '../../src/store/open-store.js';
import { type PostgresCluster, startPostgres } from './postgres.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type Dialect = (typeof DIALECTS)[number];

let cluster: Promise<PostgresCluster> | null = null;
const databases = new Map<string, string>();
// Registered at load, so it belongs to the file's root (registered inside a test, it would run after that test).
after(async () => {
  if (cluster) await (await cluster).remove();
});

/** postgresCluster: this test file's cluster (started once, removed when the file's tests are done). */
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
