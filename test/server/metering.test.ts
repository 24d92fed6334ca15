/**
 * Metering through the real cycle (simulated driver on a virtual clock): a segment per run, opened
 * with the start's transaction and closed with the stop's — finish, preemption → requeue → restart,
 * node failure — one row per attempt across a restart of the control plane, and migration 016's
 * open segment for a job that was running at the upgrade.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import { PolicySchema } from '../../src/model/policy.js';
import { ControlPlane } from '../../src/server/control-plane.js';
import { SchedulingState } from '../../src/server/cycle/scheduling-state.js';
import { EventBus } from '../../src/server/event-bus.js';
import { closeSegment, openSegment } from '../../src/server/metering.js';
import { rebuildUsageDaily } from '../../src/store/migration-027-usage-daily.js';
import { migrationProvider } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { eventually, type Harness, type HarnessOptions, harness } from './harness.js';

const T0 = Date.parse('2026-01-05T09:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A harness whose simulated driver runs on a virtual clock that moves with the harness's clock. */
async function metered(opts: HarnessOptions = {}) {
  const v = new VirtualClock(T0);
  let driver: SimDriver | null = null;
  const h = await harness({ ...opts, driver: () => (driver = new SimDriver(1, v)) });
  const advance = (ms: number) => {
    h.clock.t += ms;
    v.advanceTo(h.clock.t);
  };
  return { h, v, advance, driver: driver! };
}

const segments = (h: Harness, job: string) =>
  h.store.db
    .selectFrom('usage_records')
    .select(['attempt', 'gpus', 'class', 'site', 'gpu_type', 'started_at', 'ended_at', 'gpu_seconds'])
    .where('job_id', '=', Number(job))
    .orderBy('attempt')
    .execute();

test('a job that runs to its end has one segment, opened at its start and closed at its end with its GPU-seconds', async () => {
  const { h, advance } = await metered();
  try {
    const { job } = await h.cp.jobs.submit(
      h.tenant,
      h.spec({ gpusPerNode: 8, simulation: { durationSeconds: 3600, exitCode: 0 } }),
      undefined,
    );
    await h.cp.runCycle();
    assert.deepEqual(await segments(h, job.id), [
      {
        attempt: 1,
        gpus: 8,
        class: 'on-demand',
        site: 's1',
        gpu_type: 'B200',
        started_at: iso(T0),
        ended_at: null,
        gpu_seconds: null,
      },
    ]);
    advance(1800_000);
    const mid = await h.cp.usage.report(h.tenant.principal, { from: iso(T0 - 3600_000), to: iso(T0 + 7200_000) });
    assert.equal(mid.total.gpuSeconds, 8 * 1800, 'an open segment counts up to now');
    assert.deepEqual(mid.items, [
      {
        project: 'vision',
        gpuSeconds: 8 * 1800,
        gpuHours: 4,
        segments: 1,
        openSegments: 1,
        cost: 0,
        unpricedGpuSeconds: 8 * 1800,
        itKwh: 4, // 8 B200 × 1000 W × 30 min (the power model: the sim job reports no utilisation)
        measuredKwh: 0,
      },
    ]);
    advance(1800_000);
    await eventually(async () => (await h.stateOf(job.id)) === 'succeeded', 'the job to succeed');
    const [s] = await segments(h, job.id);
    assert.equal(s?.ended_at, iso(T0 + 3600_000));
    assert.equal(s?.gpu_seconds, 8 * 3600);
    advance(3600_000);
    const after = await h.cp.usage.report(h.tenant.principal, { from: iso(T0 - 3600_000), to: iso(T0 + 7200_000) });
    assert.equal(after.total.gpuSeconds, 8 * 3600, 'a closed segment stops counting');
  } finally {
    await h.close();
  }
});

test('preemption closes the victim’s segment; its restart is a second segment (attempt 2), each billed once', async () => {
  const policy = PolicySchema.parse({ preemption: { enabled: true, minRuntimeSeconds: 0 } });
  const { h, advance } = await metered({ policy });
  try {
    const filler = (await h.cp.jobs.submit(h.tenant, h.spec({ name: 'filler', gpusPerNode: 8, nodes: 2 }), undefined)).job;
    const gang = h.spec({
      name: 'victim',
      gpusPerNode: 8,
      nodes: 2,
      priorityClass: 'preemptible',
      simulation: { durationSeconds: 7200, exitCode: 0 },
    });
    const victim = (await h.cp.jobs.submit(h.tenant, gang, undefined)).job;
    await h.cp.runCycle();
    advance(600_000);
    const urgent = h.spec({
      name: 'urgent',
      gpusPerNode: 8,
      priorityClass: 'high',
      simulation: { durationSeconds: 600, exitCode: 0 },
    });
    await h.cp.jobs.submit(h.tenant, urgent, undefined);
    await h.cp.runCycle();
    await eventually(async () => (await h.stateOf(victim.id)) === 'queued', 'the victim to be requeued');
    await h.cp.runCycle(); // the urgent job starts; the victim waits for room
    advance(3000_000); // the filler (1 h) ends at T0 + 1 h; the urgent job (10 min) before it
    await eventually(async () => (await h.stateOf(filler.id)) === 'succeeded', 'the filler to end');
    await h.cp.runCycle();
    assert.equal(await h.stateOf(victim.id), 'running', 'the victim restarts');
    const rows = await segments(h, victim.id);
    assert.deepEqual(
      rows.map((r) => [r.attempt, r.class, r.started_at, r.ended_at, r.gpu_seconds]),
      [
        [1, 'preemptible', iso(T0), iso(T0 + 600_000), 16 * 600],
        [2, 'preemptible', iso(T0 + 3600_000), null, null],
      ],
    );
    advance(600_000);
    const r = await h.cp.usage.report(h.operator, { from: iso(T0), to: iso(T0 + 86_400_000), groupBy: 'class' });
    const byClass = Object.fromEntries(r.items.map((i) => [i.class, i.gpuSeconds]));
    // filler 16 GPUs × 1 h; urgent 8 × 10 min; victim 16 × 10 min, then 16 × 10 min so far.
    assert.deepEqual(byClass, { 'on-demand': 16 * 3600 + 8 * 600, preemptible: 16 * 600 + 16 * 600 });
  } finally {
    await h.close();
  }
});

test('a node failure closes the segment; the requeued job’s restart opens attempt 2', async () => {
  const { h, advance } = await metered();
  try {
    const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
    await h.cp.runCycle();
    advance(120_000);
    const node = h.cp.cluster.allocationOf(job.id)!.nodes[0]!.node;
    await h.cp.setNodeState(h.operator, node, 'down', 'PSU failure', 'req-node');
    await eventually(async () => (await h.stateOf(job.id)) === 'queued', 'the requeue');
    advance(60_000);
    await h.cp.runCycle();
    const rows = await segments(h, job.id);
    assert.deepEqual(
      rows.map((r) => [r.attempt, r.started_at, r.ended_at, r.gpu_seconds]),
      [
        [1, iso(T0), iso(T0 + 120_000), 8 * 120],
        [2, iso(T0 + 180_000), null, null],
      ],
    );
  } finally {
    await h.close();
  }
});

test('a restarted control plane reattaches a running job without a second segment, and closes it once at its end', async () => {
  const { h, v, advance, driver: first } = await metered();
  let second: ControlPlane | null = null;
  const driver = new SimDriver(1, v);
  try {
    const { job } = await h.cp.jobs.submit(
      h.tenant,
      h.spec({ gpusPerNode: 8, simulation: { durationSeconds: 3600, exitCode: 0 } }),
      undefined,
    );
    await h.cp.runCycle();
    // The process ends: its loop and its driver's timers with it.
    await h.cp.stop();
    await first.close();
    const now = () => h.clock.t;
    second = new ControlPlane({
      state: new SchedulingState(h.cp.fleet, driver, null, now),
      store: h.store,
      driver,
      bus: new EventBus(),
      metrics: null,
      policy: h.cp.policy,
    });
    const recovered = await second.recover();
    assert.equal(recovered.running, 1);
    await second.runCycle();
    assert.equal((await segments(h, job.id)).length, 1, 'recovery opens no second segment');
    advance(3600_000);
    await eventually(async () => (await h.stateOf(job.id)) === 'succeeded', 'the job to end');
    const rows = await segments(h, job.id);
    assert.deepEqual(
      rows.map((r) => [r.attempt, r.ended_at, r.gpu_seconds]),
      [[1, iso(T0 + 3600_000), 8 * 3600]],
    );
  } finally {
    await second?.stop();
    await driver.close();
    await h.close();
  }
});

test('opening a segment twice for one attempt, or closing one twice, changes nothing', async () => {
  const { h } = await metered();
  try {
    const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8 }), undefined);
    await h.cp.runCycle();
    const placement = h.cp.cluster.allocationOf(job.id)!;
    await h.store.write(async (trx) => {
      const row = await trx
        .selectFrom('jobs')
        .select(['org_id', 'project_id', 'attempt', 'priority', 'borrowed', 'lenders'])
        .where('id', '=', Number(job.id))
        .executeTakeFirstOrThrow();
      await openSegment(trx, job.id, row, placement, iso(T0 + 5000));
    });
    assert.equal((await segments(h, job.id)).length, 1);
    await h.store.write((trx) => closeSegment(trx, job.id, iso(T0 + 10_000)));
    await h.store.write((trx) => closeSegment(trx, job.id, iso(T0 + 99_000)));
    const [s] = await segments(h, job.id);
    assert.deepEqual([s?.started_at, s?.ended_at, s?.gpu_seconds], [iso(T0), iso(T0 + 10_000), 80]);
  } finally {
    await h.close();
  }
});

test('migration 016 opens a segment for each job running at the upgrade, from its recorded start', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
  try {
    const migrator = new Migrator({ db, provider: migrationProvider });
    assert.equal((await migrator.migrateTo('015_node_state_source')).error, undefined);
    const at = iso(T0);
    await sql`INSERT INTO orgs (id, name, kind, created_at) VALUES ('acme', 'Acme', 'start-up', ${at})`.execute(db);
    await sql`INSERT INTO projects (id, org_id, name, created_at) VALUES ('vision', 'acme', 'vision', ${at})`.execute(db);
    const placement = JSON.stringify({ site: 's1', gpuType: 'B200', nodes: [{ node: 'n1', gpus: [0, 1, 2, 3] }] });
    await sql`INSERT INTO jobs (org_id, project_id, name, state, spec, priority, placement, submitted_by, labels, created_at, started_at, borrowed, attempt)
      VALUES ('acme', 'vision', 'a', 'running', '{}', 100, ${placement}, 'u', '{}', ${at}, ${at}, 1, 2),
             ('acme', 'vision', 'b', 'succeeded', '{}', 100, ${placement}, 'u', '{}', ${at}, ${at}, 0, 1)`.execute(db);
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const rows = await db.selectFrom('usage_records').selectAll().execute();
    assert.deepEqual(
      rows.map((r) => [r.job_id, r.attempt, r.gpus, r.class, r.started_at, r.ended_at]),
      [[1, 2, 4, 'borrowed', at, null]],
    );
  } finally {
    await db.destroy();
  }
});

test('a restriction of processing requeues the running job and closes its segment', async () => {
  const { h, advance } = await metered();
  try {
    const { job } = await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 4 }), undefined);
    await h.cp.runCycle();
    advance(90_000);
    assert.deepEqual(await h.cp.holdRunning('acme', 'ada', 'GDPR Art. 18 request'), [job.id]);
    await eventually(async () => (await h.stateOf(job.id)) === 'queued', 'the requeue');
    const rows = await segments(h, job.id);
    assert.deepEqual(
      rows.map((r) => [r.attempt, r.ended_at, r.gpu_seconds]),
      [[1, iso(T0 + 90_000), 4 * 90]],
    );
  } finally {
    await h.close();
  }
});

test('migration 035 gives the rollup the measured energy of segments closed before it, spread over each run', async () => {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
  try {
    const migrator = new Migrator({ db, provider: migrationProvider });
    assert.equal((await migrator.migrateTo('033_usage_reconcile')).error, undefined);
    // Closed before the upgrade, as metering wrote them then: one measured across midnight, one not.
    const seg = (job: number, start: string, end: string, joules: number | null) =>
      sql`INSERT INTO usage_records (org_id, project_id, job_id, attempt, gpu_type, site, gpus, class, started_at, ended_at, gpu_seconds, measured_joules)
        VALUES ('acme', 'vision', ${job}, 1, 'B200', 's1', 2, 'on-demand', ${start}, ${end}, ${(2 * (Date.parse(end) - Date.parse(start))) / 1000}, ${joules})`.execute(
        db,
      );
    // 2 GPUs, 22:00–02:00: 7.2 MJ = 2 kWh measured, half of it on each day.
    await seg(1, '2026-01-04T22:00:00.000Z', '2026-01-05T02:00:00.000Z', 7_200_000);
    await seg(2, '2026-01-05T03:00:00.000Z', '2026-01-05T04:00:00.000Z', null);
    await rebuildUsageDaily(db as unknown as Kysely<unknown>, { energy: false }); // as migration 027 left it
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const rows = await db
      .selectFrom('usage_daily')
      .select(['day', 'run_mms', 'measured_mms', 'measured_kwh'])
      .orderBy('day')
      .execute();
    const H = 3_600_000;
    assert.deepEqual(
      rows.map((r) => [r.day, Number(r.run_mms), Number(r.measured_mms), Math.round(Number(r.measured_kwh) * 1e9) / 1e9]),
      [
        ['2026-01-04', 2000 * 2 * H, 2000 * 2 * H, 1],
        ['2026-01-05', 2000 * 3 * H, 2000 * 2 * H, 1],
      ],
    );
  } finally {
    await db.destroy();
  }
});
