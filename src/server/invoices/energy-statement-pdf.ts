/**
 * An organisation's yearly energy statement as a PDF (pdf-lib, standard Helvetica, as invoices):
 * what the JSON says (energy-statement.ts), the figures printed as the JSON has them — kWh and kg
 * CO₂e to the JSON's six decimals, PUE and renewable share to its three — per site and in total,
 * with the months counted without factors and the power model named. Deterministic bytes: the
 * document's dates are the end of the period it covers.
 */
import { PDFDocument, type PDFFont, rgb, StandardFonts } from 'pdf-lib';
import type { EnergyStatement } from '../../model/energy.js';

/** Helvetica in a PDF speaks WinAnsi: anything outside Latin-1 becomes '?'. */
const latin1 = (s: string) => s.replace(/₂/g, '2').replace(/[^\x20-\x7e\xa0-\xff]/g, '?');
const kwh = (x: number) => x.toFixed(6);
const ratio = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));

export async function energyStatementPdf(
  st: EnergyStatement,
  supplier = 'gigafab AI factory operator, Germany',
): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setTitle(`Energy statement ${st.year}, ${st.org}`);
  doc.setCreator('gigafab');
  doc.setProducer('gigafab (pdf-lib)');
  doc.setCreationDate(new Date(st.period.to));
  doc.setModificationDate(new Date(st.period.to));
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  let page = doc.addPage([595, 842]); // A4 portrait
  let y = 800;
  const newLine = (dy: number) => {
    y -= dy;
    if (y < 50) {
      page = doc.addPage([595, 842]);
      y = 800;
    }
  };
  const text = (s: string, x: number, size = 9, f: PDFFont = font) =>
    page.drawText(latin1(s), { x, y, size, font: f, color: rgb(0, 0, 0) });
  const right = (s: string, xRight: number, size = 9, f: PDFFont = font) =>
    text(s, xRight - f.widthOfTextAtSize(latin1(s), size), size, f);

  text(`Energy statement ${st.year}`, 40, 16, bold);
  newLine(22);
  text(supplier, 40);
  newLine(13);
  text(`Organisation: ${st.org}`, 40);
  newLine(13);
  text(`Period: ${st.period.from} to ${st.period.to}`, 40);
  newLine(22);

  const totals: [string, string][] = [
    ['Energy at the GPUs (kWh)', kwh(st.itKwh)],
    ['of which measured (kWh)', kwh(st.measuredKwh)],
    ['Energy with facility overhead (kWh)', kwh(st.facilityKwh)],
    ['PUE', ratio(st.pue)],
    ['Renewable share', st.renewableShare === null ? 'none declared' : ratio(st.renewableShare)],
    ['Emissions (kg CO2e)', kwh(st.co2Kg)],
  ];
  for (const [label, v] of totals) {
    text(label, 40, 10, bold);
    right(v, 400, 10);
    newLine(14);
  }
  newLine(10);

  const cols: [string, number][] = [
    ['Site', 40],
    ['IT kWh', 250],
    ['Facility kWh', 360],
    ['PUE', 420],
    ['kg CO2e', 540],
  ];
  for (const [h, x] of cols) {
    if (x === 40) text(h, x, 9, bold);
    else right(h, x, 9, bold);
  }
  newLine(15);
  for (const s of st.bySite) {
    const pue = s.itKwh > 0 ? Math.round((s.facilityKwh / s.itKwh) * 1000) / 1000 : null;
    const cells = [s.site, kwh(s.itKwh), kwh(s.facilityKwh), ratio(pue), kwh(s.co2Kg)];
    cells.forEach((c, i) => {
      const [, x] = cols[i]!;
      if (i === 0) text(c, x);
      else right(c, x);
    });
    newLine(13);
  }
  if (st.bySite.length === 0) {
    text('No metered GPU time in the period.', 40);
    newLine(13);
  }
  newLine(8);
  if (st.monthsWithoutFactors.length > 0) {
    text('Counted at PUE 1 and without CO2 (no energy factors set for the site and month):', 40);
    newLine(13);
    // A line per few site/month pairs, so a long list wraps.
    for (let i = 0; i < st.monthsWithoutFactors.length; i += 6) {
      text(st.monthsWithoutFactors.slice(i, i + 6).join(', '), 52);
      newLine(13);
    }
  }
  text(`Power model: ${st.powerModel}`, 40, 7);
  newLine(11);
  text(
    "kWh at the GPUs: measured where the driver measured them, else metered allocation time x the power model; facility kWh: x each site's PUE;",
    40,
    7,
  );
  newLine(11);
  text("CO2e: facility kWh x each site's grid factor of each month, as the operator set them with their source.", 40, 7);
  return doc.save({ useObjectStreams: false });
}
