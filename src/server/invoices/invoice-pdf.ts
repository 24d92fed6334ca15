/**
 * An issued invoice as a PDF (pdf-lib, the standard Helvetica font: no font files to ship). The
 * text is what the JSON says, laid out as a table with the energy columns; the PDF carries the
 * invoice's SHA-256 so a printed copy can be matched to the audit chain.
 */
import { PDFDocument, type PDFFont, type PDFPage, rgb, StandardFonts } from 'pdf-lib';
import { correctionRow, type IssuedInvoice, lentCreditNote, lentCreditRow, reservationRows } from '../../model/invoices.js';
import { euros } from '../../model/money.js';

/** Helvetica in a PDF speaks WinAnsi: anything outside Latin-1 becomes '?'. */
const latin1 = (s: string) => s.replace(/₂/g, '2').replace(/[^\x20-\x7e\xa0-\xff]/g, '?');
const fmt = (x: number, digits: number) => x.toFixed(digits);

export async function invoicePdf(inv: IssuedInvoice, supplier = 'gigafab AI factory operator, Germany'): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setTitle(`Invoice ${inv.number}`);
  doc.setCreator('gigafab');
  doc.setProducer('gigafab (pdf-lib)');
  // A fixed date: the same invoice renders to the same bytes.
  doc.setCreationDate(new Date(inv.issuedAt));
  doc.setModificationDate(new Date(inv.issuedAt));
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  let page = doc.addPage([842, 595]); // A4 landscape: room for the energy columns
  let y = 555;
  const text = (p: PDFPage, s: string, x: number, size = 9, f: PDFFont = font) =>
    p.drawText(latin1(s), { x, y, size, font: f, color: rgb(0, 0, 0) });
  const right = (p: PDFPage, s: string, xRight: number, size = 9) =>
    text(p, s, xRight - font.widthOfTextAtSize(latin1(s), size), size);

  text(page, `Invoice ${inv.number}`, 40, 16, bold);
  y -= 22;
  text(page, supplier, 40);
  y -= 13;
  text(
    page,
    `Customer: organisation ${inv.org}, ${inv.customer.country}${inv.customer.vatId ? `, VAT id ${inv.customer.vatId}` : ''}`,
    40,
  );
  y -= 13;
  text(page, `Period: ${inv.month} (${inv.period.from} to ${inv.period.to})   Issued: ${inv.issuedAt}   Currency: EUR`, 40);
  y -= 22;
  const cols: [string, number, boolean][] = [
    ['GPU type', 40, false],
    ['Class', 130, false],
    ['Price v.', 245, true],
    ['GPU-hours', 330, true],
    ['EUR/GPU-hour', 420, true],
    ['Amount EUR', 510, true],
    ['IT kWh', 600, true],
    ['Facility kWh', 690, true],
    ['kg CO2e', 790, true],
  ];
  const row = (cells: string[], f: PDFFont = font) => {
    cells.forEach((c, i) => {
      const [, x, alignRight] = cols[i]!;
      if (alignRight) right(page, c, x);
      else text(page, c, x, 9, f);
    });
    y -= 13;
    if (y < 60) {
      page = doc.addPage([842, 595]);
      y = 555;
    }
  };
  cols.forEach(([h, x, alignRight]) => {
    if (alignRight) right(page, h, x);
    else text(page, h, x, 9, bold);
  });
  y -= 15;
  for (const l of inv.lines) {
    row([
      l.gpuType,
      l.class,
      String(l.priceVersion),
      fmt(l.gpuHours, 6),
      euros(l.centsPerGpuHour),
      euros(l.amountCents),
      fmt(l.itKwh, 3),
      fmt(l.facilityKwh, 3),
      fmt(l.co2Kg, 3),
    ]);
  }
  for (const r of inv.reservedCapacity ?? []) for (const cells of reservationRows(r, (h) => fmt(h, 6))) row(cells);
  for (const c of inv.corrections ?? []) row(correctionRow(c));
  for (const c of inv.lentCredits ?? []) row(lentCreditRow(c, (h) => fmt(h, 6)));
  y -= 8;
  const totals: [string, string][] = [
    ...(inv.lentCreditCents !== undefined ? [['Lent capacity credit', euros(-inv.lentCreditCents)] as [string, string]] : []),
    ['Net', euros(inv.netCents)],
    [`VAT ${inv.vatRatePercent}%`, euros(inv.vatCents)],
    ['Total', euros(inv.grossCents)],
  ];
  for (const [label, amount] of totals) {
    text(page, label, 340, 10, bold);
    right(page, `EUR ${amount}`, 510, 10);
    y -= 14;
  }
  y -= 6;
  if (inv.vatNote) {
    text(page, inv.vatNote, 40);
    y -= 13;
  }
  text(
    page,
    `Energy: ${fmt(inv.energy.itKwh, 3)} kWh at the GPUs${inv.energy.measuredKwh ? ` (${fmt(inv.energy.measuredKwh, 3)} measured)` : ''}, ${fmt(inv.energy.facilityKwh, 3)} kWh with facility overhead (PUE), ${fmt(inv.energy.co2Kg, 3)} kg CO2e.`,
    40,
  );
  y -= 13;
  if (inv.energy.sitesWithoutFactors.length > 0) {
    text(
      page,
      `No energy factors for site(s) ${inv.energy.sitesWithoutFactors.join(', ')} that month: PUE 1 and no CO2 counted there.`,
      40,
    );
    y -= 13;
  }
  const lapsed = lentCreditNote(inv);
  if (lapsed) {
    text(page, lapsed, 40);
    y -= 13;
  }
  if (inv.unpricedGpuSeconds > 0) {
    text(page, `${fmt(inv.unpricedGpuSeconds, 3)} GPU-seconds had no price in effect and are not billed.`, 40);
    y -= 13;
  }
  for (const n of inv.creditNotes) {
    text(page, `Credit note ${n.number} of ${n.issuedAt}: EUR ${euros(n.grossCents)} incl. VAT (${n.reason})`, 40);
    y -= 13;
  }
  text(page, `Power model: ${inv.energy.powerModel}`, 40, 7);
  y -= 11;
  text(page, `SHA-256 of the invoice's canonical JSON (in the audit chain): ${inv.sha256}`, 40, 7);
  return doc.save({ useObjectStreams: false });
}
