/**
 * gigafab prices show|list|set: the price book (GET /v1/prices, GET /v1/price-versions, POST
 * /v1/price-versions). Prices are EUR cents per GPU-hour on the wire; shown as EUR.
 */
import type { Command } from 'commander';
import { euros } from '../../model/money.js';
import type { PriceVersion } from '../../model/prices.js';
import { CliError, collect, examples, makeCtx, type Runtime } from '../context.js';
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

export function registerPrices(program: Command, rt: Runtime): void {
  const prices = program
    .command('prices')
    .description('the price book: EUR per GPU-hour by GPU type and class (operators set versions)')
    .addHelpText(
      'after',
      examples(
        'gigafab prices show',
        'gigafab prices set --price B200:on-demand=450 --price B200:preemptible=180 --granularity minute',
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
}
