/**
 * Migration 038 on a store with sessions from before it: each session's state dataset is copied from
 * its spec (the clear part of a sealed spec too), the claim index then holds one live session per
 * dataset (of two live ones already sharing a dataset, the older keeps the claim), and ended sessions
 * keep theirs as history (a deleted dataset's directory is removed if any session ever named it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { migrationProvider } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';

const session = (ds: string) => JSON.stringify({ name: 'nb', kind: 'session', session: { preset: 'jupyter', stateDataset: ds } });

test('migration 038 backfills jobs.state_dataset and the claim index holds one live session per dataset', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
  try {
    const migrator = new Migrator({ db, provider: migrationProvider });
    assert.equal((await migrator.migrateTo('036_invoice_corrections')).error, undefined);
    await sql`INSERT INTO orgs (id, name, kind, created_at) VALUES ('lab', 'Lab', 'research', '2026-01-01T00:00:00.000Z')`.execute(
      db,
    );
    await sql`INSERT INTO projects (id, org_id, name, created_at) VALUES ('lab-ml', 'lab', 'lab-ml', '2026-01-01T00:00:00.000Z')`.execute(
      db,
    );
    const jobs: [number, string, string][] = [
      [1, 'running', session('ds_a')],
      [2, 'queued', session('ds_a')],
      [3, 'cancelled', session('ds_a')],
      [4, 'succeeded', session('ds_b')],
      [5, 'running', JSON.stringify({ name: 'etl', datasets: { reads: ['ds_a'], writes: [] } })],
      [6, 'running', JSON.stringify({ sealed: 'v1:opaque', kind: 'session', session: { preset: 'ssh', stateDataset: 'ds_c' } })],
    ];
    for (const [id, state, spec] of jobs) {
      await sql`INSERT INTO jobs (id, org_id, project_id, name, state, spec, priority, submitted_by, labels, created_at, borrowed)
        VALUES (${id}, 'lab', 'lab-ml', 'nb', ${state}, ${spec}, 500, 'u1', '{}', '2026-01-05T09:00:00.000Z', 0)`.execute(db);
    }
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const rows = await db.selectFrom('jobs').select(['id', 'state_dataset']).orderBy('id').execute();
    assert.deepEqual(
      rows.map((r) => [r.id, r.state_dataset]),
      [
        [1, 'ds_a'],
        [2, null],
        [3, 'ds_a'],
        [4, 'ds_b'],
        [5, null],
        [6, 'ds_c'],
      ],
    );
    const insert = (id: number, state: string, ds: string) =>
      sql`INSERT INTO jobs (id, org_id, project_id, name, state, spec, priority, submitted_by, labels, created_at, borrowed, state_dataset)
        VALUES (${id}, 'lab', 'lab-ml', 'nb', ${state}, ${session(ds)}, 500, 'u1', '{}', '2026-01-05T09:00:00.000Z', 0, ${ds})`.execute(
        db,
      );
    await assert.rejects(insert(7, 'queued', 'ds_a'), /UNIQUE constraint failed: jobs\.state_dataset/);
    await insert(8, 'failed', 'ds_a');
    await insert(9, 'queued', 'ds_b');
    // The claim ends when its row turns terminal: then another session may take it.
    await db.updateTable('jobs').set({ state: 'cancelled' }).where('id', '=', 1).execute();
    await insert(10, 'queued', 'ds_a');
  } finally {
    await db.destroy();
  }
});
