/**
 * The store contract: what every dialect must do the same way. sqlite.test.ts and postgres.test.ts run
 * it; each test opens a fresh, empty store (SQLite file or PostgreSQL database) and removes it after.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { AuditLog } from '../../src/server/audit/index.js';
import { appendAudit } from '../../src/store/audit.js';
import { migrations } from '../../src/store/migrations.js';
import type { Store } from '../../src/store/open-store.js';
import { type Dialect, storeOpener } from '../helpers/store-dialects.js';
import { harness } from '../server/harness.js';

const AT = '2026-01-05T09:00:00.000Z';

/** withStore opens a fresh store in a temp dir (the dir also holds the audit signing key). */
async function withStore(dialect: Dialect, body: (store: Store, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `gigafab-store-${dialect}-`));
  const store = await storeOpener(dialect)(dir);
  try {
    await body(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const audit = (org: string, i: number) => ({
  actor: 'u_test',
  org,
  action: 'project.create',
  objectType: 'project',
  objectId: `${org}-${i}`,
  after: { i },
  at: AT,
});

export function storeContract(dialect: Dialect): void {
  test(`${dialect}: migrations run from scratch, once each, and reopening changes nothing`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `gigafab-store-${dialect}-`));
    const open = storeOpener(dialect);
    try {
      const first = await open(dir);
      const applied = async (s: Store) =>
        (await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(s.db)).rows.map((r) => r.name);
      assert.deepEqual(await applied(first), Object.keys(migrations).sort());
      await first.db.insertInto('orgs').values({ id: 'acme', name: 'Acme', kind: 'start-up', created_at: AT }).execute();
      await first.close();
      const again = await open(dir);
      assert.deepEqual(await applied(again), Object.keys(migrations).sort());
      assert.equal((await again.db.selectFrom('orgs').select('id').execute()).length, 1, 'data survives the reopen');
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${dialect}: group commit — 300 concurrent writes commit; a throwing body and a constraint violation fail alone`, async () => {
    await withStore(dialect, async (store) => {
      await store.write((trx) =>
        trx.insertInto('orgs').values({ id: 'acme', name: 'Acme', kind: 'start-up', created_at: AT }).execute(),
      );
      const writes = Array.from({ length: 300 }, (_, i) =>
        store.write(async (trx) => {
          if (i === 100) throw new Error('body 100 refuses');
          if (i === 200) {
            // A duplicate primary key: on PostgreSQL this aborts the whole transaction, not just the statement.
            await trx.insertInto('orgs').values({ id: 'acme', name: 'Again', kind: 'start-up', created_at: AT }).execute();
          }
          await trx
            .insertInto('projects')
            .values({ id: `p${i}`, org_id: 'acme', name: `p${i}`, created_at: AT })
            .execute();
          return appendAudit(trx, audit('acme', i));
        }),
      );
      const results = await Promise.allSettled(writes);
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
      assert.deepEqual(failed, [100, 200]);
      const r100 = results[100];
      assert.ok(r100?.status === 'rejected' && r100.reason instanceof Error && /body 100 refuses/.test(r100.reason.message));
      const projects = await store.db.selectFrom('projects').select('id').execute();
      assert.equal(projects.length, 298, 'every other body committed');
      assert.ok(!projects.some((p) => p.id === 'p100' || p.id === 'p200'), 'nothing of the failed bodies was written');
      const ids = (await store.db.selectFrom('audit').select('id').orderBy('id').execute()).map((r) => r.id);
      assert.equal(ids.length, 298);
      assert.equal(typeof ids[0], 'number', 'ids are numbers on every dialect');
      assert.equal(new Set(ids).size, 298);
      const [org] = await store.db.selectFrom('orgs').select('name').execute();
      assert.equal(org?.name, 'Acme', 'the duplicate did not overwrite');
    });
  });

  test(`${dialect}: audit chain — concurrent appends chain linearly, are sealed, verify, and the table is append-only`, async () => {
    await withStore(dialect, async (store, dir) => {
      const log = new AuditLog(store, dir);
      await log.sealBacklog();
      await Promise.all(
        Array.from({ length: 60 }, (_, i) => store.write((trx) => appendAudit(trx, audit(i % 3 ? 'alpha' : 'beta', i)))),
      );
      const all = await log.verify(null);
      assert.equal(all.ok, true, JSON.stringify(all.problem));
      assert.equal(all.checked, 60);
      const beta = await log.verify('beta');
      assert.equal(beta.ok, true, JSON.stringify(beta.problem));
      assert.equal(beta.checked, 20);
      await assert.rejects(
        store.write((trx) => trx.updateTable('audit').set({ actor: 'u_forger' }).execute()),
        /append-only/,
      );
      await assert.rejects(
        store.write((trx) => trx.deleteFrom('audit').execute()),
        /append-only/,
      );
      assert.equal((await log.verify(null)).ok, true, 'still intact');
    });
  });

  test(`${dialect}: audit verify while writers keep committing — never a false "truncated" or "uncovered"`, async () => {
    await withStore(dialect, async (store, dir) => {
      const log = new AuditLog(store, dir);
      await log.sealBacklog();
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.write((trx) => appendAudit(trx, audit('alpha', i)))));
      let writing = true;
      let n = 100;
      const writer = (async () => {
        while (writing) await store.write((trx) => appendAudit(trx, audit(n % 2 ? 'alpha' : 'beta', n++)));
      })();
      try {
        // At least 40 verifies, and on until the writer has committed a few times in between (a loaded
        // machine may give it few turns), within a bound.
        for (let i = 0; i < 40 || (dialect === 'postgres' && n <= 110 && i < 2000); i++) {
          const r = await log.verify(i % 4 === 3 ? 'beta' : null);
          assert.equal(r.ok, true, `verify ${i} during writes: ${JSON.stringify(r.problem)}`);
        }
      } finally {
        writing = false;
        await writer;
      }
      // On PostgreSQL the writer commits between verify's queries (the race this guards); SQLite's
      // synchronous reads leave it no room, so there it only must not break anything.
      if (dialect === 'postgres') assert.ok(n > 110, `the writer committed meanwhile (${n - 100} records)`);
      assert.equal((await log.verify(null)).ok, true);
    });
  });

  test(`${dialect}: 64-bit values round-trip as numbers (a dataset of 5 TB)`, async () => {
    await withStore(dialect, async (store) => {
      await store.write(async (trx) => {
        await trx.insertInto('orgs').values({ id: 'acme', name: 'Acme', kind: 'start-up', created_at: AT }).execute();
        await trx.insertInto('projects').values({ id: 'vision', org_id: 'acme', name: 'vision', created_at: AT }).execute();
        await trx
          .insertInto('datasets')
          .values({
            id: 'ds1',
            org_id: 'acme',
            project_id: 'vision',
            name: 'scans',
            classification: 'personal',
            home_site: 'fra',
            size_bytes: 5_000_000_000_000,
            checksum: 'sha256:00',
            created_at: AT,
            created_by: 'u_test',
          })
          .execute();
      });
      const row = await store.db.selectFrom('datasets').select('size_bytes').executeTakeFirstOrThrow();
      assert.equal(row.size_bytes, 5_000_000_000_000);
      const count = await store.db
        .selectFrom('datasets')
        .select((e) => e.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(count.n), 1);
    });
  });

  test(`${dialect}: the job service — concurrent submissions with one Idempotency-Key make one job`, async () => {
    const h = await harness({ openStore: storeOpener(dialect) });
    try {
      const spec = h.spec({ gpusPerNode: 2 });
      const tries = await Promise.all(Array.from({ length: 8 }, () => h.cp.jobs.submit(h.tenant, spec, 'key-1')));
      assert.equal(new Set(tries.map((t) => t.job.id)).size, 1);
      assert.equal(tries.filter((t) => t.created).length, 1);
      const rows = await h.store.db.selectFrom('jobs').select('id').execute();
      assert.equal(rows.length, 1);
      assert.deepEqual(await h.eventTypes(tries[0]!.job.id), ['queued']);
      await h.cp.runCycle();
      assert.equal(await h.stateOf(tries[0]!.job.id), 'running');
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: the job service — a group commit of submissions gives each job its own id, row, event and audit record, in commit order`, async () => {
    const h = await harness({ openStore: storeOpener(dialect) });
    try {
      const spec = h.spec({ gpusPerNode: 1 });
      // 24 submissions in one burst (group-committed together), three of them retries of one key:
      // on PostgreSQL the duplicate fails the batch's COMMIT-time insert, the batch reruns body by body.
      const keys = Array.from({ length: 24 }, (_, i) => (i % 8 === 3 ? 'same-key' : `key-${i}`));
      const tries = await Promise.all(keys.map((k) => h.cp.jobs.submit(h.tenant, spec, k)));
      const created = tries.filter((t) => t.created).map((t) => Number(t.job.id));
      assert.equal(created.length, 22, 'one job per distinct key');
      assert.equal(new Set(created).size, 22, 'distinct ids');
      const same = tries.filter((_, i) => keys[i] === 'same-key').map((t) => t.job.id);
      assert.equal(new Set(same).size, 1, 'the retries of one key answer one job');
      const rows = await h.store.db.selectFrom('jobs').select(['id', 'idempotency_key']).orderBy('id').execute();
      assert.deepEqual(
        rows.map((r) => r.id),
        [...created].sort((a, b) => a - b),
        'every acknowledged id is a stored row, nothing else',
      );
      for (const id of created) assert.deepEqual(await h.eventTypes(String(id)), ['queued'], `job ${id} has its event`);
      const submits = await h.store.db
        .selectFrom('audit')
        .select(['id', 'object_id'])
        .where('action', '=', 'job.submit')
        .orderBy('id')
        .execute();
      assert.deepEqual(
        submits.map((r) => Number(r.object_id)),
        rows.map((r) => r.id),
        'one audit record per job, and ids in the order their records were chained (commit order)',
      );
      // A row written with the column's own default id (as an older replica would) never meets an id
      // the store drew, and the store's next id comes after it.
      const plain = await h.store.write((trx) =>
        trx
          .insertInto('jobs')
          .values({
            org_id: String(h.tenant.principal.org),
            project_id: spec.project,
            name: 'plain',
            state: 'cancelled',
            spec: JSON.stringify(spec),
            labels: '{}',
            priority: 0,
            placement: null,
            exit_code: null,
            submitted_by: 'u_plain',
            idempotency_key: null,
            created_at: AT,
            started_at: null,
            finished_at: AT,
            borrowed: 0,
            attempt: 0,
          })
          .returning('id')
          .executeTakeFirstOrThrow(),
      );
      assert.ok(plain.id > Math.max(...created), `default id ${plain.id} after the drawn ones`);
      const next = await h.cp.jobs.submit(h.tenant, spec, 'key-after');
      assert.ok(Number(next.job.id) > plain.id, 'the next drawn id after the default one');
    } finally {
      await h.close();
    }
  });
}
