/**
 * tenantEnergy (the /metrics per-tenant energy) on a real store, SQLite or PostgreSQL
 * (GIGAFAB_TEST_STORE=postgres): its figures per (org, project) equal GET /v1/jobs/{id}/energy's
 * arithmetic (jobEnergy) added up over the project's jobs — closed segments read from the daily
 * rollup, one across a month boundary with different factors on each side, a fractional GPU, a
 * site without factors (PUE 1, no CO₂), a measured segment across the month boundary (its measurement
 * counts, spread over its run), and an open segment counted up to now; then, with one reader kept as
 * /metrics keeps it (settled days summed once), as the open segment closes through metering's
 * closeSegment with a measured energy, days pass midnight and the operator corrects a month's PUE.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jobEnergy } from '../../src/server/invoices/job-energy.js';
import { closeSegment } from '../../src/server/metering.js';
import { TenantEnergyTotals, tenantEnergy } from '../../src/server/tenant-energy.js';
import type { Store } from '../../src/store/open-store.js';
import { dialect, seedUsage } from '../helpers/billing-history.js';
import { storeOpener } from '../helpers/store-dialects.js';

const H = 3_600_000;
const NOV = Date.parse('2026-11-01T00:00:00Z');
const DEC = Date.parse('2026-12-01T00:00:00Z');
let store: Store;

before(async () => {
  store = await storeOpener(dialect())(mkdtempSync(join(tmpdir(), 'gigafab-tenant-energy-')));
});
after(async () => {
  await store?.close();
});

test("each project's energy equals its jobs' energies added up, on the rollup and open segments", async () => {
  await seedUsage(store, [
    { org: 'acme', project: 'a1', job: 1, start: NOV + 2 * H, seconds: 3600, gpus: 8 },
    // Across the month boundary: November's factors before midnight, December's after.
    { org: 'acme', project: 'a1', job: 2, start: DEC - 3 * H, seconds: 5 * 3600, gpus: 4, gpuType: 'H100' },
    { org: 'acme', project: 'a2', job: 3, start: NOV + 30 * H, seconds: 600, gpus: 0.25 },
    { org: 'beta', project: 'b1', job: 4, start: DEC + 5 * H, seconds: 1800, gpus: 2, site: 's2' }, // s2: no factors
    // Measured: 2 B200 drew 300 W each for 4 h, 2 h in November and 2 in December: 2.4 kWh (the model: 8).
    { org: 'acme', project: 'a2', job: 6, start: DEC - 2 * H, seconds: 4 * 3600, gpus: 2, measuredJoules: 8_640_000 },
  ]);
  await store.db
    .insertInto('usage_records')
    .values({
      org_id: 'beta',
      project_id: 'b1',
      job_id: 5,
      attempt: 1,
      gpu_type: 'B200',
      site: 's1',
      gpus: 8,
      class: 'on-demand',
      started_at: new Date(DEC + 24 * H).toISOString(),
    })
    .execute();
  const at = new Date().toISOString();
  await store.db
    .insertInto('energy_factors')
    .values([
      {
        site: 's1',
        month: '2026-11',
        pue: 1.2,
        grid_g_co2_per_kwh: 380,
        renewable_share: null,
        source: 't',
        updated_at: at,
        updated_by: 't',
      },
      {
        site: 's1',
        month: '2026-12',
        pue: 1.5,
        grid_g_co2_per_kwh: 200,
        renewable_share: 0.5,
        source: 't',
        updated_at: at,
        updated_by: 't',
      },
    ])
    .execute();
  const want: Record<string, number[]> = { 'acme/a1': [1, 2], 'acme/a2': [3, 6], 'beta/b1': [4, 5] };
  /** agrees: the reading equals GET /v1/jobs/{id}/energy's figures (each rounded to 1e-6) added up. */
  const agrees = async (reading: Awaited<ReturnType<typeof tenantEnergy>>, now: number) => {
    const got = new Map(reading.map((e) => [`${e.org}/${e.project}`, e]));
    assert.deepEqual([...got.keys()].sort(), Object.keys(want).sort());
    for (const [k, jobs] of Object.entries(want)) {
      const sum = { itKwh: 0, facilityKwh: 0, co2Kg: 0, measuredKwh: 0 };
      for (const j of jobs) {
        const e = await jobEnergy(store, String(j), now);
        for (const f of ['itKwh', 'facilityKwh', 'co2Kg'] as const) sum[f] += e[f];
        sum.measuredKwh += e.measuredKwh ?? 0;
      }
      const g = got.get(k)!;
      for (const f of ['itKwh', 'facilityKwh', 'co2Kg', 'measuredKwh'] as const)
        assert.ok(Math.abs(g[f] - sum[f]) <= jobs.length * 1e-6, `${k} ${f}: ${g[f]} vs ${sum[f]}`);
    }
    return got;
  };
  let now = DEC + 26 * H;
  const got = await agrees(await tenantEnergy(store, now), now);
  // By hand: a1 = 8 B200 × 1 kW × 1 h = 8 kWh (×1.2, ×0.38) + 4 H100 × 0.7 kW × (3 h Nov + 2 h Dec).
  const a1 = got.get('acme/a1')!;
  assert.ok(Math.abs(a1.itKwh - (8 + 2.8 * 5)) < 1e-9, String(a1.itKwh));
  assert.ok(Math.abs(a1.facilityKwh - (8 * 1.2 + 2.8 * 3 * 1.2 + 2.8 * 2 * 1.5)) < 1e-9, String(a1.facilityKwh));
  assert.ok(Math.abs(a1.co2Kg - ((8 + 2.8 * 3) * 1.2 * 0.38 + 2.8 * 2 * 1.5 * 0.2)) < 1e-9, String(a1.co2Kg));
  // b1's site s2 has no factors: PUE 1, no CO₂ for job 4; job 5 (open, 2 h) at December's.
  const b1 = got.get('beta/b1')!;
  assert.ok(Math.abs(b1.itKwh - (2 * 0.5 + 16)) < 1e-9, String(b1.itKwh));
  assert.ok(Math.abs(b1.co2Kg - 16 * 1.5 * 0.2) < 1e-9, String(b1.co2Kg));
  // a2: a quarter B200 for 10 min (model) + job 6's measured 2.4 kWh, 1.2 at November's PUE, 1.2 at December's.
  const a2 = got.get('acme/a2')!;
  assert.ok(Math.abs(a2.itKwh - (0.25 / 6 + 2.4)) < 1e-9, String(a2.itKwh));
  assert.ok(Math.abs(a2.measuredKwh - 2.4) < 1e-9, String(a2.measuredKwh));
  assert.ok(Math.abs(a2.facilityKwh - ((0.25 / 6 + 1.2) * 1.2 + 1.2 * 1.5)) < 1e-9, String(a2.facilityKwh));

  // One reader across scrapes: the open segment closes (a day later, through metering), days settle.
  const reader = new TenantEnergyTotals(store);
  await agrees(await reader.read(now), now);
  now = DEC + 50 * H;
  await agrees(await reader.read(now), now);
  // Closed with a measured 10 kWh (the model: 8 B200 × 25 h = 200 kWh), through metering's rollup.
  await store.write(async (trx) => closeSegment(trx, '5', new Date(now - H).toISOString(), undefined, 36_000_000));
  const closed = await agrees(await reader.read(now), now);
  assert.ok(Math.abs(closed.get('beta/b1')!.itKwh - (1 + 10)) < 1e-9, String(closed.get('beta/b1')!.itKwh));
  now = DEC + 80 * H; // past two more midnights: the days of job 5 settle
  await agrees(await reader.read(now), now);
  // A corrected PUE for November shows at the next reading, settled days or not.
  await store.db.updateTable('energy_factors').set({ pue: 1.4 }).where('month', '=', '2026-11').execute();
  const corrected = await agrees(await reader.read(now), now);
  assert.ok(corrected.get('acme/a2')!.facilityKwh > corrected.get('acme/a2')!.itKwh * 1.39);
});
