/**
 * gigafab fleet show
 */
import type { Command } from 'commander';
import type { FleetSummary } from '../../model/schemas.js';
import { examples, makeCtx, type Runtime } from '../context.js';
import { type Cell, renderTable } from '../output.js';

function pct(part: number, total: number): string {
  return total > 0 ? `${Math.round((part / total) * 100)}%` : '-';
}

export function renderFleet(f: FleetSummary): string {
  const head = `fleet ${f.name}: ${f.nodes} nodes, ${f.totalGpus} GPUs, ${f.allocatedGpus} allocated (${pct(f.allocatedGpus, f.totalGpus)})\n\n`;
  const rows: Cell[][] = [];
  for (const site of f.sites) {
    for (const g of site.gpus) {
      rows.push([site.id, `${site.city}, ${site.country}`, g.gpuType, g.total, g.allocated, g.free, pct(g.allocated, g.total)]);
    }
  }
  const total = f.sites.flatMap((s) => s.gpus).reduce((sum, g) => sum + g.free, 0);
  rows.push(['TOTAL', '', '', f.totalGpus, f.allocatedGpus, total, pct(f.allocatedGpus, f.totalGpus)]);
  return (
    head +
    renderTable(['SITE', 'LOCATION', 'GPU TYPE', 'TOTAL', 'ALLOCATED', 'FREE', 'USED'], rows, {
      alignRight: [3, 4, 5, 6],
    })
  );
}

export function registerFleet(program: Command, rt: Runtime): void {
  const fleet = program.command('fleet').description('the GPU fleet');
  fleet
    .command('show')
    .description('GPU totals, allocated and free per site and GPU type')
    .addHelpText('after', examples('gigafab fleet show', 'gigafab fleet show -o json'))
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const f = await ctx.client.fleet();
      if (ctx.json) ctx.printJson(f);
      else ctx.out(renderFleet(f));
    });
}
