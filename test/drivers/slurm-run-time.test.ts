/**
 * The Slurm driver's run time after a job's end (`reportRunTime`): the reader of
 * `sacct -n -P -j ID -o JobID,ConsumedEnergyRaw,Start,End` (Slurm 22.05's parsable2 output, run with
 * TZ=UTC so its zoneless times are UTC), and the driver reporting the allocation's Start and End
 * with the exit (Observation exited.ran), from which the control plane corrects the metered run
 * (test/server/usage-reconcile.test.ts). The lines are written in sacct's format, not captured from
 * a cluster with accounting: the localhost test cluster (scripts/slurm) has no accounting storage,
 * so the driver runs there against the real sbatch/squeue/scancel/scontrol/sinfo (skipped, with the
 * reason, where that cluster cannot run), once with the real sacct (no run time: the exit comes
 * without one) and once with a stand-in sacct in `binDir` that prints such lines.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LocalhostSlurm, localhostSlurmUnavailable, startLocalhostSlurm } from '../../src/drivers/slurm/localhost.js';
import * as s from '../../src/drivers/slurm/slurm-22.05.js';
import { SlurmDriver } from '../../src/drivers/slurm-driver.js';
import { driverJob, Recorder, repoRoot, uniqueId } from './fixtures.js';

const utc = (t: string) => Date.parse(`${t}Z`);

test('sacct after the end: the allocation line gives Start and End (UTC), the steps do not', () => {
  assert.deepEqual(s.sacctAfterEndEnv, { TZ: 'UTC', SLURM_TIME_FORMAT: 'standard' });
  // A batch job that waited in Slurm's queue, on a cluster with an energy plugin.
  const ended = [
    '4711|7234561|2026-12-06T20:00:05|2026-12-06T20:58:12',
    '4711.batch|7100032|2026-12-06T20:00:05|2026-12-06T20:58:12',
    '4711.extern|7234561|2026-12-06T20:00:05|2026-12-06T20:58:13',
    '4711.0|6990120|2026-12-06T20:00:07|2026-12-06T20:58:11',
    '',
  ].join('\n');
  assert.deepEqual(s.parseSacctAfterEnd(ended, '4711'), {
    energyJoules: 7234561,
    ran: { start: utc('2026-12-06T20:00:05'), end: utc('2026-12-06T20:58:12') },
  });
  // No energy plugin: the run time all the same.
  assert.deepEqual(
    s.parseSacctAfterEnd(
      '4712||2026-12-06T21:00:00|2026-12-06T21:00:09\n4712.batch||2026-12-06T21:00:00|2026-12-06T21:00:09\n',
      '4712',
    ),
    {
      energyJoules: null,
      ran: { start: utc('2026-12-06T21:00:00'), end: utc('2026-12-06T21:00:09') },
    },
  );
  // Cancelled while pending: it never started (Start None); no run time.
  assert.deepEqual(s.parseSacctAfterEnd('4713||None|2026-12-06T21:05:00\n', '4713'), { energyJoules: null, ran: null });
  // Still running as far as accounting knows (End Unknown): no run time yet.
  assert.deepEqual(s.parseSacctAfterEnd('4714||2026-12-06T21:05:00|Unknown\n4714.batch||2026-12-06T21:05:00|Unknown\n', '4714'), {
    energyJoules: null,
    ran: null,
  });
  // An End before its Start (a clock stepped back on the controller) is not a run time.
  assert.equal(s.parseSacctAfterEnd('4715||2026-12-06T21:05:00|2026-12-06T21:04:59\n', '4715').ran, null);
  // Another job's line (an id that starts the same), a zoned or junk time, an error line, nothing: no run time.
  assert.equal(s.parseSacctAfterEnd('47160||2026-12-06T21:00:00|2026-12-06T21:01:00\n', '4716').ran, null);
  assert.equal(s.parseSacctAfterEnd('4717||2026-12-06T21:00:00+01:00|2026-12-06T21:01:00\n', '4717').ran, null);
  assert.equal(s.parseSacctAfterEnd('sacct: error: Slurm accounting storage is disabled\n', '4718').ran, null);
  assert.deepEqual(s.parseSacctAfterEnd('', '4719'), { energyJoules: null, ran: null });
  // The energy test's two-column lines (JobID, ConsumedEnergyRaw) still give the joules.
  assert.equal(s.parseSacctAfterEnd('4720|5400\n4720.batch|1200\n', '4720').energyJoules, 5400);
});

const unavailable = localhostSlurmUnavailable();
if (unavailable) console.log(`# SKIPPING the Slurm driver run-time tests: ${unavailable}`);

describe('the Slurm driver reports the run time sacct has with the exit', { skip: unavailable || false }, () => {
  let cluster: LocalhostSlurm | null = null;
  const root = mkdtempSync(join(tmpdir(), 'gigafab-slurm-runtime-'));
  const drivers: SlurmDriver[] = [];
  before(() => {
    cluster = startLocalhostSlurm(repoRoot());
  });
  after(async () => {
    for (const d of drivers) await d.close();
    cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const driver = (binDir?: string, measureEnergy = false) => {
    const d = new SlurmDriver({
      nodeMap: { 'muc-a': 'gpu01' },
      jobDir: join(root, 'jobs'),
      slurmConf: cluster!.slurmConf,
      instance: `runtime-${process.pid}`,
      pollIntervalMs: 200,
      nodePollIntervalMs: 0,
      timeoutGraceSeconds: 1,
      reportRunTime: true,
      measureEnergy,
      ...(binDir ? { binDir } : {}),
    });
    drivers.push(d);
    return { d, rec: new Recorder(d) };
  };

  test('no accounting storage (the real sacct fails): the exit comes, without a run time', async () => {
    const { d, rec } = driver();
    const id = uniqueId('runtime-none');
    await d.start(driverJob(id, ['sh', '-c', 'sleep 0.5'], [{ node: 'muc-a', gpus: [0] }]));
    const e = await rec.exited(id, 30_000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.ran, undefined);
  });

  test("a sacct with the job's record: the exit carries its Start and End, read in UTC; energy only when asked", async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const cmd of ['sbatch', 'squeue', 'sinfo', 'scancel', 'scontrol']) {
      const real = execFileSync('sh', ['-c', `command -v ${cmd}`], {
        encoding: 'utf8',
        env: { ...process.env, ...cluster!.env },
      }).trim();
      symlinkSync(real, join(bin, cmd));
    }
    const log = join(root, 'sacct-calls');
    writeFileSync(
      join(bin, 'sacct'),
      `#!/bin/sh\necho "TZ=$TZ FMT=$SLURM_TIME_FORMAT $*" >> ${log}\nwhile [ $# -gt 0 ]; do [ "$1" = -j ] && id=$2; shift; done\nprintf '%s|7234561|2026-12-06T20:00:05|2026-12-06T20:58:12\\n%s.batch|7100032|2026-12-06T20:00:05|2026-12-06T20:58:12\\n%s.extern|7234561|2026-12-06T20:00:05|2026-12-06T20:58:13\\n' "$id" "$id" "$id"\n`,
    );
    chmodSync(join(bin, 'sacct'), 0o755);
    const { d, rec } = driver(bin);
    const id = uniqueId('runtime');
    await d.start(driverJob(id, ['sh', '-c', 'sleep 0.5'], [{ node: 'muc-a', gpus: [0] }]));
    const e = await rec.exited(id, 30_000);
    assert.equal(e.outcome, 'completed');
    assert.deepEqual(e.ran, { start: utc('2026-12-06T20:00:05'), end: utc('2026-12-06T20:58:12') });
    assert.equal(e.energyJoules, undefined, 'measureEnergy is off: no joules');
    const calls = readFileSync(log, 'utf8');
    assert.match(calls, new RegExp(`TZ=UTC FMT=standard -n -P -j ${d.slurmJobId(id)} -o JobID,ConsumedEnergyRaw,Start,End`));
    // Both settings: one sacct read gives both.
    const both = driver(bin, true);
    const id2 = uniqueId('runtime-energy');
    await both.d.start(driverJob(id2, ['sh', '-c', 'sleep 0.5'], [{ node: 'muc-a', gpus: [0] }]));
    const e2 = await both.rec.exited(id2, 30_000);
    assert.equal(e2.energyJoules, 7234561);
    assert.deepEqual(e2.ran, { start: utc('2026-12-06T20:00:05'), end: utc('2026-12-06T20:58:12') });
    assert.equal(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.includes(`-j ${both.d.slurmJobId(id2)} `)).length,
      1,
    );
  });
});
