/**
 * SchedulerRole.resync on a real PostgreSQL database: a start decision whose COMMIT is cut off (a
 * database failover) has an unknown outcome. Here it did take effect — the row says "running" — while
 * the cycle runner, hearing an error, handed the job's GPUs back and kept it queued. The role pauses
 * the cycles and rebuilds its view from the store: the job is running there, holds its GPUs, and is
 * not started a second time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { SchedulerRole } from '../../src/server/replica/scheduler-role.js';
import { SchedulerLease } from '../../src/store/scheduler-lease.js';
import { postgresCluster, storeOpener } from '../helpers/store-dialects.js';
import { eventually, harness } from './harness.js';

test('scheduler role: a start whose COMMIT outcome is unknown (it did commit) → cycles pause, the view is rebuilt from the store, no second start', async () => {
  const h = await harness({ openStore: storeOpener('postgres'), cycleIntervalMs: 50 });
  const cluster = await postgresCluster();
  const admin = new pg.Client({ connectionString: cluster.url.replace(/\/postgres$/, `/t${await dbIndex(h.store.location)}`) });
  await admin.connect();
  const logs: string[] = [];
  const lease = new SchedulerLease(h.store, 'R1', 3000);
  const role = new SchedulerRole(lease, h.cp, { renewMs: 100, pollMs: 50, log: (l) => logs.push(l) }, true);
  h.store.setFence(
    (trx) => lease.fence(trx),
    () => role.resync(),
  );
  // Armed: the transaction that starts job `cutId` is held inside its COMMIT (a deferred trigger waits
  // on an advisory lock the test holds), its connection is killed there — the client cannot know the
  // outcome — and the test then writes what a COMMIT that reached the database would have left.
  await admin.query(`
    CREATE FUNCTION commit_gate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER commit_gate AFTER UPDATE ON jobs DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW WHEN (NEW.state = 'running') EXECUTE FUNCTION commit_gate();`);
  let cutId: string | null = null;
  let cutting: Promise<void> = Promise.resolve();
  h.store.addPreCommit(async (trx) => {
    if (!cutId) return;
    const row = await trx
      .selectFrom('jobs')
      .select(['state', 'placement', 'started_at'])
      .where('id', '=', Number(cutId))
      .executeTakeFirst();
    if (row?.state !== 'running') return;
    const id = cutId;
    cutId = null;
    const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
    const pid = rows[0]!.pid;
    await admin.query('SELECT pg_advisory_lock(4242)'); // this transaction's COMMIT will wait for it
    cutting = (async () => {
      await eventually(async () => {
        const r = await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'advisory'", [pid]);
        return r.rows.length > 0;
      }, 'the COMMIT to reach the gate');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await admin.query(
        "UPDATE jobs SET state = 'running', placement = $2, started_at = $3, attempt = attempt + 1 WHERE id = $1",
        [Number(id), row.placement, row.started_at],
      );
      await admin.query('SELECT pg_advisory_unlock(4242)');
    })();
  });
  try {
    assert.equal((await role.start()).role, 'leader');
    const first = (await h.cp.jobs.submit(h.tenant, h.spec({ name: 'first', gpusPerNode: 8 }), undefined)).job;
    await eventually(async () => (await h.stateOf(first.id)) === 'running', 'the first job to start');
    const takeoversBefore = role.takeovers;

    // The next start is cut off while committing; the database has it.
    const job = await h.cp.jobs.submit(h.tenant, h.spec({ name: 'cut', gpusPerNode: 8 }), undefined);
    cutId = job.job.id;
    h.cp.wake();
    await eventually(() => logs.some((l) => /cut off while committing/.test(l)), 'the role to notice the unknown outcome');
    await cutting;
    await eventually(() => role.takeovers > takeoversBefore, 'the view to be rebuilt from the store');
    assert.equal(await h.stateOf(job.job.id), 'running');
    await eventually(() => h.cp.state.running.has(job.job.id), 'the rebuilt view to run the job');
    assert.ok(!h.cp.state.queue.has(job.job.id), 'it is no longer queued in memory');
    assert.ok(h.cp.state.cluster.allocationOf(job.job.id), 'its GPUs are held');
    assert.equal(role.view().role, 'leader');
    // Cycles run again and do not start it twice: a third job starts, the cut one has one start.
    const third = (await h.cp.jobs.submit(h.tenant, h.spec({ name: 'third', gpusPerNode: 8 }), undefined)).job;
    await eventually(async () => (await h.stateOf(third.id)) === 'running', 'the scheduler to place jobs again');
    const attempts = await h.store.db
      .selectFrom('jobs')
      .select('attempt')
      .where('id', '=', Number(job.job.id))
      .executeTakeFirstOrThrow();
    assert.equal(attempts.attempt, 1, 'started once');
    const gpus = new Set<string>();
    for (const id of [first.id, job.job.id, third.id]) {
      for (const n of h.cp.state.cluster.allocationOf(id)?.nodes ?? []) {
        for (const g of n.gpus) {
          assert.ok(!gpus.has(`${n.node}/${g}`), `GPU ${n.node}/${g} given twice`);
          gpus.add(`${n.node}/${g}`);
        }
      }
    }
  } catch (err) {
    // The role's own log says where a recovery stalled; a bare timeout would not.
    throw new Error(`${String(err)}\nrole log:\n${logs.join('\n')}`);
  } finally {
    await role.stop();
    await admin.end();
    await h.close();
  }
});

/** The harness's PostgreSQL database is `t<n>` (store-dialects.ts); its location names it. */
async function dbIndex(location: string): Promise<string> {
  const m = /\/t(\d+)$/.exec(location);
  if (!m) throw new Error(`unexpected store location ${location}`);
  return m[1]!;
}
