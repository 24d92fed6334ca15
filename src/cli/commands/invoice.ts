/**
 * gigafab invoice list|show|download|verify|run|credit: monthly invoices (GET /v1/invoices, GET
 * /v1/invoices/{id}, its /pdf and /verify; operators: POST /v1/invoices/runs and credit notes).
 * Amounts are EUR cents on the wire, shown as EUR.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  correctionRow,
  type InvoiceRun,
  type InvoiceSummary,
  type InvoiceVerification,
  type IssuedInvoice,
  lentCreditNote,
  lentCreditRow,
  reservationRows,
} from '../../model/invoices.js';
import { euros } from '../../model/money.js';
import { CliError, ExitCode, examples, makeCtx, type Runtime } from '../context.js';
import { renderKeyValues, renderTable } from '../output.js';
import { parseEuros } from './budget.js';

const path = (id: string, rest = '') => `/v1/invoices/${encodeURIComponent(id)}${rest}`;

function renderList(items: InvoiceSummary[]): string {
  if (items.length === 0) return 'no invoices\n';
  return renderTable(
    ['id', 'number', 'org', 'month', 'net eur', 'gross eur', 'credited eur', 'issued'],
    items.map((i) => [
      i.id,
      i.number,
      i.org,
      i.month,
      euros(i.netCents),
      euros(i.grossCents),
      euros(i.creditedCents),
      i.issuedAt,
    ]),
    { alignRight: [4, 5, 6] },
  );
}

function renderInvoice(inv: IssuedInvoice): string {
  const head = renderKeyValues([
    ['Invoice', `${inv.number} (id ${inv.id})`],
    ['Organisation', `${inv.org} (${inv.customer.country}${inv.customer.vatId ? `, VAT id ${inv.customer.vatId}` : ''})`],
    ['Period', `${inv.month} (${inv.period.from} – ${inv.period.to})`],
    ['Issued', inv.issuedAt],
  ]);
  const lines = renderTable(
    ['gpu type', 'class', 'price v.', 'gpu-hours', 'eur/gpu-hour', 'amount eur', 'it kwh', 'facility kwh', 'kg co2e'],
    inv.lines
      .map((l) => [
        l.gpuType,
        l.class,
        String(l.priceVersion),
        l.gpuHours.toFixed(6),
        euros(l.centsPerGpuHour),
        euros(l.amountCents),
        l.itKwh.toFixed(3),
        l.facilityKwh.toFixed(3),
        l.co2Kg.toFixed(3),
      ])
      .concat((inv.reservedCapacity ?? []).flatMap((r) => reservationRows(r, (h) => h.toFixed(6))))
      .concat((inv.lentCredits ?? []).map((c) => lentCreditRow(c, (h) => h.toFixed(6))))
      .concat((inv.corrections ?? []).map(correctionRow)),
    { alignRight: [2, 3, 4, 5, 6, 7, 8] },
  );
  const lapsed = lentCreditNote(inv);
  const totals = renderKeyValues([
    ...(inv.lentCreditCents !== undefined
      ? [['Lent capacity credit', `EUR ${euros(-inv.lentCreditCents)}${lapsed ? ` — ${lapsed}` : ''}`] as [string, string]]
      : []),
    ['Net', `EUR ${euros(inv.netCents)}`],
    [`VAT ${inv.vatRatePercent}%`, `EUR ${euros(inv.vatCents)}${inv.vatNote ? ` — ${inv.vatNote}` : ''}`],
    ['Total', `EUR ${euros(inv.grossCents)}`],
    [
      'Energy',
      `${inv.energy.itKwh} kWh at the GPUs${inv.energy.measuredKwh ? ` (${inv.energy.measuredKwh} measured)` : ''}, ${inv.energy.facilityKwh} kWh with PUE, ${inv.energy.co2Kg} kg CO₂e`,
    ],
    ...inv.creditNotes.map((n): [string, string] => [`Credit note ${n.number}`, `EUR ${euros(n.grossCents)} (${n.reason})`]),
    ['SHA-256', inv.sha256],
  ]);
  return `${head}${lines}${totals}`;
}

export function registerInvoice(program: Command, rt: Runtime): void {
  const invoice = program
    .command('invoice')
    .description('monthly invoices: line items, VAT, kWh and CO₂; immutable once issued, corrected by credit notes')
    .addHelpText(
      'after',
      examples(
        'gigafab invoice list',
        'gigafab invoice show 1',
        'gigafab invoice download 1 --file invoice.pdf',
        'gigafab invoice run --month 2026-11            # operators',
      ),
    );

  invoice
    .command('list')
    .description("issued invoices (tenants: their organisation's)")
    .option('--org <org>', 'only this organisation (operators)')
    .option('--month <YYYY-MM>', 'only this month')
    .action(async (opts: { org?: string; month?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: InvoiceSummary[] }>('GET', '/v1/invoices', {
        query: { org: opts.org, month: opts.month },
      });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(renderList(data.items));
    });

  invoice
    .command('show')
    .description('an invoice with its lines, VAT, energy and credit notes')
    .argument('<id>', 'invoice id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<IssuedInvoice>('GET', path(id));
      if (ctx.json) ctx.printJson(data);
      else ctx.out(renderInvoice(data));
    });

  invoice
    .command('download')
    .description('the invoice as a PDF')
    .argument('<id>', 'invoice id')
    .option('--file <path>', 'where to write it (default: <number>.pdf)')
    .action(async (id: string, opts: { file?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<IssuedInvoice>('GET', path(id));
      const pdf = await ctx.client.bytes(path(id, '/pdf'), 'application/pdf');
      const file = opts.file ?? `${data.number}.pdf`;
      await writeFile(file, pdf);
      ctx.note(`wrote ${file} (${pdf.length} bytes)`);
    });

  invoice
    .command('verify')
    .description('does the stored invoice still hash to what its audit record holds? (exit 4 if not)')
    .argument('<id>', 'invoice id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<InvoiceVerification>('GET', path(id, '/verify'));
      if (ctx.json) ctx.printJson(data);
      else
        ctx.out(
          data.ok ? `OK: invoice ${id} matches audit record ${data.auditId} (sha256 ${data.sha256})` : `FAILED: ${data.problem}`,
        );
      if (!data.ok) throw new ExitCode(4);
    });

  invoice
    .command('run')
    .description('issue the invoices of a month that has ended (operators); running it again issues nothing new')
    .requiredOption('--month <YYYY-MM>', 'the calendar month (UTC)')
    .action(async (opts: { month: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<InvoiceRun>('POST', '/v1/invoices/runs', { body: { month: opts.month } });
      if (ctx.json) ctx.printJson(data);
      else
        ctx.out(
          `${data.issued.length} invoice(s) issued for ${data.month}, ${data.alreadyIssued} issued before\n${renderList(data.issued)}`,
        );
    });

  invoice
    .command('credit')
    .description('issue a credit note against an invoice (operators)')
    .argument('<id>', 'invoice id')
    .requiredOption('--amount <eur>', 'net EUR to credit, e.g. 12.50')
    .requiredOption('--reason <text>', 'why')
    .action(async (id: string, opts: { amount: string; reason: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      let netCents: number;
      try {
        netCents = parseEuros(opts.amount);
      } catch {
        throw new CliError(`--amount is an amount in EUR such as 12 or 12.50, not ${opts.amount}`);
      }
      const { data } = await ctx.client.request<IssuedInvoice['creditNotes'][number]>('POST', path(id, '/credit-notes'), {
        body: { netCents, reason: opts.reason },
      });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(`credit note ${data.number}: EUR ${euros(data.grossCents)} incl. VAT against invoice ${id}`);
    });
}
