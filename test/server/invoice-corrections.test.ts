/**
 * A reconciliation in a month already invoiced settles itself (invoices/invoice-corrections.ts), on
 * SQLite and PostgreSQL:
 * - less billed time: a credit note on the issued invoice in the correction's transaction, at the
 *   invoice's VAT rate, audited, named by the job event; never more than is left to credit;
 * - more: a correction on the organisation's next invoice naming the corrected one, charged once;
 * - usage a reservation covers either way: nothing to settle;
 * - a run across the month's end whose end alone moved: the invoiced month bills the same;
 * - a repeated report settles nothing again; the issued invoice never changes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../helpers/store-dialects.js';
import { invoicedRun } from './invoiced-run.js';

for (const dialect of DIALECTS) {
  test(`${dialect}: less billed time in an invoiced month is credited on that invoice in the correction's transaction`, async () => {
    const { h, op, invoice, reconcile } = await invoicedRun(dialect, 2);
    try {
      assert.equal(invoice.netCents, 5760, '2 h × 8 GPUs × EUR 3.60');
      const before = await h.store.db.selectFrom('invoices').selectAll().execute();
      const ev = await reconcile(1);
      assert.ok(ev);
      const inv = await h.cp.invoices.get(h.operator, invoice.id);
      assert.equal(inv.creditNotes.length, 1);
      const note = inv.creditNotes[0]!;
      assert.equal(note.netCents, 2880, 'the hour no longer billed, priced as the invoice priced it');
      assert.equal(note.vatRatePercent, inv.vatRatePercent);
      assert.equal(note.grossCents, 2880 + note.vatCents);
      assert.match(note.reason, /job 77 run 1: run time reconciled with slurm/);
      assert.match(
        ev.message,
        new RegExp(
          `invoice ${invoice.number} was already issued and stays as issued: credit note ${note.number} credits EUR 28\\.80 net`,
        ),
      );
      const audit = await h.store.db.selectFrom('audit').selectAll().where('action', '=', 'invoice.credit-note').execute();
      assert.deepEqual(
        audit.map((a) => [a.actor, a.object_id, a.org_id]),
        [['system:driver:slurm', note.id, 'acme']],
      );
      // The same report again: nothing more.
      assert.equal(await reconcile(1), null);
      assert.equal((await h.cp.invoices.get(h.operator, invoice.id)).creditNotes.length, 1);
      assert.deepEqual(await h.store.db.selectFrom('invoices').selectAll().execute(), before, 'the issued invoice is unchanged');
      // A later run of the month issues nothing; the next month's invoice carries no charge for it.
      assert.deepEqual((await h.cp.invoices.run(op, '2025-12')).issued, []);
      h.clock.t = Date.parse('2026-02-02T00:00:00Z');
      assert.deepEqual((await h.cp.invoices.run(op, '2026-01')).issued, []);
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: more billed time in an invoiced month is charged once, on the organisation's next invoice`, async () => {
    const { h, op, invoice, reconcile } = await invoicedRun(dialect, 1);
    try {
      const ev = await reconcile(2);
      assert.ok(ev);
      assert.match(ev.message, /EUR 28\.80 net is charged on the organisation's next invoice/);
      assert.equal((await h.cp.invoices.get(h.operator, invoice.id)).netCents, 2880, 'the issued invoice is unchanged');
      h.clock.t = Date.parse('2026-02-02T00:00:00Z');
      const { issued } = await h.cp.invoices.run(op, '2026-01');
      assert.equal(issued.length, 1, 'the charge alone is invoiced');
      const next = await h.cp.invoices.get(h.operator, issued[0]!.id);
      assert.deepEqual(
        next.corrections?.map((c) => [c.invoiceNumber, c.month, c.jobId, c.netCents]),
        [[invoice.number, '2025-12', '77', 2880]],
      );
      assert.equal(next.netCents, 2880);
      assert.equal(next.grossCents, next.netCents + next.vatCents);
      assert.ok((await h.cp.invoices.verify(h.operator, next.id)).ok);
      h.clock.t = Date.parse('2026-03-02T00:00:00Z');
      assert.deepEqual((await h.cp.invoices.run(op, '2026-02')).issued, [], 'charged once');
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: a credit never exceeds what is left of the invoice; covered usage settles nothing`, async () => {
    const { h, op, invoice, reconcile } = await invoicedRun(dialect, 2);
    try {
      await h.cp.invoices.creditNote(op, invoice.id, { netCents: 5000, reason: 'goodwill' });
      const ev = await reconcile(1);
      assert.ok(ev);
      const notes = (await h.cp.invoices.get(h.operator, invoice.id)).creditNotes;
      assert.deepEqual(
        notes.map((n) => n.netCents),
        [5000, 760],
        'the rest of the invoice, not the hour',
      );
      assert.match(ev.message, /credits EUR 7\.60 net \(EUR 21\.20 more is not credited, the invoice is credited in full\)/);
      // Less again: nothing is left to credit, so no note.
      const again = await reconcile(0.5);
      assert.ok(again);
      assert.match(again.message, /no credit note: EUR 14\.40 net is not credited, the invoice is credited in full/);
      assert.equal((await h.cp.invoices.get(h.operator, invoice.id)).creditNotes.length, 2);
    } finally {
      await h.close();
    }
    const r = await invoicedRun(dialect, 2, 8);
    try {
      assert.equal(r.invoice.netCents, 8000, 'the reservation (8 × EUR 10) covers both hours');
      const ev = await r.reconcile(1);
      assert.ok(ev);
      assert.match(ev.message, /stays as issued: what it bills does not change/);
      assert.equal((await r.h.cp.invoices.get(r.h.operator, r.invoice.id)).creditNotes.length, 0);
      assert.equal(
        await r.h.store.db
          .selectFrom('invoice_corrections')
          .selectAll()
          .execute()
          .then((x) => x.length),
        0,
      );
    } finally {
      await r.h.close();
    }
  });
}

for (const dialect of DIALECTS) {
  test(`${dialect}: a run across the month's end whose end alone moves settles nothing on the invoiced month`, async () => {
    // From 2025-12-31T23:00Z for two hours: December bills its last hour.
    const { h, invoice, reconcile } = await invoicedRun(dialect, 2, 0, Date.parse('2025-12-31T23:00:00Z'));
    try {
      assert.equal(invoice.netCents, 8 * 360);
      const ev = await reconcile(1.5);
      assert.ok(ev);
      assert.match(
        ev.message,
        new RegExp(`invoice ${invoice.number} was already issued and stays as issued: what it bills does not change`),
      );
      assert.equal((await h.cp.invoices.get(h.operator, invoice.id)).creditNotes.length, 0);
      assert.equal((await h.store.db.selectFrom('invoice_corrections').selectAll().execute()).length, 0);
    } finally {
      await h.close();
    }
  });
}
