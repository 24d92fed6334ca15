/**
 * The yearly energy statement against the real server, as JSON and as a PDF: last year's history
 * written into the store (two sites, one without factors) and this year's jobs run for real; the
 * PDF is rendered by Debian's pdftoppm and its text read back with pdftotext, and its kWh, PUE,
 * renewable share and CO₂ figures equal the JSON's; a malformed year and one not begun are 422 with
 * a code; another organisation's statement is 404 in both forms; `gigafab energy statement` prints
 * it and writes the same PDF bytes with --pdf.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { EnergyStatement } from '../../src/model/energy.js';
import { seedUsage, withStore } from '../helpers/billing-history.js';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
let beta: ReturnType<typeof api>;
let acmeToken: string;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-energy-statement-'));
const { gigafab } = cliRunner('gigafab-energy-cli-');
const H = 3_600_000;
const thisYear = new Date().getUTCFullYear();
const lastYear = String(thisYear - 1);
const NOV = Date.UTC(thisYear - 1, 10, 1);

before(async () => {
  execFileSync('bash', ['scripts/ensure-poppler.sh'], { cwd: join(import.meta.dirname, '../../..'), stdio: 'ignore' });
  server = await startTestServer({ fleetPath: writeSmallFleet(dir) });
  op = api(server.url, server.operatorToken);
  for (const org of ['acme', 'beta']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'start-up' })).status, 201);
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-ml` })).status, 201);
  }
  assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 32 })).status, 200);
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
  beta = api(server.url, await tenantToken(op, 'beta', { name: 'Bo', role: 'admin' }));
  await withStore(server.dataDir, (s) =>
    seedUsage(s, [
      // s1, November: 16 B200 × 1 kW × 2 h = 32 kWh; × PUE 1.2 = 38.4; × 380 g = 14.592 kg.
      { org: 'acme', project: 'acme-ml', job: 900_001, start: NOV + 24 * H, seconds: 7200, gpus: 16 },
      // s2, no factors: 4 H100 × 0.7 kW × 1 h = 2.8 kWh at PUE 1, no CO₂.
      { org: 'acme', project: 'acme-ml', job: 900_002, start: NOV + 48 * H, seconds: 3600, gpus: 4, gpuType: 'H100', site: 's2' },
      { org: 'beta', project: 'beta-ml', job: 900_003, start: NOV + 72 * H, seconds: 1800, gpus: 2 },
      // s1, measured: 8 B200 for 1 h drew 10.8 MJ = 3 kWh (the model would say 8); × 1.2 = 3.6; 1.368 kg.
      { org: 'acme', project: 'acme-ml', job: 900_004, start: NOV + 96 * H, seconds: 3600, gpus: 8, measuredJoules: 10_800_000 },
    ]),
  );
  const month = `${lastYear}-11`;
  const f = await op('PUT', '/v1/energy-factors', {
    site: 's1',
    month,
    pue: 1.2,
    gridGCo2PerKwh: 380,
    renewableShare: 0.5,
    source: 'test',
  });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  const now = new Date().toISOString().slice(0, 7);
  const g = await op('PUT', '/v1/energy-factors', { site: 's1', month: now, pue: 1.3, gridGCo2PerKwh: 250, source: 'test' });
  assert.equal(g.status, 200, JSON.stringify(g.body));
});
after(async () => {
  await server?.stop();
});

async function pdfOf(org: string, year: string, token = acmeToken): Promise<Response> {
  return fetch(`${server.url}/v1/orgs/${org}/energy-statement/pdf?year=${year}`, {
    headers: { authorization: `Bearer ${token}` },
  });
}

/** readBack: the PDF rendered to a page image (pdftoppm) and its text (pdftotext -layout). */
function readBack(pdf: Buffer, name: string): string {
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  const file = join(dir, `${name}.pdf`);
  writeFileSync(file, pdf);
  execFileSync('pdftoppm', ['-png', '-r', '40', file, join(dir, `${name}-page`)]);
  const pages = readdirSync(dir).filter((f) => f.startsWith(`${name}-page`) && f.endsWith('.png'));
  assert.equal(pages.length, 1);
  assert.ok(statSync(join(dir, pages[0]!)).size > 1000, 'the page rendered to an image');
  return execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
}

/** figure: the number printed after `label` on its line of the PDF's text. */
function figure(text: string, label: string): number {
  const line = text.split('\n').find((l) => l.trimStart().startsWith(label));
  assert.ok(line, `no line ${label} in\n${text}`);
  const m = /(-?\d+\.\d+)\s*$/.exec(line);
  assert.ok(m, `no figure on ${line}`);
  return Number(m[1]);
}

/** sameFigures: the PDF's totals and per-site rows are the JSON's. */
function sameFigures(text: string, st: EnergyStatement) {
  assert.equal(figure(text, 'Energy at the GPUs (kWh)'), st.itKwh);
  assert.equal(figure(text, 'Energy with facility overhead (kWh)'), st.facilityKwh);
  assert.equal(figure(text, 'of which measured (kWh)'), st.measuredKwh);
  assert.equal(figure(text, 'PUE'), st.pue);
  assert.equal(figure(text, 'Emissions (kg CO2e)'), st.co2Kg);
  if (st.renewableShare === null) assert.match(text, /Renewable share\s+none declared/);
  else assert.equal(figure(text, 'Renewable share'), st.renewableShare);
  for (const s of st.bySite) {
    const row = text.split('\n').find((l) => l.trimStart().startsWith(`${s.site} `));
    assert.ok(row, `no row for site ${s.site}`);
    const nums = row.trim().split(/\s+/).slice(1).map(Number);
    assert.deepEqual([nums[0], nums[1], nums[3]], [s.itKwh, s.facilityKwh, s.co2Kg], row);
  }
}

test("last year's statement: JSON and PDF show the same kWh, PUE, renewable share and CO₂", async () => {
  const j = await acme('GET', `/v1/orgs/acme/energy-statement?year=${lastYear}`);
  assert.equal(j.status, 200, JSON.stringify(j.body));
  const st = j.body;
  // By hand: 32 + 2.8 + 3 (measured) kWh at the GPUs; 38.4 + 2.8 + 3.6 with PUE; 14.592 + 1.368 kg;
  // renewable 0.5 of s1's only.
  assert.deepEqual([st.itKwh, st.facilityKwh, st.co2Kg, st.renewableShare, st.measuredKwh], [37.8, 44.8, 15.96, 0.5, 3]);
  assert.equal(st.pue, Math.round((44.8 / 37.8) * 1000) / 1000);
  assert.deepEqual(
    st.bySite.map((x: { site: string; measuredKwh: number }) => [x.site, x.measuredKwh]),
    [
      ['s1', 3],
      ['s2', 0],
    ],
  );
  assert.deepEqual(st.monthsWithoutFactors, [`s2/${lastYear}-11`]);
  const r = await pdfOf('acme', lastYear);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/pdf');
  const pdf = Buffer.from(await r.arrayBuffer());
  const text = readBack(pdf, 'last-year');
  assert.match(text, new RegExp(`Energy statement ${lastYear}`));
  assert.match(text, /Organisation: acme/);
  assert.match(text, new RegExp(`s2/${lastYear}-11`));
  sameFigures(text, st);
  // Deterministic: the same statement renders to the same bytes.
  assert.deepEqual(Buffer.from(await (await pdfOf('acme', lastYear)).arrayBuffer()), pdf);

  // The CLI prints the statement and writes the same PDF.
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const show = await gigafab(['energy', 'statement', '--org', 'acme', '--year', lastYear], env);
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, /37\.800000 kWh at the GPUs \(3\.000000 measured\), 44\.800000 kWh with PUE/);
  assert.match(show.out, /15\.960000 kg CO₂e/);
  const out = join(dir, 'cli.pdf');
  const dl = await gigafab(['energy', 'statement', '--org', 'acme', '--year', lastYear, '--pdf', out], env);
  assert.equal(dl.code, 0, dl.err);
  assert.deepEqual(readFileSync(out), pdf);
});

test("this year's statement from jobs run now: the PDF's figures are the JSON's", async () => {
  const job = await acme('POST', '/v1/jobs', {
    name: 'e',
    project: 'acme-ml',
    gpuType: 'B200',
    gpusPerNode: 8,
    nodes: 1,
    simulation: { durationSeconds: 1200, exitCode: 0 },
  });
  assert.equal(job.status, 201, JSON.stringify(job.body));
  await waitFor(async () => (await acme('GET', `/v1/jobs/${job.body.id}`)).body.state === 'succeeded', 'the job to end');
  const st = (await acme('GET', `/v1/orgs/acme/energy-statement?year=${thisYear}`)).body;
  assert.ok(st.itKwh > 0.003, JSON.stringify(st));
  assert.equal(st.pue, 1.3);
  assert.equal(st.renewableShare, null);
  const r = await pdfOf('acme', String(thisYear));
  assert.equal(r.status, 200);
  sameFigures(readBack(Buffer.from(await r.arrayBuffer()), 'this-year'), st);
});

test('a malformed year or one not begun is 422 with a code; another organisation is 404 in JSON and PDF', async () => {
  for (const [year, code] of [
    ['20x6', 'invalid_year'],
    ['26', 'invalid_year'],
    [String(thisYear + 1), 'year_not_begun'],
  ]) {
    const j = await acme('GET', `/v1/orgs/acme/energy-statement?year=${year}`);
    assert.equal(j.status, 422, year);
    assert.equal(j.body.code, code);
    assert.ok(j.body.detail.length > 10, 'a sentence');
    const p = await pdfOf('acme', year);
    assert.equal(p.status, 422);
    assert.equal((await p.json()).code, code);
  }
  const theirs = await beta('GET', `/v1/orgs/acme/energy-statement?year=${lastYear}`);
  assert.equal(theirs.status, 404);
  const betaToken = await tenantToken(op, 'beta', { name: 'Cy', role: 'member' });
  const p = await pdfOf('acme', lastYear, betaToken);
  assert.equal(p.status, 404);
  assert.equal((await p.json()).code, theirs.body.code);
  assert.equal((await pdfOf('nope', lastYear, betaToken)).status, 404);
  // Their own works, and holds only their usage.
  assert.equal((await beta('GET', `/v1/orgs/beta/energy-statement?year=${lastYear}`)).body.itKwh, 1);
  const cli = await gigafab(['energy', 'statement', '--org', 'acme', '--year', lastYear, '--pdf', join(dir, 'x.pdf')], {
    GIGAFAB_URL: server.url,
    GIGAFAB_TOKEN: betaToken,
  });
  assert.notEqual(cli.code, 0);
});
