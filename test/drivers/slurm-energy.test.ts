/**
 * The Slurm driver's measured energy: the reader of `sacct -n -P -j ID -o JobID,ConsumedEnergyRaw`
 * (Slurm 22.05's parsable2 output: `|` between fields, none at the end), joules per job and step,
 * and the driver reporting them with a job's exit (`measureEnergy`). The sacct lines are written in
 * that format, not captured from a cluster with an energy plugin: the localhost test cluster
 * (scripts/slurm) has no accounting storage, so its sacct answers nothing. The driver runs there
 * against the real sbatch/squeue/scancel/scontrol/sinfo (skipped, with the reason, where that
 * cluster cannot run), once with the real sacct (no measurement: the exit comes without one) and
 * once with a stand-in sacct in `binDir` that prints such lines.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LocalhostSlurm, localhostSlurmUnavailable, startLocalhostSlurm } from '../../src/drivers/slurm/localhost.js';
import * as s from '../../src/drivers/slurm/slurm-22.05.js';
import { SlurmDriver } from '../../src/drivers/slurm-driver.js';
import { driverJob, Recorder, repoRoot, uniqueId } from './fixtures.js';

test('sacct arguments after the end: the job and its steps, JobID and ConsumedEnergyRaw first, parsable', () => {
  assert.deepEqual(s.sacctAfterEndArgs('4711'), ['-n', '-P', '-j', '4711', '-o', 'JobID,ConsumedEnergyRaw,Start,End']);
});

test("the allocation line's joules; else the largest step's; empty, 0 and NO_VAL64 are not measured", () => {
  // An energy plugin (acct_gather_energy/ipmi): the allocation and its steps.
  assert.equal(s.parseSacctEnergy('4711|7234561\n4711.batch|7100032\n4711.extern|7234561\n4711.0|6990120\n', '4711'), 7234561);
  // The allocation line without a figure: the steps overlap (extern spans the allocation), so the largest, not the sum.
  assert.equal(s.parseSacctEnergy('4712|\n4712.batch|1200\n4712.extern|5400\n4712.0|5000\n', '4712'), 5400);
  // No energy plugin: empty on every line, or 0.
  assert.equal(s.parseSacctEnergy('4713|\n4713.batch|\n4713.extern|\n', '4713'), null);
  assert.equal(s.parseSacctEnergy('4714|0\n4714.batch|0\n4714.extern|0\n', '4714'), null);
  // NO_VAL64, as some releases print for an unset value: not a measurement.
  assert.equal(s.parseSacctEnergy('4715|18446744073709551614\n4715.batch|18446744073709551614\n', '4715'), null);
  // Another job's lines (an id that starts the same) and junk are ignored; no output is null.
  assert.equal(s.parseSacctEnergy('47160|999\n4716.0|300\nsacct: error: …\n', '4716'), 300);
  assert.equal(s.parseSacctEnergy('', '4717'), null);
});

const unavailable = localhostSlurmUnavailable();
if (unavailable) console.log(`# SKIPPING the Slurm driver energy tests: ${unavailable}`);

describe('the Slurm driver reports measured energy with the exit', { skip: unavailable || false }, () => {
  let cluster: LocalhostSlurm | null = null;
  const root = mkdtempSync(join(tmpdir(), 'gigafab-slurm-energy-'));
  const drivers: SlurmDriver[] = [];
  before(() => {
    cluster = startLocalhostSlurm(repoRoot());
  });
  after(async () => {
    for (const d of drivers) await d.close();
    cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const driver = (binDir?: string) => {
    const d = new SlurmDriver({
      nodeMap: { 'muc-a': 'gpu01' },
      jobDir: join(root, 'jobs'),
      slurmConf: cluster!.slurmConf,
      instance: `energy-${process.pid}`,
      pollIntervalMs: 200,
      nodePollIntervalMs: 0,
      timeoutGraceSeconds: 1,
      measureEnergy: true,
      ...(binDir ? { binDir } : {}),
    });
    drivers.push(d);
    return { d, rec: new Recorder(d) };
  };

  test('no accounting storage (the real sacct fails): the exit comes, without a measurement', async () => {
    const { d, rec } = driver();
    const id = uniqueId('energy-none');
    await d.start(driverJob(id, ['sh', '-c', 'sleep 0.5'], [{ node: 'muc-a', gpus: [0] }]));
    const e = await rec.exited(id, 30_000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.energyJoules, undefined);
  });

  test("a sacct that reports ConsumedEnergyRaw: the exit carries the allocation's joules", async () => {
    // The real Slurm commands, and a stand-in sacct printing the job's lines as an energy plugin would.
    const bin = join(root, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    for (const cmd of ['sbatch', 'squeue', 'sinfo', 'scancel', 'scontrol']) {
      const real = execFileSync('sh', ['-c', `command -v ${cmd}`], {
        encoding: 'utf8',
        env: { ...process.env, ...cluster!.env },
      }).trim();
      symlinkSync(real, join(bin, cmd));
    }
    const log = join(root, 'sacct-args');
    writeFileSync(
      join(bin, 'sacct'),
      `#!/bin/sh\necho "$@" >> ${log}\nwhile [ $# -gt 0 ]; do [ "$1" = -j ] && id=$2; shift; done\nprintf '%s|7234561\\n%s.batch|7100032\\n%s.extern|7234561\\n' "$id" "$id" "$id"\n`,
    );
    chmodSync(join(bin, 'sacct'), 0o755);
    const { d, rec } = driver(bin);
    const id = uniqueId('energy');
    await d.start(driverJob(id, ['sh', '-c', 'sleep 0.5'], [{ node: 'muc-a', gpus: [0] }]));
    const e = await rec.exited(id, 30_000);
    assert.equal(e.outcome, 'completed');
    assert.equal(e.exitCode, 0);
    assert.equal(e.energyJoules, 7234561);
    assert.match(
      execFileSync('cat', [log], { encoding: 'utf8' }),
      new RegExp(`-j ${d.slurmJobId(id)} -o JobID,ConsumedEnergyRaw`),
    );
  });
});
