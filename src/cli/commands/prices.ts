/**
 * gigafab prices show|list|set: the price book (GET /v1/prices, GET /v1/price-versions, POST
 * /v1/price-versions). Prices are EUR cents per GPU-hour on the wire; shown as EUR.
 * gigafab prices reserve|reservations: reserved-capacity commitments (PUT and GET
 * /v1/reserved-capacity), EUR cents per GPU per month on the wire and on the command line.
 */
import type { Command } from 'commander';
import { euros } from '../../model/money.js';
import type { PriceVersion } from '../../model/prices.js';
import type { ReservedCapacity, ReservedCapacityList } from '../../model/reserved-capacity.js';
import { CliError, collect, examples, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { renderTable } from '../output.js';

const PRICE = /^([^:=\s]+):([a-z-]+)=(\d+)$/;

/** parsePrice: `B200:on-demand=450` → a price of 450 cents per GPU-hour. */
export function parsePrice(s: string): { gpuType: string; class: string; centsPerGpuHour: number } {
  const m = PRICE.exec(s);
  if (!m) throw new CliError(`--price takes TYPE:CLASS=CENTS per GPU-hour, e.g. B200:on-demand=450, not ${s}`);
  return { gpuType: m[1] ?? '', class: m[2] ?? '', centsPerGpuHour: Number(m[3]) };
}

function renderVersion(v: PriceVersion): string {
  const table = renderTable(
    ['gpu type', 'class', 'eur per gpu-hour'],
    v.prices.map((p) => [p.gpuType, p.class, euros(p.centsPerGpuHour)]),
    { alignRight: [2] },
  );
  return `price version ${v.version}, in effect from ${v.effectiveFrom}, billed per ${v.granularity}\n${table}`;
}

function renderCommitments(items: readonly ReservedCapacity[]): string {
  if (items.length === 0) return 'no reserved capacity\n';
  return renderTable(
    ['org', 'month', 'gpu type', 'gpus', 'eur per gpu-month', 'eur per month', 'set by', 'set at'],
    items.map((c) => [
      c.org,
      c.month,
      c.gpuType,
      String(c.gpus),
      euros(c.centsPerGpuMonth),
      euros(c.gpus * c.centsPerGpuMonth),
      c.updatedBy,
      c.updatedAt,
    ]),
    { alignRight: [3, 4, 5] },
  );
}

export function registerPrices(program: Command, rt: Runtime): void {
  const prices = program
    .command('prices')
    .description('the price book: EUR per GPU-hour by GPU type and class (operators set versions)')
    .addHelpText(
      'after',
      examples(
        'gigafab prices show',
        'gigafab prices set --price B200:on-demand=450 --price B200:preemptible=180 --granularity minute',
        'gigafab prices reserve public-anchor --gpu-type B200 --gpus 64 --month 2027-01 --price 180000',
        'gigafab prices reservations --month 2027-01',
      ),
    );

  prices
    .command('show')
    .description('the prices in effect now, or at --at')
    .option('--at <instant>', 'ISO 8601 instant')
    .action(async (opts: { at?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<PriceVersion>('GET', '/v1/prices', { query: { at: opts.at } });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(renderVersion(data));
    });

  prices
    .command('list')
    .description('every price version, including those not yet in effect')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: PriceVersion[] }>('GET', '/v1/price-versions');
      if (ctx.json) ctx.printJson(data);
      else ctx.out(data.items.map(renderVersion).join('\n') || 'no price versions\n');
    });

  prices
    .command('set')
    .description('add a price version (operators); it takes effect at --from (default now), never in the past')
    .requiredOption('--price <TYPE:CLASS=CENTS>', 'EUR cents per GPU-hour, e.g. B200:on-demand=450 (repeatable)', collect)
    .option('--granularity <unit>', 'second or minute: run time is rounded up to it', 'second')
    .option('--from <instant>', 'ISO 8601 instant the version takes effect (default now)')
    .action(async (opts: { price: string[]; granularity: string; from?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const body = { effectiveFrom: opts.from, granularity: opts.granularity, prices: opts.price.map(parsePrice) };
      const { data } = await ctx.client.request<PriceVersion>('POST', '/v1/price-versions', { body });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(renderVersion(data));
    });

  prices
    .command('reserve')
    .description(
      "commit ORG to GPUs of a type for a month at a price per GPU per month (operators); replaces that org, type and month's commitment",
    )
    .argument('<org>', 'the organisation')
    .requiredOption('--gpu-type <type>', 'a GPU type of the fleet')
    .requiredOption('--gpus <n>', 'whole GPUs reserved for the whole month', parseIntArg(0))
    .requiredOption('--month <YYYY-MM>', 'the calendar month (UTC); not one already invoiced')
    .requiredOption('--price <cents>', 'EUR cents per GPU per month, e.g. 180000 for EUR 1800', parseIntArg(0))
    .action(async (org: string, opts: { gpuType: string; gpus: number; month: string; price: number }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const body = { org, gpuType: opts.gpuType, month: opts.month, gpus: opts.gpus, centsPerGpuMonth: opts.price };
      const { data } = await ctx.client.request<ReservedCapacity>('PUT', '/v1/reserved-capacity', { body });
      if (ctx.json) ctx.printJson(data);
      else
        ctx.out(
          `reserved ${data.gpus} ${data.gpuType} for ${data.org} in ${data.month} at EUR ${euros(data.centsPerGpuMonth)} per GPU-month (EUR ${euros(data.gpus * data.centsPerGpuMonth)})\n`,
        );
    });

  prices
    .command('reservations')
    .description("reserved-capacity commitments: your organisation's (operators: all, or --org's)")
    .option('--org <org>', 'one organisation')
    .option('--month <YYYY-MM>', 'one calendar month')
    .action(async (opts: { org?: string; month?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<ReservedCapacityList>('GET', '/v1/reserved-capacity', {
        query: { org: opts.org, month: opts.month },
      });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(renderCommitments(data.items));
    });
}
