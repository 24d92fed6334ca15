/**
 * Credit for lent reserved capacity against the real server. The scheduler attributes a borrowed
 * start to the other projects' idle lent quota (largest first) and the job row and usage segment
 * keep it, across a restart; the month's invoice of an organisation with reserved capacity credits
 * other organisations' borrowed GPU-seconds on its lent quota at the `lent-credit` price, up to the
 * reservation's idle GPUs at every instant; a borrower of the same organisation gives no credit; a
 * credit beyond the charges lapses (net stops at 0). API, `gigafab invoice show`, the PDF's text.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { lastMonth, seedPrices, seedUsage, withStore } from '../helpers/billing-history.js';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let anchorToken: string;
let betaToken: string;
let op: ReturnType<typeof api>;
let beta: ReturnType<typeof api>;
const { month, from } = lastMonth();
const { gigafab } = cliRunner('gigafab-lent-cli-');
const H = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'gigafab-lent-'));

before(async () => {
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'borrowing: { enabled: true }\nexplainIntervalSeconds: 0\n');
  server = await startTestServer({ fleetPath: writeSmallFleet(dir), extraArgs: ['--policy', policy] });
  op = api(server.url, server.operatorToken);
  const projects: [string, string, number][] = [
    ['anchor', 'anchor-a', 16],
    ['anchor', 'anchor-b', 0],
    ['beta', 'beta-p', 0],
    ['gamma', 'gamma-p', 12],
  ];
  for (const org of ['anchor', 'beta', 'gamma']) {
    assert.equal((await op('POST', '/v1/orgs', { id: org, name: org, kind: 'start-up' })).status, 201);
  }
  for (const [org, project, gpus] of projects) {
    assert.equal((await op('POST', `/v1/orgs/${org}/projects`, { id: project })).status, 201);
    assert.equal((await op('PUT', `/v1/projects/${project}/quotas/B200`, { gpus })).status, 200);
  }
  anchorToken = await tenantToken(op, 'anchor', { name: 'Ada', role: 'admin' });
  betaToken = await tenantToken(op, 'beta', { name: 'Bo', role: 'member' });
  beta = api(server.url, betaToken);
});
after(async () => {
  await server?.stop();
});

const job = (name: string) => ({
  name,
  project: 'beta-p',
  gpuType: 'B200',
  gpusPerNode: 8,
  nodes: 1,
  simulation: { durationSeconds: 86_400 },
});

async function started(id: string): Promise<{ job: string | null; segment: string | null }> {
  await waitFor(async () => (await beta('GET', `/v1/jobs/${id}`)).body.state === 'running', `job ${id} running`);
  return withStore(server.dataDir, async (s) => {
    const row = await s.db.selectFrom('jobs').select('lenders').where('id', '=', Number(id)).executeTakeFirstOrThrow();
    const seg = await s.db
      .selectFrom('usage_records')
      .select('lenders')
      .where('job_id', '=', Number(id))
      .executeTakeFirstOrThrow();
    return { job: row.lenders, segment: seg.lenders };
  });
}

test('a borrowed start is attributed to the largest idle lent quota; a restart keeps running jobs’ lenders', async () => {
  const first = await beta('POST', '/v1/jobs', job('first'));
  assert.equal(first.status, 201, JSON.stringify(first.body));
  // anchor-a lends 16 idle GPUs, gamma-p 12: the first 8 are anchor-a's.
  const one = await started(first.body.id);
  assert.deepEqual(JSON.parse(one.job ?? 'null'), [{ project: 'anchor-a', gpus: 8 }]);
  assert.equal(one.segment, one.job);
  const events = (await beta('GET', `/v1/jobs/${first.body.id}/events`)).body.items;
  const running = events.find((e: { type: string }) => e.type === 'running');
  assert.match(running.message, /borrowed capacity/);
  assert.doesNotMatch(running.message, /anchor/, "a borrower is not told the lending organisation's projects");

  await server.restart();
  // The port changes with a restart.
  op = api(server.url, server.operatorToken);
  beta = api(server.url, betaToken);
  // Recovered: anchor-a has 8 left unattributed, gamma-p 12, so the next 8 are gamma-p's.
  const second = await beta('POST', '/v1/jobs', job('second'));
  const two = await started(second.body.id);
  assert.deepEqual(JSON.parse(two.job ?? 'null'), [{ project: 'gamma-p', gpus: 8 }]);
  for (const id of [first.body.id, second.body.id]) assert.equal((await beta('POST', `/v1/jobs/${id}/cancel`)).status, 202);
});

test('the lent-credit price is set like any other; an unknown class is still refused', async () => {
  const ok = await op('POST', '/v1/price-versions', {
    prices: [
      { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 450 },
      { gpuType: 'B200', class: 'lent-credit', centsPerGpuHour: 150 },
    ],
  });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.deepEqual(
    ok.body.prices.map((p: { class: string }) => p.class),
    ['on-demand', 'lent-credit'],
  );
  const bad = await op('POST', '/v1/price-versions', { prices: [{ gpuType: 'B200', class: 'lent', centsPerGpuHour: 1 }] });
  assert.equal(bad.status, 422);
  assert.equal(bad.body.code, 'unknown_price_class');
  assert.match(bad.body.detail, /lent-credit/);
});

test('the invoice credits borrowed GPU-seconds on lent quota up to the reservation’s idle GPUs; net stops at 0', async () => {
  await withStore(server.dataDir, async (s) => {
    await seedPrices(s, from, [
      { gpuType: 'B200', class: 'on-demand', cents: 450 },
      { gpuType: 'B200', class: 'borrowed', cents: 300 },
      { gpuType: 'B200', class: 'lent-credit', cents: 200 },
    ]);
    const a = [{ project: 'anchor-a', gpus: 8 }];
    await seedUsage(s, [
      // anchor's own: 6 GPUs, hours 24–26: its 8 reserved have 2 idle then, 8 afterwards.
      { org: 'anchor', project: 'anchor-a', job: 920_001, start: from + 24 * H, seconds: 7200, gpus: 6 },
      // beta borrows 8 of anchor-a's, hours 24–27: credited 2 × 2 h + 8 × 1 h = 12 GPU-hours.
      {
        org: 'beta',
        project: 'beta-p',
        job: 920_002,
        start: from + 24 * H,
        seconds: 3 * 3600,
        gpus: 8,
        cls: 'borrowed',
        lenders: a,
      },
      // anchor's own project borrows from anchor-a: its own usage (covered), no credit.
      {
        org: 'anchor',
        project: 'anchor-b',
        job: 920_003,
        start: from + 48 * H,
        seconds: 3600,
        gpus: 4,
        cls: 'borrowed',
        lenders: [{ project: 'anchor-a', gpus: 4 }],
      },
      // beta on the pool alone, and on gamma-p's quota: nothing for anchor.
      { org: 'beta', project: 'beta-p', job: 920_004, start: from + 72 * H, seconds: 3600, gpus: 8, cls: 'borrowed' },
      {
        org: 'beta',
        project: 'beta-p',
        job: 920_005,
        start: from + 96 * H,
        seconds: 3600,
        gpus: 4,
        cls: 'borrowed',
        lenders: [{ project: 'gamma-p', gpus: 4 }],
      },
    ]);
  });
  const reserve = (org: string, gpus: number, centsPerGpuMonth: number) =>
    op('PUT', '/v1/reserved-capacity', { org, gpuType: 'B200', month, gpus, centsPerGpuMonth });
  assert.equal((await reserve('anchor', 8, 100_000)).status, 200);
  // gamma's reservation costs nothing: its credit (4 GPU-hours × EUR 2.00) exceeds its charges.
  assert.equal((await reserve('gamma', 4, 0)).status, 200);
  const run = await op('POST', '/v1/invoices/runs', { month });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const issued = new Map(run.body.issued.map((i: { org: string; id: string }) => [i.org, i.id]));
  const get = async (org: string) => (await op('GET', `/v1/invoices/${issued.get(org)}`)).body;

  const anchor = await get('anchor');
  assert.deepEqual(anchor.lentCredits, [
    {
      gpuType: 'B200',
      priceVersion: anchor.lines[0].priceVersion,
      centsPerGpuHour: 200,
      gpuSeconds: 12 * 3600,
      gpuHours: 12,
      amountCents: 2400,
    },
  ]);
  assert.equal(anchor.lentCreditCents, 2400);
  // 8 × EUR 1000 reserved, all own usage covered (16 GPU-hours), less the credit.
  assert.equal(anchor.reservedCapacity[0].coveredGpuHours, 16);
  assert.equal(anchor.netCents, 800_000 - 2400);
  assert.equal(anchor.vatCents, Math.round((797_600 * 19) / 100));
  assert.equal(anchor.grossCents, anchor.netCents + anchor.vatCents);
  assert.equal((await op('GET', `/v1/invoices/${anchor.id}/verify`)).body.ok, true);

  const betaInvoice = await get('beta');
  assert.equal(betaInvoice.lentCredits, undefined, 'no reservation, no credit');
  assert.equal(betaInvoice.netCents, (24 + 8 + 4) * 300);

  const gamma = await get('gamma');
  assert.equal(gamma.lentCredits[0].amountCents, 800);
  assert.equal(gamma.lentCreditCents, 0);
  assert.equal(gamma.netCents, 0);

  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: anchorToken };
  const show = await gigafab(['invoice', 'show', anchor.id], env);
  assert.equal(show.code, 0, show.err);
  for (const want of ['credit: lent capacity', '12.000000', '-24.00', 'Lent capacity credit', 'EUR 7976.00'])
    assert.ok(show.out.includes(want), `${want}:\n${show.out}`);
  const lapsed = await gigafab(['invoice', 'show', gamma.id], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: server.operatorToken });
  assert.equal(lapsed.code, 0, lapsed.err);
  assert.match(lapsed.out, /credits of 8\.00 exceed the month's charges: 0\.00 is applied, the rest lapses/);
  const r = await fetch(`${server.url}/v1/invoices/${anchor.id}/pdf`, { headers: { authorization: `Bearer ${anchorToken}` } });
  assert.equal(r.status, 200);
  const file = join(dir, 'lent.pdf');
  writeFileSync(file, Buffer.from(await r.arrayBuffer()));
  const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
  for (const want of ['credit: lent capacity', '12.000000', '-24.00', 'Lent capacity credit', 'EUR 7976.00'])
    assert.ok(text.includes(want), `the PDF's text has ${want}:\n${text}`);
});
