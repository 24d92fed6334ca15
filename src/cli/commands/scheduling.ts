/**
 * gigafab reservation create|list|show|delete, gigafab maintenance create|list|delete,
 * gigafab node down|up, gigafab job checkpoint.
 */
import type { Command } from 'commander';
import type { JobEvent, NodeInfo } from '../../model/schemas.js';
import type { MaintenanceWindowView, Reservation } from '../../model/schemas-scheduling.js';
import { addConstraintOptions } from '../constraint-flags.js';
import { CliError, collect, examples, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { parseDuration, renderKeyValues, renderTable } from '../output.js';

/** parseTime accepts `now`, `+DURATION` (from now: +2h, +1d) or an ISO-8601 instant; returns ISO. */
export function parseTime(value: string, now: number, what: string): string {
  const v = value.trim();
  if (v === 'now') return new Date(now).toISOString();
  if (v.startsWith('+')) {
    try {
      return new Date(now + parseDuration(v.slice(1)) * 1000).toISOString();
    } catch {
      throw new CliError(`invalid ${what} "${value}": use now, +DURATION (e.g. +2h) or an ISO time`);
    }
  }
  const t = Date.parse(v);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(v)) {
    throw new CliError(`invalid ${what} "${value}": use now, +DURATION (e.g. +2h) or an ISO time like 2026-12-01T08:00:00Z`);
  }
  return new Date(t).toISOString();
}

const enc = encodeURIComponent;

function renderReservations(items: readonly Reservation[]): string {
  return renderTable(
    ['ID', 'ORG', 'GPUS', 'SITE', 'START', 'END', 'STATUS', 'HELD ON'],
    items.map((r) => [
      r.id,
      r.org,
      `${r.nodes}×${r.gpusPerNode} ${r.gpuType}`,
      r.site ?? 'any',
      r.start,
      r.end,
      r.status,
      r.held ? `${r.held.site}: ${r.held.nodes.length} node(s)` : '-',
    ]),
  );
}

export function registerReservation(program: Command, rt: Runtime): void {
  const res = program
    .command('reservation')
    .description('advance reservations: GPUs held for an organisation from start to end (operators create them)')
    .addHelpText(
      'after',
      examples('gigafab reservation create --org bund-ki --gpu-type B200 --gpus 64 --site muc1 --start +1h --end +1d'),
    );

  res
    .command('create')
    .description('reserve GPUs for an organisation')
    .requiredOption('--org <org>', 'organisation whose jobs may use the GPUs')
    .requiredOption('--gpu-type <type>', 'GPU type, e.g. B200')
    .requiredOption('--gpus <n>', 'GPUs (above one node: a multiple of the node size)', parseIntArg(1, 1_000_000))
    .option('--site <site>', 'only in this site')
    .requiredOption('--start <time>', 'now, +DURATION (e.g. +2h) or an ISO time')
    .requiredOption('--end <time>', 'now, +DURATION or an ISO time')
    .option('--note <text>', 'why (shown in lists and the audit log)')
    .addHelpText(
      'after',
      examples(
        'gigafab reservation create --org bund-ki --gpu-type B200 --gpus 64 --site muc1 --start 2026-12-01T08:00:00Z --end 2026-12-08T08:00:00Z',
        'gigafab reservation create --org tum-lab --gpu-type B200 --gpus 8 --start now --end +12h',
      ),
    )
    .action(
      async (
        opts: { org: string; gpuType: string; gpus: number; site?: string; start: string; end: string; note?: string },
        cmd: Command,
      ) => {
        const ctx = await makeCtx(cmd, rt);
        const body = {
          org: opts.org,
          gpuType: opts.gpuType,
          gpus: opts.gpus,
          ...(opts.site ? { site: opts.site } : {}),
          start: parseTime(opts.start, ctx.now(), '--start'),
          end: parseTime(opts.end, ctx.now(), '--end'),
          ...(opts.note ? { note: opts.note } : {}),
        };
        const r = (await ctx.client.request<Reservation>('POST', '/v1/reservations', { body })).data;
        if (ctx.json) ctx.printJson(r);
        else ctx.out(`reservation ${r.id} created: ${r.gpus} ${r.gpuType} for ${r.org} from ${r.start} to ${r.end}`);
      },
    );

  res
    .command('list')
    .alias('ls')
    .description('list reservations (tenants see their organisation’s)')
    .option('--org <org>', 'only this organisation (operators)')
    .addHelpText('after', examples('gigafab reservation list', 'gigafab reservation list --org bund-ki -o json'))
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const query = opts.org ? { org: opts.org } : undefined;
      const { items } = (await ctx.client.request<{ items: Reservation[] }>('GET', '/v1/reservations', { query })).data;
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no reservations');
      else ctx.out(renderReservations(items));
    });

  res
    .command('show')
    .description('show a reservation and where the scheduler holds it')
    .argument('<id>', 'reservation id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const r = (await ctx.client.request<Reservation>('GET', `/v1/reservations/${enc(id)}`)).data;
      if (ctx.json) ctx.printJson(r);
      else
        ctx.out(
          renderKeyValues([
            ['ID', r.id],
            ['Org', r.org],
            ['GPUs', `${r.nodes}×${r.gpusPerNode} ${r.gpuType}`],
            ['Site', r.site ?? 'any'],
            ['Window', `${r.start} .. ${r.end} (${r.status})`],
            ['Held on', r.held ? `${r.held.site}: ${r.held.nodes.join(', ')}` : '-'],
            ['Note', r.note ?? ''],
          ]),
        );
    });

  res
    .command('delete')
    .alias('rm')
    .description('delete a reservation (operator)')
    .argument('<id>', 'reservation id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const r = (await ctx.client.request<Reservation>('DELETE', `/v1/reservations/${enc(id)}`)).data;
      if (ctx.json) ctx.printJson(r);
      else ctx.out(`reservation ${r.id} deleted`);
    });
}

export function registerMaintenance(program: Command, rt: Runtime): void {
  const mw = program
    .command('maintenance')
    .description('maintenance windows: backfill keeps jobs that would overlap them off the nodes (operators)');

  mw.command('create')
    .description('schedule maintenance for nodes or a whole site')
    .option('--node <id>', 'a node (repeatable)', collect)
    .option('--site <site>', 'every node of a site')
    .requiredOption('--start <time>', 'now, +DURATION or an ISO time')
    .requiredOption('--end <time>', 'now, +DURATION or an ISO time')
    .requiredOption('--reason <text>', 'why')
    .addHelpText('after', examples('gigafab maintenance create --site muc1 --start +2d --end +2d6h --reason "cooling upgrade"'))
    .action(async (opts: { node?: string[]; site?: string; start: string; end: string; reason: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const body = {
        ...(opts.node ? { nodes: opts.node } : {}),
        ...(opts.site ? { site: opts.site } : {}),
        start: parseTime(opts.start, ctx.now(), '--start'),
        end: parseTime(opts.end, ctx.now(), '--end'),
        reason: opts.reason,
      };
      const m = (await ctx.client.request<MaintenanceWindowView>('POST', '/v1/maintenance-windows', { body })).data;
      if (ctx.json) ctx.printJson(m);
      else ctx.out(`maintenance ${m.id} scheduled: ${m.nodes.length} node(s) from ${m.start} to ${m.end}`);
    });

  mw.command('list')
    .alias('ls')
    .description('list maintenance windows')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items } = (await ctx.client.request<{ items: MaintenanceWindowView[] }>('GET', '/v1/maintenance-windows')).data;
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no maintenance windows');
      else
        ctx.out(
          renderTable(
            ['ID', 'NODES', 'START', 'END', 'REASON'],
            items.map((m) => [m.id, m.site ? `site ${m.site} (${m.nodes.length})` : m.nodes.join(','), m.start, m.end, m.reason]),
          ),
        );
    });

  mw.command('delete')
    .alias('rm')
    .description('cancel a maintenance window')
    .argument('<id>', 'maintenance window id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const m = (await ctx.client.request<MaintenanceWindowView>('DELETE', `/v1/maintenance-windows/${enc(id)}`)).data;
      if (ctx.json) ctx.printJson(m);
      else ctx.out(`maintenance ${m.id} cancelled`);
    });
}

/** registerNodeState adds `node down|up` to the existing `node` command (operators). */
export function registerNodeState(program: Command, rt: Runtime): void {
  const node = program.commands.find((c) => c.name() === 'node');
  if (!node) return;
  for (const [name, state, what] of [
    ['down', 'down', 'mark a node down: its running jobs are requeued or failed (their onNodeFailure)'],
    ['up', 'up', 'return a node to service'],
  ] as const) {
    node
      .command(name)
      .description(what)
      .argument('<id>', 'node id')
      .option('--reason <reason>', 'why (recorded in the job events and the audit log)')
      .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
        const ctx = await makeCtx(cmd, rt);
        const body = { state, ...(opts.reason ? { reason: opts.reason } : {}) };
        const n = (await ctx.client.request<NodeInfo>('PUT', `/v1/nodes/${enc(id)}/state`, { body })).data;
        if (ctx.json) ctx.printJson(n);
        else ctx.out(`node ${n.id} ${n.state}`);
      });
  }
}

/** registerCheckpoint adds `job checkpoint`, and the constraint flags of `job submit`, to the `job` command. */
export function registerCheckpoint(program: Command, rt: Runtime): void {
  const job = program.commands.find((c) => c.name() === 'job');
  if (!job) return;
  const submit = job.commands.find((c) => c.name() === 'submit');
  if (submit) addConstraintOptions(submit);
  job
    .command('checkpoint')
    .description('report a checkpoint of a running job (preemption then loses only later work)')
    .argument('<id>', 'job id')
    .option('--step <n>', 'training step', parseIntArg(0))
    .option('--label <text>', 'where it is, e.g. s3://ckpt/run-7/step-1200')
    .addHelpText('after', examples('gigafab job checkpoint 812 --step 1200 --label s3://ckpt/run-7/step-1200'))
    .action(async (id: string, opts: { step?: number; label?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const body = { ...(opts.step !== undefined ? { step: opts.step } : {}), ...(opts.label ? { label: opts.label } : {}) };
      const e = (await ctx.client.request<JobEvent>('POST', `/v1/jobs/${enc(id)}/checkpoints`, { body })).data;
      if (ctx.json) ctx.printJson(e);
      else ctx.out(`job ${id}: ${e.message}`);
    });
}
