/**
 * Measured energy through the real cycle: a driver that reports the joules it measured with a job's
 * exit (as the Slurm driver does from sacct's ConsumedEnergyRaw) has them kept on the run segment,
 * and GET /v1/jobs/{id}/energy's figures (jobEnergy) count them as the segment's itKwh (`measuredKwh`),
 * the power model's figure beside them (`modelKwh`); a job without a measurement counts the model.
 * The simulated driver at a job's GPU utilisation, and a real local job sampled through a stand-in
 * nvidia-smi, reach the same figures. On SQLite or PostgreSQL (GIGAFAB_TEST_STORE=postgres).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Observation } from '../../src/drivers/driver.js';
import { LocalDriver } from '../../src/drivers/local-driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import { jobEnergy } from '../../src/server/invoices/job-energy.js';
import { dialect } from '../helpers/billing-history.js';
import { storeOpener } from '../helpers/store-dialects.js';
import { eventually, harness } from './harness.js';

const T0 = Date.parse('2026-01-05T09:00:00Z');

/** The simulated driver, reporting a measured energy with the exits of the jobs in `joules`. */
class MeasuringSim extends SimDriver {
  readonly joules = new Map<string, number>();
  override onObservation(listener: (o: Observation) => void): void {
    super.onObservation((o) => {
      const j = o.type === 'exited' ? this.joules.get(o.jobId) : undefined;
      listener(o.type === 'exited' && j !== undefined ? { ...o, energyJoules: j } : o);
    });
  }
}

test("a job's measured energy is kept on its segment and counted, the model's beside it; none measured counts the model", async () => {
  const v = new VirtualClock(T0);
  let driver: MeasuringSim | null = null;
  const h = await harness({ openStore: storeOpener(dialect()), driver: () => (driver = new MeasuringSim(1, v)) });
  try {
    const spec = h.spec({ gpusPerNode: 8, simulation: { durationSeconds: 3600, exitCode: 0 } });
    const measured = (await h.cp.jobs.submit(h.tenant, spec, undefined)).job;
    const unmeasured = (await h.cp.jobs.submit(h.tenant, { ...spec, name: 'other' }, undefined)).job;
    driver!.joules.set(measured.id, 7_200_000); // 2 kWh
    await h.cp.runCycle();
    h.clock.t += 3600_000;
    v.advanceTo(h.clock.t);
    await eventually(
      async () => (await h.stateOf(measured.id)) === 'succeeded' && (await h.stateOf(unmeasured.id)) === 'succeeded',
      'both jobs to end',
    );
    const m = await jobEnergy(h.store, measured.id, h.clock.t);
    // The model: 8 B200 × 1000 W × 1 h = 8 kWh; measured: 2 kWh, which counts.
    assert.equal(m.itKwh, 2);
    assert.equal(m.modelKwh, 8);
    assert.equal(m.segments[0]?.itKwh, 2);
    assert.equal(m.segments[0]?.modelKwh, 8);
    assert.equal(m.measuredKwh, 2);
    assert.equal(m.measuredSegments, 1);
    assert.equal(m.segments[0]?.measuredKwh, 2);
    const u = await jobEnergy(h.store, unmeasured.id, h.clock.t);
    assert.equal(u.itKwh, 8);
    assert.equal(u.modelKwh, 8);
    assert.equal(u.measuredKwh, null);
    assert.equal(u.measuredSegments, 0);
    assert.equal(u.segments[0]?.measuredKwh, null);
  } finally {
    await h.close();
  }
});

test('the simulated fleet at a GPU utilisation: the power model at it is the measured energy', async () => {
  const v = new VirtualClock(T0);
  const h = await harness({ openStore: storeOpener(dialect()), driver: () => new SimDriver(1, v) });
  try {
    const job = (
      await h.cp.jobs.submit(
        h.tenant,
        h.spec({ gpusPerNode: 4, simulation: { durationSeconds: 3600, exitCode: 0, gpuUtilisation: 0.25 } }),
        undefined,
      )
    ).job;
    await h.cp.runCycle();
    h.clock.t += 3600_000;
    v.advanceTo(h.clock.t);
    await eventually(async () => (await h.stateOf(job.id)) === 'succeeded', 'the job to end');
    const e = await jobEnergy(h.store, job.id, h.clock.t);
    // B200 at 0.25: 140 + (1000 − 140) × 0.25 = 355 W; 4 GPUs × 1 h = 1.42 kWh (the model: 4 kWh).
    assert.equal(e.itKwh, 1.42);
    assert.equal(e.measuredKwh, 1.42);
    assert.equal(e.modelKwh, 4);
  } finally {
    await h.close();
  }
});

/** One 8-GPU B200 node, s1-dgx-0001, for the local driver to run on. */
function oneNodeFleet(dir: string): string {
  const path = join(dir, 'fleet.yaml');
  writeFileSync(
    path,
    `name: one
sites:
  - { id: s1, name: S1, city: Munich, country: DE, certifications: [] }
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
pools:
  - { site: s1, nodeType: dgx, count: 1, unitSize: 1, namePrefix: s1-dgx }
`,
  );
  return path;
}

test("a real local job sampled through a stand-in nvidia-smi: the job's energy is the sampled one", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-local-energy-'));
  // 8 GPUs at 250 W each, whichever are asked; discovery answers for 8 GPUs.
  const rows = Array.from({ length: 8 }, (_, i) => `${i}, GPU-${i}, NVIDIA B200, 183359, 00000000:1${i}:00.0, 570.133.20`);
  const power = Array.from({ length: 8 }, (_, i) => `${i}, GPU-${i}, 250.00, 97`);
  writeFileSync(
    join(dir, 'nvidia-smi'),
    `#!/bin/sh
case "$*" in
  *power.draw*) printf '%s\\n' ${power.map((r) => `'${r}'`).join(' ')} ;;
  *--query-gpu=*) printf '%s\\n' ${rows.map((r) => `'${r}'`).join(' ')} ;;
esac
`,
  );
  chmodSync(join(dir, 'nvidia-smi'), 0o755);
  const seen: Observation[] = [];
  const h = await harness({
    openStore: storeOpener(dialect()),
    fleet: oneNodeFleet,
    driver: () => {
      const d = new LocalDriver({
        baseDir: join(dir, 'jobs'),
        node: 's1-dgx-0001',
        discoveryEnv: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
        powerSampleSeconds: 0.2,
        pollIntervalMs: 100,
      });
      d.onObservation((o) => seen.push(o));
      return d;
    },
  });
  // The control plane's clock is the wall clock here: the run is real.
  Object.defineProperty(h.clock, 't', { get: () => Date.now() });
  try {
    const job = (await h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 2, command: ['sleep', '1'] }), undefined)).job;
    await h.cp.runCycle();
    await eventually(async () => (await h.stateOf(job.id)) === 'succeeded', 'the local job to end');
    const started = seen.find((o) => o.type === 'started' && o.jobId === job.id);
    const exited = seen.find((o) => o.type === 'exited' && o.jobId === job.id);
    assert.ok(started && exited?.type === 'exited');
    // Two GPUs at 250 W from the run's start to its end, by hand.
    const kwh = (2 * 250 * (exited.at - started.at)) / 1000 / 3.6e6;
    const e = await jobEnergy(h.store, job.id, Date.now());
    assert.equal(e.measuredSegments, 1);
    assert.ok(e.measuredKwh !== null && Math.abs(e.measuredKwh - kwh) <= 1e-6, `${e.measuredKwh} vs ${kwh}`);
    assert.equal(e.itKwh, e.measuredKwh);
    // The model would have said 2 × 1000 W over the segment: far more than what was sampled.
    assert.ok(e.modelKwh > 3 * e.itKwh);
  } finally {
    await h.close();
  }
});
