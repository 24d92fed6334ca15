/**
 * The store contract on PostgreSQL (contract.ts), and what only PostgreSQL has: two stores (two
 * replicas' pools) on one database, a database that goes away under a store, libpq multi-host URLs.
 * Each runs on a throwaway cluster on loopback (helpers/postgres.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { DomainError } from '../../src/model/errors.js';
import { AuditLog } from '../../src/server/audit/index.js';
import { appendAudit } from '../../src/store/audit.js';
import { openPostgresStore, openStore } from '../../src/store/open-store.js';
import { isOutcomeUnknown } from '../../src/store/store-unavailable.js';
import { startPostgres } from '../helpers/postgres.js';
import { postgresCluster } from '../helpers/store-dialects.js';
import { storeContract } from './contract.js';

storeContract('postgres');

const AT = '2026-01-05T09:00:00.000Z';
const isUnavailable = (err: unknown) =>
  err instanceof DomainError && err.code === 'store_unavailable' && err.kind === 'unavailable' && !!err.retryAfterSeconds;

test('postgres: two stores on one database (two replicas) interleave writes; the audit chain stays one line', async () => {
  const url = await (await postgresCluster()).createDatabase('replicas');
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-pg-replicas-'));
  const [a, b] = await Promise.all([openPostgresStore(url), openPostgresStore(url)]);
  try {
    // Both seal with the same key (as replicas sharing the signing key would).
    const logA = new AuditLog(a, dir);
    new AuditLog(b, dir);
    const entry = (org: string, i: number) => ({
      actor: 'u_test',
      org,
      action: 'project.create',
      objectType: 'project',
      objectId: `${org}-${i}`,
      at: AT,
    });
    await Promise.all(
      Array.from({ length: 80 }, (_, i) => (i % 2 ? a : b).write((trx) => appendAudit(trx, entry(i % 4 ? 'alpha' : 'beta', i)))),
    );
    const report = await logA.verify(null);
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    assert.equal(report.checked, 80);
    assert.equal((await logA.verify('beta')).ok, true);
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('postgres: a database that goes away mid-transaction leaves nothing half-written; the store answers store_unavailable, then recovers', async () => {
  const cluster = await startPostgres();
  try {
    const store = await openPostgresStore(await cluster.createDatabase('gone'), { connectTimeoutMs: 1000 });
    try {
      await store.write((trx) =>
        trx.insertInto('orgs').values({ id: 'acme', name: 'Acme', kind: 'start-up', created_at: AT }).execute(),
      );
      let stopped: () => void = () => {};
      const databaseGone = new Promise<void>((r) => {
        stopped = r;
      });
      let bodyStarted: () => void = () => {};
      const started = new Promise<void>((r) => {
        bodyStarted = r;
      });
      const inFlight = store.write(async (trx) => {
        await trx.insertInto('projects').values({ id: 'p1', org_id: 'acme', name: 'p1', created_at: AT }).execute();
        bodyStarted();
        await databaseGone;
        await trx.insertInto('projects').values({ id: 'p2', org_id: 'acme', name: 'p2', created_at: AT }).execute();
      });
      await started;
      await cluster.stop();
      stopped();
      await assert.rejects(inFlight, isUnavailable);
      await assert.rejects(
        store.write((trx) =>
          trx.insertInto('projects').values({ id: 'p3', org_id: 'acme', name: 'p3', created_at: AT }).execute(),
        ),
        isUnavailable,
      );
      await assert.rejects(store.db.selectFrom('orgs').selectAll().execute(), isUnavailable);

      await cluster.start();
      // The pool replaces its dead connections: the same store works again.
      await store.write((trx) =>
        trx.insertInto('projects').values({ id: 'p4', org_id: 'acme', name: 'p4', created_at: AT }).execute(),
      );
      const ids = (await store.db.selectFrom('projects').select('id').orderBy('id').execute()).map((r) => r.id);
      assert.deepEqual(ids, ['p4'], 'p1 rolled back with its transaction; p3 never written');
    } finally {
      await store.close();
    }
    await cluster.stop();
    await assert.rejects(
      openPostgresStore(cluster.url.replace(/\/postgres$/, '/gone'), { connectTimeoutMs: 1000 }),
      isUnavailable,
    );
  } finally {
    await cluster.remove();
  }
});

test('postgres: a libpq multi-host URL with target_session_attrs=read-write opens the writable primary', async () => {
  const primary = await postgresCluster();
  const standIn = await startPostgres(); // stands in for a hot standby: its database is read-only
  try {
    const url = await primary.createDatabase('multi');
    const readOnlyUrl = await standIn.createDatabase('multi');
    const admin = new pg.Client({ connectionString: readOnlyUrl });
    await admin.connect();
    await admin.query('ALTER DATABASE multi SET default_transaction_read_only = on');
    await admin.end();
    const deadPort = standIn.port + 1 === primary.port ? standIn.port + 2 : standIn.port + 1;
    const multi = `postgresql://gigafab@127.0.0.1:${deadPort},127.0.0.1:${standIn.port},127.0.0.1:${primary.port}/multi?target_session_attrs=read-write`;
    const store = await openStore({ dataDir: '/nonexistent', databaseUrl: multi });
    try {
      await store.write((trx) =>
        trx.insertInto('orgs').values({ id: 'acme', name: 'Acme', kind: 'start-up', created_at: AT }).execute(),
      );
      const direct = new pg.Client({ connectionString: url });
      await direct.connect();
      const { rows } = await direct.query('SELECT id FROM orgs');
      await direct.end();
      assert.deepEqual(rows, [{ id: 'acme' }], 'written on the primary');
    } finally {
      await store.close();
    }
    // Without a writable host the store says why, per host.
    const noPrimary = `postgresql://gigafab@127.0.0.1:${deadPort},127.0.0.1:${standIn.port}/multi?target_session_attrs=read-write`;
    await assert.rejects(
      openStore({ dataDir: '/nonexistent', databaseUrl: noPrimary }),
      (err: unknown) => isUnavailable(err) && err instanceof Error && /is read-only/.test(err.message),
    );
    assert.throws(() => openStore({ dataDir: '/x', databaseUrl: 'mysql://h/db' }), /unsupported database URL/);
  } finally {
    await standIn.remove();
  }
});

test('postgres: after the primary of a multi-host URL is lost, the store finds the new primary and writes there', async () => {
  // Two independent clusters stand in for a primary and its standby (no replication here: the
  // standby's database was migrated beforehand and is read-only until it is "promoted").
  const [first, second] = await Promise.all([startPostgres(), startPostgres()]);
  try {
    await first.createDatabase('ha');
    const standbyUrl = await second.createDatabase('ha');
    await (await openPostgresStore(standbyUrl)).close();
    const admin = async (sqlText: string) => {
      const c = new pg.Client({ connectionString: second.url });
      await c.connect();
      await c.query(sqlText);
      await c.end();
    };
    await admin('ALTER DATABASE ha SET default_transaction_read_only = on');
    const multi = `postgresql://gigafab@127.0.0.1:${first.port},127.0.0.1:${second.port}/ha?target_session_attrs=read-write`;
    const store = await openPostgresStore(multi, { connectTimeoutMs: 1000 });
    try {
      const org = (id: string) =>
        store.write((trx) => trx.insertInto('orgs').values({ id, name: id, kind: 'start-up', created_at: AT }).execute());
      await org('before');
      await first.stop();
      await assert.rejects(org('during'), isUnavailable);
      await admin('ALTER DATABASE ha SET default_transaction_read_only = off'); // the standby is promoted
      let written = false;
      for (let i = 0; i < 40 && !written; i++) {
        written = await org('after').then(
          () => true,
          (err: unknown) => {
            assert.ok(isUnavailable(err), String(err));
            return new Promise<boolean>((r) => setTimeout(() => r(false), 250));
          },
        );
      }
      assert.ok(written, 'a write succeeded on the new primary');
      const direct = new pg.Client({ connectionString: standbyUrl });
      await direct.connect();
      const { rows } = await direct.query('SELECT id FROM orgs ORDER BY id');
      await direct.end();
      assert.deepEqual(rows, [{ id: 'after' }], 'written on the new primary');
    } finally {
      await store.close();
    }
  } finally {
    await first.remove();
    await second.remove();
  }
});

test('postgres: a connection cut at COMMIT says the outcome is unknown (the failed ROLLBACK does not mask it), and a decision cut so tells the fence owner', async () => {
  const cluster = await postgresCluster();
  const url = await cluster.createDatabase('cut_at_commit');
  const store = await openPostgresStore(url, { connectTimeoutMs: 2000 });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    let uncertain = 0;
    store.setFence(
      async () => undefined,
      () => uncertain++,
    );
    // The body's last act: its own backend is terminated, so the COMMIT that follows meets a dead connection.
    const cutBeforeCommit = async (trx: Parameters<Parameters<typeof store.write>[0]>[0], id: string) => {
      await trx.insertInto('orgs').values({ id, name: id, kind: 'start-up', created_at: AT }).execute();
      const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await new Promise((r) => setTimeout(r, 100)); // the client sees its socket close
    };
    const outcomeUnknown = (err: unknown) =>
      err instanceof DomainError &&
      err.code === 'store_unavailable' &&
      /may or may not have been saved/.test(err.detail ?? '') &&
      isOutcomeUnknown(err);
    await assert.rejects(
      store.write((trx) => cutBeforeCommit(trx, 'written')),
      outcomeUnknown,
    );
    assert.equal(uncertain, 0, 'a plain write is not a decision');
    await assert.rejects(
      store.decide((trx) => cutBeforeCommit(trx, 'decided')),
      outcomeUnknown,
    );
    assert.equal(uncertain, 1, 'the fence owner was told');
    // A statement's lost connection (not the COMMIT's) is a plain "nothing was changed".
    await assert.rejects(
      store.decide(async (trx) => {
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await new Promise((r) => setTimeout(r, 100));
        await trx.insertInto('orgs').values({ id: 'never', name: 'never', kind: 'start-up', created_at: AT }).execute();
      }),
      (err: unknown) =>
        isUnavailable(err) && !isOutcomeUnknown(err) && /nothing was changed/.test((err as DomainError).detail ?? ''),
    );
    assert.equal(uncertain, 1);
    // The pool replaced the cut connections; here nothing committed (the cut came first).
    const ids = (await store.db.selectFrom('orgs').select('id').execute()).map((r) => r.id);
    assert.deepEqual(ids, []);
  } finally {
    await admin.end();
    await store.close();
  }
});
