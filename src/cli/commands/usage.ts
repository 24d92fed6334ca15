/**
 * gigafab usage: metered GPU-seconds from GET /v1/usage, as a table with a bar per row (share of
 * the largest), JSON, or CSV (the same CSV the API writes, from model/usage.ts).
 */
import type { Command } from 'commander';
import { euros } from '../../model/money.js';
import type { UsageReport } from '../../model/usage.js';
import type { FocusExport } from '../../model/usage-focus.js';
import { CliError, examples, makeCtx, type Runtime } from '../context.js';
import { renderTable } from '../output.js';

const BAR = 20;

/** bar: a horizontal bar of up to BAR cells, in eighths, for `value` against `max`. */
export function bar(value: number, max: number): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * BAR * 8));
  const partial = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8] ?? '';
  return '█'.repeat(Math.floor(eighths / 8)) + partial;
}

const hours = (h: number) => (h >= 100 ? h.toFixed(0) : h >= 1 ? h.toFixed(2) : h.toFixed(4));

/** cost: EUR, marked where part of the time had no price (it is not in the sum). */
const cost = (cents: number, unpricedGpuSeconds: number) => `${euros(cents)}${unpricedGpuSeconds > 0 ? ' *' : ''}`;

/** kwh: energy at the GPUs, 3 decimals; a server before energy in reports leaves it out. */
const kwh = (x: number | undefined) => (typeof x === 'number' ? x.toFixed(3) : '–');

/** renderUsage: the report's groups with GPU-hours, a bar, GPU-seconds, segments, cost and kWh, then the total. */
export function renderUsage(r: UsageReport): string {
  const max = Math.max(0, ...r.items.map((i) => i.gpuSeconds));
  const rows = r.items.map((i) => [
    ...r.groupBy.map((g) => i[g]),
    hours(i.gpuHours),
    bar(i.gpuSeconds, max),
    i.gpuSeconds,
    i.openSegments > 0 ? `${i.segments} (${i.openSegments} running)` : i.segments,
    cost(i.cost, i.unpricedGpuSeconds),
    kwh(i.itKwh),
    ...(r.reservedCapacity ? [euros(i.netCost ?? i.cost)] : []),
  ]);
  const n = r.groupBy.length;
  const net = r.reservedCapacity ? ['net eur'] : [];
  const table = renderTable([...r.groupBy, 'gpu-hours', '', 'gpu-seconds', 'segments', 'eur', 'kwh', ...net], rows, {
    alignRight: r.reservedCapacity ? [n, n + 2, n + 4, n + 5, n + 6] : [n, n + 2, n + 4, n + 5],
  });
  const unpriced =
    r.total.unpricedGpuSeconds > 0
      ? `* ${r.total.unpricedGpuSeconds} GPU-seconds had no price in effect and are not in the cost\n`
      : '';
  const energy =
    typeof r.total.itKwh === 'number' ? `, ${kwh(r.total.itKwh)} kWh at the GPUs (${kwh(r.total.measuredKwh)} measured)` : '';
  // Reserved capacity: each commitment's fee for the period and what it covered; `net eur` is the cost less the covered time.
  const reserved = (r.reservedCapacity ?? [])
    .map(
      (c) =>
        `reserved: ${c.org} ${c.gpus} × ${c.gpuType} in ${c.month}, EUR ${euros(c.amountCents)} for ${c.from} to ${c.to}, covered ${hours(c.coveredGpuSeconds / 3600)} GPU-hours\n`,
    )
    .join('');
  const netTotal = r.total.netCost === undefined ? '' : ` (net of reserved capacity EUR ${euros(r.total.netCost)})`;
  return `${table}total: ${hours(r.total.gpuHours)} GPU-hours (${r.total.gpuSeconds} GPU-seconds), EUR ${euros(r.total.cost)}${netTotal}${energy}, from ${r.from} to ${r.to}\n${unpriced}${reserved}`;
}

export function registerUsage(program: Command, rt: Runtime): void {
  program
    .command('usage')
    .description('metered GPU usage in a period, grouped (tenants: their organisation; operators: all)')
    .option('--from <date>', 'start, ISO date or date-time (inclusive; default 30 days before --to)')
    .option('--to <date>', 'end (exclusive; default the end of today, UTC)')
    .option('--group-by <dims>', 'comma-separated: org, project, gpuType, site, class, day (default project)')
    .option('--org <org>', 'only this organisation (operators)')
    .option('--project <project>', 'only this project')
    .option('--csv', 'write CSV instead of a table')
    .option(
      '--focus',
      'write the FinOps FOCUS export (GET /v1/usage/focus): CSV, or JSON with -o json; --group-by does not apply',
    )
    .addHelpText(
      'after',
      examples(
        'gigafab usage',
        'gigafab usage --from 2026-11-01 --to 2026-12-01 --group-by project,day',
        'gigafab usage --group-by class --csv > usage.csv',
        'gigafab usage --focus --from 2026-11-01 --to 2026-12-01 > focus.csv',
      ),
    )
    .action(
      async (
        opts: { from?: string; to?: string; groupBy?: string; org?: string; project?: string; csv?: boolean; focus?: boolean },
        cmd: Command,
      ) => {
        const ctx = await makeCtx(cmd, rt);
        if (opts.focus) {
          if (opts.groupBy !== undefined)
            throw new CliError('--focus has one row per org, project, GPU type, site, class and day; drop --group-by');
          const { data } = await ctx.client.request<FocusExport>('GET', '/v1/usage/focus', {
            query: { from: opts.from, to: opts.to, org: opts.org, project: opts.project },
          });
          if (ctx.json) return ctx.printJson(data);
          return rt.io.out((await import('../../model/usage-focus.js')).focusCsv(data));
        }
        const { data } = await ctx.client.request<UsageReport>('GET', '/v1/usage', {
          query: { from: opts.from, to: opts.to, groupBy: opts.groupBy, org: opts.org, project: opts.project },
        });
        // The CSV writer pulls in the usage schemas (zod); only --csv pays for it.
        if (opts.csv) return rt.io.out((await import('../../model/usage.js')).usageCsv(data));
        if (ctx.json) return ctx.printJson(data);
        if (data.items.length === 0) return ctx.note(`no GPU usage from ${data.from} to ${data.to}`);
        ctx.out(renderUsage(data));
      },
    );
}
