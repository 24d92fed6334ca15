/**
 * gigafab project create|list|show
 */
import type { Command } from 'commander';
import type { Project } from '../../model/schemas.js';
import type { Quota } from '../client.js';
import { examples, fetchList, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { renderKeyValues, renderTable } from '../output.js';

/** `B200 16/64, RTX-PRO-6000 0/8` */
export function quotaSummary(quotas: readonly Quota[]): string {
  return quotas.map((q) => `${q.gpuType} ${q.used}/${q.gpus}`).join(', ');
}

function milliRound(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function renderQuotaTable(quotas: readonly Quota[]): string {
  return renderTable(
    ['GPU TYPE', 'USED', 'LIMIT', 'FREE'],
    // GPU-equivalents (fractional GPUs): at most three decimals, never a rounding tail.
    quotas.map((q) => [q.gpuType, milliRound(q.used), q.gpus, milliRound(Math.max(0, q.gpus - q.used))]),
    { alignRight: [1, 2, 3] },
  );
}

export function renderProject(p: Project): string {
  const head = renderKeyValues([
    ['ID', p.id],
    ['Name', p.name],
    ['Org', p.org],
    ['Created', p.createdAt],
  ]);
  if (p.quotas.length === 0) return `${head}Quotas:   none (jobs cannot start until an operator sets one)\n`;
  const table = renderQuotaTable(p.quotas)
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
  return `${head}Quotas:\n${table}`;
}

export function registerProject(program: Command, rt: Runtime): void {
  const project = program
    .command('project')
    .description('projects: where jobs run and GPU quotas apply')
    .addHelpText('after', examples('gigafab project create robotics --org robotics-gmbh', 'gigafab project show robotics'));

  project
    .command('create')
    .description('create a project in an organisation')
    .argument('<id>', 'project id (globally unique): lower-case letters, digits and dashes')
    .requiredOption('--org <org>', 'organisation the project belongs to')
    .option('--name <name>', 'display name (default: the id)')
    .addHelpText('after', examples('gigafab project create robotics --org robotics-gmbh --name "Robotics R&D"'))
    .action(async (id: string, opts: { org: string; name?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const p = await ctx.client.createProject(opts.org, opts.name ? { id, name: opts.name } : { id });
      if (ctx.json) ctx.printJson(p);
      else ctx.out(`project ${p.id} created in org ${p.org}`);
    });

  project
    .command('list')
    .alias('ls')
    .description('list projects you can see')
    .option('--limit <n>', 'page size', parseIntArg(1, 1000))
    .option('--all', 'follow pages until the end')
    .addHelpText('after', examples('gigafab project list', 'gigafab project list -o json'))
    .action(async (opts: { limit?: number; all?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items, more } = await fetchList<Project>(ctx.client, opts.all, (cursor) =>
        ctx.client.listProjects({ limit: opts.limit, cursor }),
      );
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no projects found');
      else
        ctx.out(
          renderTable(
            ['ID', 'ORG', 'NAME', 'QUOTAS (USED/LIMIT)'],
            items.map((p) => [p.id, p.org, p.name, quotaSummary(p.quotas)]),
          ),
        );
      if (more) ctx.note('(more projects exist; use --all)');
    });

  project
    .command('show')
    .alias('get')
    .description('show a project and its GPU quotas (used/limit)')
    .argument('<id>', 'project id')
    .addHelpText('after', examples('gigafab project show robotics'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const p = await ctx.client.getProject(id);
      if (ctx.json) ctx.printJson(p);
      else ctx.out(renderProject(p));
    });
}
