/**
 * gigafab energy statement: an organisation's yearly energy statement (GET
 * /v1/orgs/{org}/energy-statement), printed, or as the server's PDF with --pdf FILE
 * (GET /v1/orgs/{org}/energy-statement/pdf).
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { EnergyStatement } from '../../model/energy.js';
import { examples, makeCtx, type Runtime } from '../context.js';
import { renderKeyValues, renderTable } from '../output.js';

const path = (org: string, rest = '') => `/v1/orgs/${encodeURIComponent(org)}/energy-statement${rest}`;

function renderStatement(st: EnergyStatement): string {
  const head = renderKeyValues([
    ['Organisation', st.org],
    ['Year', `${st.year} (${st.period.from} – ${st.period.to})`],
    [
      'Energy',
      // A server before measured energy leaves measuredKwh out.
      `${st.itKwh.toFixed(6)} kWh at the GPUs${typeof st.measuredKwh === 'number' ? ` (${st.measuredKwh.toFixed(6)} measured)` : ''}, ${st.facilityKwh.toFixed(6)} kWh with PUE`,
    ],
    ['PUE', st.pue === null ? 'n/a (no energy)' : st.pue.toFixed(3)],
    ['Renewable share', st.renewableShare === null ? 'none declared' : st.renewableShare.toFixed(3)],
    ['CO₂', `${st.co2Kg.toFixed(6)} kg CO₂e`],
  ]);
  const sites = renderTable(
    ['site', 'it kwh', 'facility kwh', 'kg co2e'],
    st.bySite.map((s) => [s.site, s.itKwh.toFixed(6), s.facilityKwh.toFixed(6), s.co2Kg.toFixed(6)]),
    { alignRight: [1, 2, 3] },
  );
  const missing =
    st.monthsWithoutFactors.length > 0
      ? `No energy factors (PUE 1, no CO₂ counted): ${st.monthsWithoutFactors.join(', ')}\n`
      : '';
  return `${head}${st.bySite.length > 0 ? sites : 'no metered GPU time in the period\n'}${missing}`;
}

export function registerEnergy(program: Command, rt: Runtime): void {
  const energy = program
    .command('energy')
    .description("energy and CO₂: an organisation's yearly statement (kWh, PUE, renewable share, CO₂)")
    .addHelpText(
      'after',
      examples(
        'gigafab energy statement --org robotics-gmbh --year 2026',
        'gigafab energy statement --org robotics-gmbh --year 2026 --pdf energy-2026.pdf',
      ),
    );

  energy
    .command('statement')
    .description("an organisation's yearly energy statement per site (its users, operators); --pdf writes the PDF")
    .requiredOption('--org <org>', 'the organisation')
    .requiredOption('--year <YYYY>', 'the calendar year (the current one: up to now)')
    .option('--pdf <file>', 'write the statement as a PDF to this file instead of printing it')
    .action(async (opts: { org: string; year: string; pdf?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      if (opts.pdf !== undefined) {
        const pdf = await ctx.client.bytes(`${path(opts.org, '/pdf')}?year=${encodeURIComponent(opts.year)}`, 'application/pdf');
        await writeFile(opts.pdf, pdf);
        ctx.note(`wrote ${opts.pdf} (${pdf.length} bytes)`);
        return;
      }
      const { data } = await ctx.client.request<EnergyStatement>('GET', path(opts.org), { query: { year: opts.year } });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(renderStatement(data));
    });
}
