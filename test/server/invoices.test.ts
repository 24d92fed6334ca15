/**
 * Invoices against a real store and control plane (clock moved by the test): an operator's run for a
 * month that has ended issues one invoice per organisation with usage, each with its `invoice.issue`
 * audit record holding the SHA-256 of its canonical JSON; a second run issues nothing; VAT follows the
 * billing profile (German VAT, reverse charge in the EU, none outside); energy follows the power
 * model, PUE and grid factor; credit notes never exceed the invoice and never change it; an invoice
 * row altered in the database fails verification and is no longer served.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { DomainError } from '../../src/model/errors.js';
import { canonicalJson, REVERSE_CHARGE_NOTE } from '../../src/model/invoices.js';
import { sha256Hex } from '../../src/server/invoices/invoice-service.js';
import { type Harness, harness } from './harness.js';

let h: Harness;
const op = () => ({ principal: h.operator, requestId: 'req-op' });
const refused =
  (code: string, kind = 'unprocessable') =>
  (e: unknown) =>
    e instanceof DomainError && e.code === code && e.kind === kind && e.detail.length > 10;

/** A closed usage record of `org`: `gpus` B200s at s1 from `start` for `seconds`. */
async function segment(
  org: string,
  project: string,
  job: number,
  start: string,
  seconds: number,
  gpus = 8,
  cls = 'on-demand',
  measuredJoules: number | null = null,
) {
  const end = new Date(Date.parse(start) + seconds * 1000).toISOString();
  await h.store.db
    .insertInto('usage_records')
    .values({
      org_id: org,
      project_id: project,
      job_id: job,
      attempt: 1,
      gpu_type: 'B200',
      site: 's1',
      gpus,
      class: cls,
      started_at: start,
      ended_at: end,
      gpu_seconds: gpus * seconds,
      measured_joules: measuredJoules,
    })
    .execute();
}

before(async () => {
  h = await harness(); // now: 2026-01-05T09:00:00Z
  const at = new Date(h.clock.t).toISOString();
  for (const org of ['beta', 'gamma']) {
    await h.store.db.insertInto('orgs').values({ id: org, name: org, kind: 'research', created_at: at }).execute();
    await h.store.db
      .insertInto('projects')
      .values({ id: `${org}-p`, org_id: org, name: org, created_at: at })
      .execute();
  }
  // 3.60 EUR per GPU-hour: one cent per GPU-second; preemptible half.
  await h.cp.prices.set(op(), {
    granularity: 'second',
    prices: [
      { gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 360 },
      { gpuType: 'B200', class: 'preemptible', centsPerGpuHour: 180 },
    ],
  });
  await segment('acme', 'vision', 1, '2026-01-05T10:00:00.000Z', 3600); // 8 GPU-hours: 2880 cents
  await segment('acme', 'vision', 2, '2026-01-06T10:00:00.000Z', 1800, 4, 'preemptible'); // 2 GPU-hours: 360 cents
  await segment('beta', 'beta-p', 3, '2026-01-07T10:00:00.000Z', 900, 8); // 2 GPU-hours: 720 cents
  // 100 GPU-seconds: 10 cents; measured 90 kJ (the model: 100 kJ).
  await segment('gamma', 'gamma-p', 4, '2026-01-08T10:00:00.000Z', 100, 1, 'on-demand', 90_000);
  await h.cp.billing.setProfile(op(), 'beta', { country: 'FR', vatId: 'FR12345678901' });
  await h.cp.billing.setProfile(op(), 'gamma', { country: 'CH' });
  await h.cp.billing.setEnergyFactors(op(), {
    site: 's1',
    month: '2026-01',
    pue: 1.25,
    gridGCo2PerKwh: 400,
    source: 'test figures',
  });
});
after(() => h.close());

test('a run is for operators and for a month that has ended', async () => {
  await assert.rejects(h.cp.invoices.run(h.tenant, '2025-12'), refused('forbidden', 'forbidden'));
  await assert.rejects(h.cp.invoices.run(op(), '2026-01'), refused('month_not_ended'));
  await assert.rejects(h.cp.invoices.run(op(), 'January'), refused('invalid_month'));
  assert.deepEqual((await h.cp.invoices.run(op(), '2025-12')).issued, [], 'no usage in December: no invoice');
});

test('a run issues one invoice per organisation with usage, audited with its hash; a second run issues nothing', async () => {
  h.clock.t = Date.parse('2026-02-01T06:00:00Z');
  const first = await h.cp.invoices.run(op(), '2026-01');
  assert.deepEqual(
    first.issued.map((i) => [i.org, i.netCents]),
    [
      ['acme', 3240],
      ['beta', 720],
      ['gamma', 10],
    ],
  );
  const again = await h.cp.invoices.run(op(), '2026-01');
  assert.deepEqual(again.issued, []);
  assert.equal(again.alreadyIssued, 3);
  assert.equal((await h.store.db.selectFrom('invoices').select('id').execute()).length, 3);
  const audit = await h.store.db.selectFrom('audit').selectAll().where('action', '=', 'invoice.issue').orderBy('id').execute();
  assert.equal(audit.length, 3, 'one audit record per invoice, none from the second run');
  for (const a of audit) {
    const inv = await h.cp.invoices.get(h.operator, a.object_id);
    const { sha256: _s, creditNotes: _c, ...body } = inv;
    assert.equal(
      sha256Hex(canonicalJson(body)),
      JSON.parse(a.after ?? '{}').sha256,
      'the audit record holds the hash of the canonical JSON',
    );
    assert.equal(a.org_id, inv.org);
  }
});

test('lines are per type, class and price; VAT follows the billing profile', async () => {
  const [acme] = await h.cp.invoices.list(h.tenant.principal, {});
  assert.ok(acme);
  const inv = await h.cp.invoices.get(h.tenant.principal, acme.id);
  assert.deepEqual(
    inv.lines.map((l) => [l.class, l.gpuHours, l.centsPerGpuHour, l.amountCents]),
    [
      ['on-demand', 8, 360, 2880],
      ['preemptible', 2, 180, 360],
    ],
  );
  assert.equal(inv.vatRatePercent, 19);
  assert.equal(inv.vatCents, 616); // 3240 × 19 % = 615.6
  assert.equal(inv.grossCents, 3856);
  assert.equal(inv.vatNote, null);
  const beta = (await h.cp.invoices.list(h.operator, { org: 'beta' }))[0]!;
  const b = await h.cp.invoices.get(h.operator, beta.id);
  assert.equal(b.vatCents, 0);
  assert.equal(b.vatNote, REVERSE_CHARGE_NOTE);
  const gamma = await h.cp.invoices.get(h.operator, (await h.cp.invoices.list(h.operator, { org: 'gamma' }))[0]!.id);
  assert.equal(gamma.vatCents, 0);
  assert.match(gamma.vatNote ?? '', /outside the EU/);
});

test("energy: GPU-hours × the type's busy watts, × the site's PUE, × its grid factor", async () => {
  const [acme] = await h.cp.invoices.list(h.tenant.principal, {});
  const inv = await h.cp.invoices.get(h.tenant.principal, acme!.id);
  // 10 B200 GPU-hours at 1000 W: 10 kWh; PUE 1.25: 12.5 kWh; 400 g/kWh: 5 kg.
  assert.equal(inv.energy.itKwh, 10);
  assert.equal(inv.energy.facilityKwh, 12.5);
  assert.equal(inv.energy.co2Kg, 5);
  assert.deepEqual(inv.energy.sitesWithoutFactors, []);
  assert.deepEqual(
    inv.lines.map((l) => l.itKwh),
    [8, 2],
  );
  assert.equal(inv.energy.measuredKwh, 0);
});

test('energy: a measured segment counts its measurement, not the model; the cents stay those of its time', async () => {
  const gamma = await h.cp.invoices.get(h.operator, (await h.cp.invoices.list(h.operator, { org: 'gamma' }))[0]!.id);
  // 90 kJ = 0.025 kWh measured (the model would say 100 GPU-seconds at 1000 W = 0.027778 kWh).
  assert.equal(gamma.energy.itKwh, 0.025);
  assert.equal(gamma.energy.measuredKwh, 0.025);
  assert.equal(gamma.energy.facilityKwh, 0.03125);
  assert.equal(gamma.energy.co2Kg, 0.0125);
  assert.deepEqual(
    gamma.lines.map((l) => [l.itKwh, l.amountCents]),
    [[0.025, 10]],
  );
});

test('tenants see their own invoices only', async () => {
  const all = await h.cp.invoices.list(h.operator, {});
  const theirs = all.find((i) => i.org === 'beta')!;
  await assert.rejects(h.cp.invoices.get(h.tenant.principal, theirs.id), refused('invoice_not_found', 'not_found'));
  await assert.rejects(h.cp.invoices.verify(h.tenant.principal, theirs.id), refused('invoice_not_found', 'not_found'));
  assert.deepEqual(
    (await h.cp.invoices.list(h.tenant.principal, {})).map((i) => i.org),
    ['acme'],
  );
  await assert.rejects(h.cp.invoices.list(h.tenant.principal, { org: 'beta' }), refused('org_not_found', 'not_found'));
});

test('credit notes: operators only, never more than the net amount, the invoice unchanged', async () => {
  const [acme] = await h.cp.invoices.list(h.operator, { org: 'acme' });
  const before = await h.cp.invoices.get(h.operator, acme!.id);
  await assert.rejects(
    h.cp.invoices.creditNote(h.tenant, acme!.id, { netCents: 100, reason: 'mine' }),
    refused('forbidden', 'forbidden'),
  );
  const note = await h.cp.invoices.creditNote(op(), acme!.id, { netCents: 1000, reason: 'node failure billed in error' });
  assert.equal(note.vatCents, 190);
  assert.equal(note.grossCents, 1190);
  await assert.rejects(
    h.cp.invoices.creditNote(op(), acme!.id, { netCents: 2241, reason: 'too much' }),
    refused('credit_exceeds_invoice'),
  );
  const afterNote = await h.cp.invoices.get(h.operator, acme!.id);
  assert.equal(afterNote.sha256, before.sha256, 'the invoice itself is unchanged');
  assert.deepEqual(
    afterNote.creditNotes.map((n) => n.netCents),
    [1000],
  );
  assert.equal((await h.cp.invoices.list(h.operator, { org: 'acme' }))[0]!.creditedCents, 1190);
  assert.ok((await h.cp.invoices.verify(h.operator, acme!.id)).ok);
});

test('the store refuses to change an issued invoice; one changed behind its back fails verification and is not served', async () => {
  const [gamma] = await h.cp.invoices.list(h.operator, { org: 'gamma' });
  const id = Number(gamma!.id);
  await assert.rejects(h.store.db.updateTable('invoices').set({ net_cents: 1 }).where('id', '=', id).execute(), /immutable/);
  await assert.rejects(h.store.db.deleteFrom('invoices').where('id', '=', id).execute(), /immutable/);
  // Someone with write access to the file drops the trigger and lowers the amount (hash column too).
  await sql`DROP TRIGGER invoices_no_update`.execute(h.store.db);
  const row = await h.store.db.selectFrom('invoices').select('body').where('id', '=', id).executeTakeFirstOrThrow();
  const forged = row.body.replace('"netCents":10', '"netCents":1');
  assert.notEqual(forged, row.body);
  await h.store.db
    .updateTable('invoices')
    .set({ body: forged, sha256: sha256Hex(forged) })
    .where('id', '=', id)
    .execute();
  const v = await h.cp.invoices.verify(h.operator, String(id));
  assert.equal(v.ok, false);
  assert.match(v.problem ?? '', /altered/);
  await assert.rejects(h.cp.invoices.get(h.operator, String(id)), refused('invoice_altered', 'conflict'));
});

test('a run reads every record once across its pages, also where thousands end at the same instant', async () => {
  const at = new Date(h.clock.t).toISOString();
  await h.store.db.insertInto('orgs').values({ id: 'delta', name: 'delta', kind: 'research', created_at: at }).execute();
  const rows = Array.from({ length: 12_001 }, (_, i) => ({
    org_id: 'delta',
    project_id: 'delta-p',
    job_id: 100_000 + i,
    attempt: 1,
    gpu_type: 'B200',
    site: 's1',
    gpus: 1,
    class: 'on-demand',
    started_at: '2025-12-10T00:00:00.000Z',
    ended_at: '2025-12-10T00:00:36.000Z',
    gpu_seconds: 36,
  }));
  for (let i = 0; i < rows.length; i += 1000)
    await h.store.db
      .insertInto('usage_records')
      .values(rows.slice(i, i + 1000))
      .execute();
  const run = await h.cp.invoices.run(op(), '2025-12');
  assert.deepEqual(
    run.issued.map((i) => i.org),
    ['delta'],
  );
  const inv = await h.cp.invoices.get(h.operator, run.issued[0]!.id);
  // No price was in effect in December: every second is reported unpriced, none billed.
  assert.equal(inv.unpricedGpuSeconds, 12_001 * 36);
  assert.equal(inv.netCents, 0);
  assert.equal(inv.energy.itKwh, 120.01); // 432,036 GPU-seconds at 1000 W
});

test("the yearly energy statement: kWh at the GPUs and with PUE, the site's renewable share, CO₂, per site", async () => {
  await h.cp.billing.setEnergyFactors(op(), {
    site: 's1',
    month: '2026-01',
    pue: 1.25,
    gridGCo2PerKwh: 400,
    renewableShare: 0.5,
    source: 'test',
  });
  const st = await h.cp.invoices.energyStatement(h.tenant.principal, 'acme', '2026');
  assert.deepEqual([st.itKwh, st.facilityKwh, st.co2Kg, st.pue, st.renewableShare], [10, 12.5, 5, 1.25, 0.5]);
  assert.deepEqual(
    st.bySite.map((s) => s.site),
    ['s1'],
  );
  assert.equal(st.period.to, new Date(h.clock.t).toISOString(), 'the current year up to now');
  await assert.rejects(h.cp.invoices.energyStatement(h.tenant.principal, 'beta', '2026'), refused('org_not_found', 'not_found'));
  await assert.rejects(h.cp.invoices.energyStatement(h.tenant.principal, 'acme', '26'), refused('invalid_year'));
  const none = await h.cp.invoices.energyStatement(h.operator, 'gamma', '2025');
  assert.deepEqual([none.itKwh, none.pue, none.renewableShare], [0, null, null]);
});
