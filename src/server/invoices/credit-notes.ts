/**
 * Writing a credit note inside a caller's transaction: its number, canonical JSON and hash, and its
 * audit record `invoice.credit-note`. Operators issue them through the API (invoice-service.ts);
 * a reconciliation that lowers billed time in an invoiced month issues one itself
 * (invoice-corrections.ts).
 */
import { type CreditNote, CreditNoteSchema, canonicalJson, vatCents } from '../../model/invoices.js';
import { parseJson } from '../../model/json.js';
import { appendAudit } from '../../store/audit.js';
import type { Trx } from '../job-events.js';
import { sha256Hex } from './hash.js';

/** The invoice a credit note credits: what the note needs of it. */
export interface CreditedInvoice {
  id: string;
  org: string;
  netCents: number;
  vatRatePercent: number;
}

/** creditedNetCents: net EUR cents the invoice's credit notes credit so far. */
export async function creditedNetCents(trx: Trx, invoiceId: string): Promise<number> {
  const earlier = await trx.selectFrom('credit_notes').select('body').where('invoice_id', '=', Number(invoiceId)).execute();
  return earlier.reduce((a, n) => a + parseJson(n.body, CreditNoteSchema, 'credit note').netCents, 0);
}

/** insertCreditNote: the note (netCents > 0, not checked against what is left: the caller does) and its audit record. */
export async function insertCreditNote(
  trx: Trx,
  invoice: CreditedInvoice,
  input: { netCents: number; reason: string },
  issuedAt: string,
  actor: string,
  requestId?: string,
): Promise<CreditNote> {
  const last = await trx.selectFrom('credit_notes').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
  const noteId = (last?.id ?? 0) + 1;
  const vat = vatCents(input.netCents, invoice.vatRatePercent);
  const note: CreditNote = {
    id: String(noteId),
    number: `GF-CN-${String(noteId).padStart(6, '0')}`,
    invoiceId: invoice.id,
    org: invoice.org,
    issuedAt,
    reason: input.reason,
    netCents: input.netCents,
    vatRatePercent: invoice.vatRatePercent,
    vatCents: vat,
    grossCents: input.netCents + vat,
  };
  const body = canonicalJson(note);
  const sha256 = sha256Hex(body);
  await trx
    .insertInto('credit_notes')
    .values({
      id: noteId,
      invoice_id: Number(invoice.id),
      org_id: invoice.org,
      number: note.number,
      issued_at: issuedAt,
      gross_cents: note.grossCents,
      body,
      sha256,
    })
    .execute();
  await appendAudit(trx, {
    at: issuedAt,
    actor,
    org: invoice.org,
    action: 'invoice.credit-note',
    objectType: 'credit_note',
    objectId: String(noteId),
    after: { number: note.number, invoiceId: invoice.id, netCents: note.netCents, grossCents: note.grossCents, sha256 },
    ...(requestId === undefined ? {} : { requestId }),
  });
  return note;
}
