/**
 * Measured energy through the real cycle: a driver that reports the joules it measured with a job's
 * exit (as the Slurm driver does from sacct's ConsumedEnergyRaw) has them kept on the run segment,
 * and GET /v1/jobs/{id}/energy's figures (jobEnergy) show `measuredKwh` beside the power model's;
 * a job without a measurement shows null. On SQLite or PostgreSQL (GIGAFAB_TEST_STORE=postgres).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Observation } from '../../src/drivers/driver.js';
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

test("a job's measured energy is kept on its segment and shown beside the model's; none measured is null", async () => {
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
    // The model: 8 B200 × 1000 W × 1 h = 8 kWh; measured: 2 kWh.
    assert.equal(m.itKwh, 8);
    assert.equal(m.measuredKwh, 2);
    assert.equal(m.measuredSegments, 1);
    assert.equal(m.segments[0]?.measuredKwh, 2);
    const u = await jobEnergy(h.store, unmeasured.id, h.clock.t);
    assert.equal(u.itKwh, 8);
    assert.equal(u.measuredKwh, null);
    assert.equal(u.measuredSegments, 0);
    assert.equal(u.segments[0]?.measuredKwh, null);
  } finally {
    await h.close();
  }
});
