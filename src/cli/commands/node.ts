/**
 * gigafab node list|drain|undrain|events
 */
import { type Command, Option } from 'commander';
import type { NodeEventInfo, NodeInfo } from '../../model/schemas.js';
import { examples, fetchList, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { renderTable } from '../output.js';

export function renderNodes(nodes: readonly NodeInfo[]): string {
  return renderTable(
    ['ID', 'SITE', 'UNIT', 'GPU TYPE', 'FREE/GPUS', 'MIG GPUS', 'STATE', 'JOBS'],
    nodes.map((n) => [
      n.id,
      n.site,
      n.unit,
      n.gpuType,
      `${n.freeGpus.length}/${n.gpus}`,
      (n.migGpus ?? []).join(',') || '-',
      n.state,
      n.jobs.length > 3 ? `${n.jobs.slice(0, 3).join(',')} +${n.jobs.length - 3}` : n.jobs.join(','),
    ]),
    { alignRight: [4] },
  );
}

export function registerNode(program: Command, rt: Runtime): void {
  const node = program.command('node').description('fleet nodes (drain/undrain need the operator role)');

  node
    .command('list')
    .alias('ls')
    .description('list nodes')
    .option('--site <site>', 'only nodes in this site')
    .addOption(new Option('--state <state>', 'only nodes in this state').choices(['up', 'draining', 'down']))
    .option('--gpu-type <type>', 'only nodes with this GPU type')
    .option('--limit <n>', 'page size', parseIntArg(1, 1000))
    .option('--all', 'follow pages until the end')
    .addHelpText('after', examples('gigafab node list --site muc1 --limit 20', 'gigafab node list --state draining --all'))
    .action(async (opts: { site?: string; state?: string; gpuType?: string; limit?: number; all?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items, more } = await fetchList<NodeInfo>(ctx.client, opts.all, (cursor) =>
        ctx.client.listNodes({ site: opts.site, state: opts.state, gpuType: opts.gpuType, limit: opts.limit, cursor }),
      );
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no nodes found');
      else ctx.out(renderNodes(items));
      if (more) ctx.note('(more nodes exist; use --all or a larger --limit)');
    });

  node
    .command('drain')
    .description('stop placing new jobs on a node (running jobs keep running)')
    .argument('<id>', 'node id')
    .option('--reason <reason>', 'why (recorded in the audit log)')
    .addHelpText('after', examples('gigafab node drain muc1-b200-0007 --reason "NVLink errors"'))
    .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const n = await ctx.client.drainNode(id, opts.reason);
      if (ctx.json) ctx.printJson(n);
      else ctx.out(`node ${n.id} ${n.state}${n.jobs.length > 0 ? ` (${n.jobs.length} jobs still running)` : ''}`);
    });

  node
    .command('undrain')
    .description('make a drained node schedulable again')
    .argument('<id>', 'node id')
    .addHelpText('after', examples('gigafab node undrain muc1-b200-0007'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const n = await ctx.client.undrainNode(id);
      if (ctx.json) ctx.printJson(n);
      else ctx.out(`node ${n.id} ${n.state}`);
    });

  node
    .command('events')
    .description("a node's event log: GPU re-partitions (whole <-> MIG) and state changes, oldest first (operators)")
    .argument('<id>', 'node id')
    .option('--limit <n>', 'page size', parseIntArg(1, 1000))
    .option('--all', 'follow pages until the end')
    .addHelpText('after', examples('gigafab node events muc1-b200-0007', 'gigafab node events muc1-b200-0007 --all -o json'))
    .action(async (id: string, opts: { limit?: number; all?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items, more } = await fetchList<NodeEventInfo>(ctx.client, opts.all, (cursor) =>
        ctx.client.listNodeEvents(id, { limit: opts.limit, cursor }),
      );
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note(`no events for node ${id}`);
      else ctx.out(renderNodeEvents(items));
      if (more) ctx.note('(more events exist; use --all or a larger --limit)');
    });
}

/** renderNodeEvents: one row per event; a re-partition shows its GPU and from -> to. */
export function renderNodeEvents(events: readonly NodeEventInfo[]): string {
  return renderTable(
    ['AT', 'TYPE', 'REASON', 'DETAIL', 'ACTOR'],
    events.map((e) => [e.at, e.type, e.reason ?? '-', eventDetail(e), e.actor]),
  );
}

function eventDetail(e: NodeEventInfo): string {
  const d = e.data ?? {};
  if (e.type === 'gpu_repartitioned')
    return `GPU ${String(d.gpu)}: ${String(d.from)} -> ${String(d.to)} for job ${String(d.job)}`;
  if (e.type === 'state_changed') return `${String(d.from)} -> ${String(d.to)} (${String(d.source)})`;
  return e.message;
}
