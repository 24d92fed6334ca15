/**
 * Per-tenant energy at /metrics against the real server (SCS-0414 names), with a cap of two
 * (org, project) label sets: after jobs ran, `sustainability_tenant_energy_kwh`,
 * `gigafab_tenant_facility_energy_kwh` and `sustainability_tenant_operational_gwp_kg` of a project
 * equal what GET /v1/jobs/{id}/energy says of its jobs, added up; a third project's energy goes
 * into org="other",project="other" and gets no series of its own.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let acme: ReturnType<typeof api>;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-metrics-energy-'));
const PUE = 1.25;
const GRID = 300; // g CO₂e per kWh

before(async () => {
  const limits = join(dir, 'limits.yaml');
  writeFileSync(limits, 'metrics:\n  maxProjectLabelSets: 2\n');
  server = await startTestServer({ fleetPath: writeSmallFleet(dir), extraArgs: ['--limits', limits] });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' })).status, 201);
  for (const p of ['p1', 'p2', 'p3']) {
    assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: p })).status, 201);
    assert.equal((await op('PUT', `/v1/projects/${p}/quotas/B200`, { gpus: 32 })).status, 200);
  }
  const month = new Date().toISOString().slice(0, 7);
  const f = await op('PUT', '/v1/energy-factors', { site: 's1', month, pue: PUE, gridGCo2PerKwh: GRID, source: 'test' });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  acme = api(server.url, await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' }));
});
after(async () => {
  await server?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

function value(text: string, name: string, project: string, org = project === 'other' ? 'other' : 'acme'): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{org="${org}",project="${project}"} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** run: a job of `gpus` B200 per node that runs `seconds` of simulated time (time scale 600) to its end. */
async function run(project: string, gpus: number, seconds: number, nodes = 1, gpuUtilisation?: number): Promise<string> {
  const r = await acme('POST', '/v1/jobs', {
    name: `${project}-job`,
    project,
    gpuType: 'B200',
    gpusPerNode: gpus,
    nodes,
    simulation: { durationSeconds: seconds, exitCode: 0, gpuUtilisation },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.id as string;
  await waitFor(async () => (await acme('GET', `/v1/jobs/${id}`)).body.state === 'succeeded', `job ${id} to succeed`);
  return id;
}

/** energy: GET /v1/jobs/{id}/energy of the jobs, added up. */
type Figures = { itKwh: number; facilityKwh: number; co2Kg: number; measuredKwh: number };
async function energy(ids: string[]): Promise<Figures> {
  const sum = { itKwh: 0, facilityKwh: 0, co2Kg: 0, measuredKwh: 0 };
  for (const id of ids) {
    const e = await acme('GET', `/v1/jobs/${id}/energy`);
    assert.equal(e.status, 200, JSON.stringify(e.body));
    for (const k of ['itKwh', 'facilityKwh', 'co2Kg'] as const) sum[k] += e.body[k];
    sum.measuredKwh += e.body.measuredKwh ?? 0;
  }
  return sum;
}

/** matches: the three series of (org, project) equal the jobs' energy (each job's figure rounded to 1e-6 kWh). */
function matches(m: string, project: string, want: Figures, jobs: number) {
  const tol = jobs * 1e-6;
  const it = value(m, 'sustainability_tenant_energy_kwh', project);
  const fac = value(m, 'gigafab_tenant_facility_energy_kwh', project);
  const co2 = value(m, 'sustainability_tenant_operational_gwp_kg', project);
  assert.ok(it !== undefined && Math.abs(it - want.itKwh) <= tol, `${project} IT kWh ${it} vs ${want.itKwh}`);
  assert.ok(
    fac !== undefined && Math.abs(fac - want.facilityKwh) <= tol,
    `${project} facility kWh ${fac} vs ${want.facilityKwh}`,
  );
  assert.ok(co2 !== undefined && Math.abs(co2 - want.co2Kg) <= tol, `${project} kg CO2e ${co2} vs ${want.co2Kg}`);
  const measured = value(m, 'gigafab_tenant_measured_energy_kwh', project);
  assert.ok(
    measured !== undefined && Math.abs(measured - want.measuredKwh) <= tol,
    `${project} measured kWh ${measured} vs ${want.measuredKwh}`,
  );
}

test("a project's energy at /metrics is its jobs' energy added up, IT, with PUE and CO₂", async () => {
  const p1 = [await run('p1', 8, 1200), await run('p1', 4, 1800)];
  // p2's job runs at half utilisation: the simulated driver reports its energy, which counts as measured.
  const p2 = [await run('p2', 8, 1200, 2, 0.5)];
  const m = await scrape();
  const e1 = await energy(p1);
  const e2 = await energy(p2);
  // 8 B200 at 1000 W for about 2 s: some 0.0044 kWh; the figures are not empty.
  // p2 at half utilisation: 570 W a GPU instead of 1000.
  assert.ok(e1.itKwh > 0.003 && e2.itKwh > 0.003, JSON.stringify({ e1, e2 }));
  assert.ok(Math.abs(e1.facilityKwh - e1.itKwh * PUE) < 1e-5 && Math.abs(e1.co2Kg - (e1.facilityKwh * GRID) / 1000) < 1e-5);
  matches(m, 'p1', e1, 2);
  matches(m, 'p2', e2, 1);
  assert.equal(e1.measuredKwh, 0);
  assert.ok(Math.abs(e2.measuredKwh - e2.itKwh) < 1e-6, JSON.stringify(e2));
  assert.match(m, /# TYPE sustainability_tenant_energy_kwh gauge/);
  assert.match(m, /# TYPE sustainability_tenant_operational_gwp_kg gauge/);
});

test('the label cap holds: a third project is added into org="other",project="other"', async () => {
  const p3 = [await run('p3', 8, 1200)];
  const m = await scrape();
  matches(m, 'other', await energy(p3), 1);
  for (const name of [
    'sustainability_tenant_energy_kwh',
    'gigafab_tenant_facility_energy_kwh',
    'sustainability_tenant_operational_gwp_kg',
    'gigafab_tenant_measured_energy_kwh',
  ])
    assert.equal(value(m, name, 'p3'), undefined, `${name} has no p3 series`);
  const sets = new Set(
    m
      .split('\n')
      .filter((l) => /^(sustainability_tenant|gigafab_tenant)_/.test(l))
      .map((l) => /org="([^"]*)",project="([^"]*)"/.exec(l)?.slice(1, 3).join('/')),
  );
  assert.deepEqual([...sets].sort(), ['acme/p1', 'acme/p2', 'other/other']);
});
