/**
 * gigafab job submit|list|show|events|cancel
 */
import { type Command, Option } from 'commander';
import type { JobEnergy } from '../../model/energy.js';
import { shareSentence } from '../../model/gpu-sharing.js';
import { JOB_STATES, PRIORITY_CLASSES, TERMINAL_STATES } from '../../model/job.js';
import type { Job, JobEvent } from '../../model/schemas.js';
import { isJsonLinesName, looksLikeJsonLines, parseBulkSpecs, runBulk } from '../bulk-submit.js';
import type { GigafabClient, JobListQuery } from '../client.js';
import {
  CliError,
  collect,
  ExitCode,
  examples,
  fetchList,
  makeCtx,
  parseDurationArg,
  parseIntArg,
  type Runtime,
} from '../context.js';
import { cycleText } from '../cycle-text.js';
import { describeEstimate, estimateJob } from '../estimate.js';
import { type JobFlags, mergeJobSpec, parseJobFileText, readJobFileText, validateJobSpec } from '../jobspec.js';
import { age, compressRanges, formatDuration, renderKeyValues, renderTable, timestamp } from '../output.js';
import { DEFAULT_TIME_SCALE } from './server.js';

/** Exit code of `job submit --wait` when the job ends in any state but succeeded. */
export const JOB_NOT_SUCCEEDED_EXIT = 3;

export function gpuSummary(job: Job): string {
  const type = job.placement?.gpuType ?? job.spec.gpuType;
  if (job.spec.migProfile) return `MIG ${job.spec.migProfile} ${type}`;
  if (job.spec.gpuFraction) return `${job.spec.gpuFraction}m ${type}`;
  return `${job.spec.nodes}×${job.spec.gpusPerNode} ${type}`;
}

/** shareSummary: the slice of one GPU a job asks for (GPUs row of `job show`), or null for whole GPUs. */
function shareSummary(job: Job): string | null {
  return shareSentence(job.spec, job.placement?.gpuType ?? job.spec.gpuType);
}

function runtimeOf(job: Job): string | null {
  if (!job.startedAt || !job.finishedAt) return null;
  return formatDuration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000);
}

/**
 * runtimeWithSimulation: the wall-clock runtime, and for a job with a simulated duration what that was, so
 * `Runtime: 10s` for a `--sim-duration 10m` job does not look like a bug.
 */
export function runtimeWithSimulation(job: Job): string | null {
  const wall = runtimeOf(job);
  const simulated = job.spec.simulation?.durationSeconds;
  if (!wall || simulated === undefined) return wall;
  return `${wall} wall clock (simulated ${formatDuration(simulated)}; simulated time runs faster, see gigafab server --time-scale)`;
}

/** simDurationNote: what `--sim-duration` will take in wall-clock time on a server at the default time scale. */
export function simDurationNote(seconds: number): string {
  return `note: --sim-duration ${formatDuration(seconds)} is simulated time: at the default --time-scale ${DEFAULT_TIME_SCALE} the job runs for about ${formatDuration(Math.max(1, seconds / DEFAULT_TIME_SCALE))} of wall-clock time`;
}

/** placementSummary: `muc1: muc1-b200-0001, muc1-b200-0002 +2 more`. */
export function placementSummary(job: Job, maxNodes = 2): string {
  if (!job.placement) return '-';
  const nodes = job.placement.nodes.map((n) => n.node);
  const shown = nodes.slice(0, maxNodes).join(', ');
  const more = nodes.length > maxNodes ? ` +${nodes.length - maxNodes} more` : '';
  return `${job.placement.site}: ${shown}${more}`;
}

/** waitingText: why a queued job waits, without the server's leading `waiting:`. */
export function waitingText(job: Job): string {
  const msg = job.pendingReason?.message ?? 'waiting to be scheduled';
  return msg.replace(/^waiting:\s*/i, '');
}

/** detailSummary: the REASON/PLACEMENT column of `job list`. */
export function detailSummary(job: Job): string {
  if (job.state === 'queued') return `waiting: ${waitingText(job)}`;
  if (job.state === 'running') return placementSummary(job);
  const parts: string[] = [];
  if (job.exitCode !== null) parts.push(`exit ${job.exitCode}`);
  const rt = runtimeOf(job);
  if (rt) parts.push(`after ${rt}`);
  return parts.join(' ') || job.state;
}

export function renderJobTable(jobs: Job[], now: number): string {
  return renderTable(
    ['ID', 'NAME', 'PROJECT', 'STATE', 'GPUS', 'AGE', 'REASON/PLACEMENT'],
    jobs.map((j) => [j.id, j.name, j.project, j.state, gpuSummary(j), age(j.createdAt, now), detailSummary(j)]),
    { maxCellWidth: 80 },
  );
}

/** energyLine: the job's kWh and CO₂ (GET /v1/jobs/{id}/energy), or nothing from a server without it or before the job ran. */
async function energyLine(ctx: Awaited<ReturnType<typeof makeCtx>>, id: string): Promise<string> {
  try {
    const { data } = await ctx.client.request<JobEnergy>('GET', `/v1/jobs/${encodeURIComponent(id)}/energy`);
    if (data.segments.length === 0) return '';
    const noFactors =
      data.monthsWithoutFactors.length > 0 ? ` (no PUE/grid factor for ${data.monthsWithoutFactors.join(', ')})` : '';
    // A server before measured energy leaves the field out.
    const measured =
      typeof data.measuredKwh === 'number'
        ? `\n              of which measured: ${data.measuredKwh.toFixed(3)} kWh (${data.measuredSegments} of ${data.segments.length} run segment(s), as the driver reported)${typeof data.modelKwh === 'number' ? `; the power model says ${data.modelKwh.toFixed(3)} kWh` : ''}`
        : '';
    return `Energy:       ${data.itKwh.toFixed(3)} kWh at the GPUs, ${data.facilityKwh.toFixed(3)} kWh with PUE, ${data.co2Kg.toFixed(3)} kg CO₂e${noFactors}${measured}\n`;
  } catch {
    return '';
  }
}

export function renderJobDetails(job: Job, now: number): string {
  const s = job.spec;
  const lines = renderKeyValues([
    ['ID', job.id],
    ['Name', job.name],
    ['Project', `${job.project} (org ${job.org})`],
    ['State', job.state],
    ['Waiting', job.state === 'queued' ? waitingText(job) : null],
    ['Reason code', job.state === 'queued' ? (job.pendingReason?.code ?? null) : null],
    ['Reason as of', job.state === 'queued' && job.reasonCycle ? cycleText(job.reasonCycle, now) : null],
    ['GPUs', shareSummary(job) ?? `${gpuSummary(job)} (${s.nodes * s.gpusPerNode} total)`],
    ['Priority', s.priorityClass],
    ['Image', s.image ? `${s.image}${s.registryCredentials ? ` (registry secret ${s.registryCredentials})` : ''}` : null],
    [
      'Resources',
      s.resources
        ? Object.entries(s.resources)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ') || null
        : null,
    ],
    ['Command', s.command && s.command.length > 0 ? s.command.map(quoteArg).join(' ') : null],
    ['Max runtime', formatDuration(s.maxRuntimeSeconds)],
    [
      'Labels',
      Object.keys(s.labels ?? {}).length > 0
        ? Object.entries(s.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')
        : null,
    ],
    ['Submitted by', job.submittedBy],
    ['Created', timestamp(job.createdAt, now)],
    ['Started', timestamp(job.startedAt, now)],
    ['Finished', timestamp(job.finishedAt, now)],
    ['Runtime', runtimeWithSimulation(job)],
    ['Exit code', job.exitCode],
    ['Placement', job.placement ? `${job.placement.site} (${job.placement.gpuType})` : null],
  ]);
  if (!job.placement) return lines;
  const sliced = job.placement.nodes.some((n) => n.milli !== undefined);
  const nodes = renderTable(
    sliced ? ['NODE', 'GPUS', 'SLICE'] : ['NODE', 'GPUS'],
    job.placement.nodes.map((n) => {
      const row = [n.node, compressRanges(n.gpus)];
      if (sliced) row.push(n.migProfile ? `MIG ${n.migProfile} (${n.milli} milli)` : `${n.milli} milli, time-sliced`);
      return row;
    }),
  )
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
  return lines + nodes;
}

function quoteArg(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** One line per event: `2025-01-01T10:00:00.000Z  scheduled    placed on muc1 (4 nodes)`. */
export function formatEventLine(ev: JobEvent): string {
  return `${ev.at}  ${ev.type.padEnd(12)}  ${ev.message}`.trimEnd();
}

/** followEvents streams events (printing them) until `end`; returns the terminal state. */
async function followEvents(client: GigafabClient, id: string, print: (ev: JobEvent) => void): Promise<string> {
  for await (const item of client.streamJobEvents(id)) {
    if (item.kind === 'end') return item.state;
    print(item.event);
  }
  // The stream only finishes through `end`; be defensive.
  return (await client.getJob(id)).state;
}

interface SubmitOptions extends Omit<JobFlags, 'args'> {
  file?: string;
  idempotencyKey?: string;
  wait?: boolean;
  dryRun?: boolean;
}

interface ListOptions {
  state?: string;
  project?: string;
  label?: string;
  limit?: number;
  all?: boolean;
}

export function registerJob(program: Command, rt: Runtime): void {
  const job = program
    .command('job')
    .description('submit, inspect and cancel jobs')
    .addHelpText(
      'after',
      examples(
        'gigafab job submit --project robotics --name pretrain --gpu-type B200 --nodes 4 --gpus-per-node 8 -- python train.py',
        'gigafab job list --state queued',
        'gigafab job show j-4k2x9',
      ),
    );

  job
    .command('submit')
    .description('submit a job from a YAML/JSON JobSpec file and/or flags (flags override file fields)')
    .argument('[command...]', 'the command to run, after --')
    .option('-f, --file <path>', 'job file (YAML or JSON JobSpec; *.jsonl: one spec per line, many jobs; - reads stdin)')
    .option('--name <name>', 'job name')
    .option('--project <project>', 'project to run in')
    .option('--gpu-type <type>', 'GPU model, e.g. B200 or RTX-PRO-6000 (default: any)')
    .option('--gpus-per-node <n>', 'GPUs on each node (1-16)', parseIntArg(0))
    .option('--nodes <n>', 'number of nodes; more than 1 makes a gang', parseIntArg(0))
    .option(
      '--gpu-fraction <milli>',
      'part of ONE GPU in milli-GPU (1-999), time-sliced with your organisation only',
      parseIntArg(1, 999),
    )
    .option('--gpu-memory <MiB>', 'with --gpu-fraction: GPU memory limit in MiB', parseIntArg(256))
    .option('--mig <profile>', 'a MIG instance of one GPU, a profile of the GPU type (e.g. 1g.23gb on B200)')
    .option('--image <image>', 'container image (OCI reference); the command then replaces its entrypoint')
    .option('--registry-secret <name>', "organisation secret with the image registry's user:password")
    .option('--shm-size <size>', 'size of /dev/shm in the container, e.g. 16g (NCCL wants more than 64m)')
    .option('--memory <size>', 'memory limit of the container, e.g. 64g')
    .option('--command <cmd>', 'command line, split like a shell would (or pass args after --)')
    .option('--env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('--max-runtime <duration>', 'wall-clock limit: 3600, 90m, 2h, 1h30m, 2d', parseDurationArg)
    .addOption(new Option('--priority <class>', 'priority class').choices(Object.keys(PRIORITY_CLASSES) as string[]))
    .option('--label <key=value>', 'label (repeatable)', collect)
    .option(
      '--sim-duration <duration>',
      'simulated fleet: how long the job runs in simulated time (e.g. 10m; at the default --time-scale 60 that is 10s)',
      parseDurationArg,
    )
    .option('--sim-exit-code <n>', 'simulated fleet: exit code the job ends with', parseIntArg(0, 255))
    .option('--idempotency-key <key>', 'retry-safe submit: the same key returns the same job')
    .option('--dry-run', 'print the cost estimate (all GPUs × --max-runtime at the current price) and submit nothing')
    .option('--wait', `follow the job's events until it ends; exit ${JOB_NOT_SUCCEEDED_EXIT} unless it succeeded`)
    .addHelpText(
      'after',
      examples(
        'gigafab job submit -f job.yaml',
        'gigafab job submit -f job.yaml --nodes 8 --label team=vision',
        'gigafab job submit --project robotics --name smoke --gpu-type B200 --gpus-per-node 8 --command "python smoke.py --fast"',
        'gigafab job submit --project robotics --name notebook --gpu-type RTX-PRO-6000 --gpu-fraction 250 -- jupyter lab',
        'gigafab job submit --project robotics --name infer --gpu-type B200 --mig 1g.23gb -- python serve.py',
        'gigafab job submit --project robotics --name train --nodes 4 --gpus-per-node 8 --env NCCL_DEBUG=INFO -- torchrun train.py',
        'gigafab job submit -f job.yaml --sim-duration 10m --wait',
        'gigafab job submit -f job.yaml --max-runtime 2h --dry-run',
        'gigafab job submit -f sweep.jsonl --project robotics --idempotency-key sweep-7',
        'gigafab job submit --project robotics --name ddp --nodes 2 --image harbor.eu.example/ml/pytorch:25.01 --registry-secret harbor --shm-size 16g -- torchrun train.py',
      ) +
        [
          '',
          'A job file (YAML or JSON, JobSpec fields):',
          '  name: pretrain',
          '  project: robotics',
          '  gpuType: B200',
          '  nodes: 4',
          '  gpusPerNode: 8',
          '  command: [torchrun, train.py]',
          '  env: { NCCL_DEBUG: INFO }',
          '  maxRuntimeSeconds: 7200',
          '  priorityClass: normal',
          '  labels: { team: vision }',
          '  simulation: { durationSeconds: 600, exitCode: 0 }',
          '',
        ].join('\n'),
    )
    .action(async (args: string[], opts: SubmitOptions, cmd: Command) => {
      const flags: JobFlags = { ...opts, args };
      const text = opts.file ? await readJobFileText(opts.file, rt.stdin) : undefined;
      if (opts.file && text !== undefined && (isJsonLinesName(opts.file) || (opts.file === '-' && looksLikeJsonLines(text)))) {
        if (opts.wait)
          throw new CliError('--wait follows one job; a JSON Lines file submits many (use `job events ID --follow`)');
        if (opts.dryRun) throw new CliError('--dry-run estimates one job; a JSON Lines file holds many');
        const specs = await parseBulkSpecs(text, opts.file === '-' ? 'stdin' : opts.file, flags);
        await runBulk(await makeCtx(cmd, rt), specs, opts.idempotencyKey);
        return;
      }
      const file = opts.file && text !== undefined ? await parseJobFileText(text, opts.file === '-' ? 'stdin' : opts.file) : {};
      const spec = await validateJobSpec(mergeJobSpec(file, flags));
      const ctx = await makeCtx(cmd, rt);
      if (opts.dryRun) {
        const estimate = await estimateJob(ctx.client, spec);
        if (ctx.json) ctx.printJson(estimate);
        else ctx.out(describeEstimate(estimate));
        return;
      }
      const { job: submitted, replayed } = await ctx.client.submitJob(spec, opts.idempotencyKey);
      if (opts.simDuration !== undefined && !ctx.json) ctx.note(simDurationNote(opts.simDuration));
      if (!opts.wait) {
        if (ctx.json) ctx.printJson(submitted);
        else ctx.out(`job ${submitted.id} ${replayed ? 'already submitted' : 'submitted'}: ${submitted.state}`);
        return;
      }
      if (!ctx.json) ctx.out(`job ${submitted.id} ${replayed ? 'already submitted' : 'submitted'}: ${submitted.state}`);
      const print = ctx.json ? (ev: JobEvent) => ctx.note(formatEventLine(ev)) : (ev: JobEvent) => ctx.out(formatEventLine(ev));
      await followEvents(ctx.client, submitted.id, print);
      const final = await ctx.client.getJob(submitted.id);
      if (ctx.json) ctx.printJson(final);
      else {
        const extra = final.exitCode !== null ? ` (exit code ${final.exitCode})` : '';
        ctx.out(`job ${final.id} ${final.state}${extra}`);
      }
      if (final.state !== 'succeeded') throw new ExitCode(JOB_NOT_SUCCEEDED_EXIT);
    });

  job
    .command('list')
    .alias('ls')
    .description('list jobs you can see, newest first')
    .addOption(new Option('--state <state>', 'only jobs in this state').choices([...JOB_STATES]))
    .option('--project <project>', 'only jobs of this project')
    .option('--label <key=value>', 'only jobs with this label')
    .option('--limit <n>', 'page size (1-1000)', parseIntArg(1, 1000))
    .option('--all', 'follow pages until the end')
    .addHelpText(
      'after',
      examples(
        'gigafab job list',
        'gigafab job list --state running --project robotics',
        'gigafab job list --label team=vision --all -o json',
      ),
    )
    .action(async (opts: ListOptions, cmd: Command) => {
      if (opts.label !== undefined && !/^[^=]+=/.test(opts.label)) {
        throw new CliError(`invalid --label "${opts.label}": expected key=value`);
      }
      const ctx = await makeCtx(cmd, rt);
      const query: JobListQuery = { state: opts.state, project: opts.project, label: opts.label, limit: opts.limit };
      const { items: jobs, more } = await fetchList(ctx.client, opts.all, (cursor) => ctx.client.listJobs({ ...query, cursor }));
      if (ctx.json) ctx.printJson(jobs);
      else if (jobs.length === 0) ctx.note('no jobs found');
      else ctx.out(renderJobTable(jobs, ctx.now()));
      if (more) ctx.note(`(more jobs exist; use --all or a larger --limit)`);
    });

  job
    .command('show')
    .alias('get')
    .description('show a job: state, why it waits, placement, timestamps')
    .argument('<id>', 'job id')
    .addHelpText('after', examples('gigafab job show j-4k2x9', 'gigafab job show j-4k2x9 -o json'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const j = await ctx.client.getJob(id);
      if (ctx.json) ctx.printJson(j);
      else ctx.out(renderJobDetails(j, ctx.now()) + (await energyLine(ctx, id)));
    });

  job
    .command('events')
    .description("print a job's events; --follow streams them until the job ends")
    .argument('<id>', 'job id')
    .option('-F, --follow', 'keep streaming new events until the job reaches a terminal state')
    .addHelpText('after', examples('gigafab job events j-4k2x9', 'gigafab job events j-4k2x9 --follow'))
    .action(async (id: string, opts: { follow?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      if (!opts.follow) {
        const events = await ctx.client.jobEvents(id);
        if (ctx.json) ctx.printJson(events);
        else if (events.length === 0) ctx.note('no events');
        else
          ctx.out(
            renderTable(
              ['TIME', 'TYPE', 'MESSAGE'],
              events.map((e) => [e.at, e.type, e.message]),
              { maxCellWidth: 200 },
            ),
          );
        return;
      }
      // JSON with --follow: one event per line (NDJSON), then a final {"end": state} line.
      const print = ctx.json ? (ev: JobEvent) => ctx.out(JSON.stringify(ev)) : (ev: JobEvent) => ctx.out(formatEventLine(ev));
      const state = await followEvents(ctx.client, id, print);
      if (ctx.json) ctx.out(JSON.stringify({ end: state }));
      else ctx.note(`job ${id} ${state}`);
    });

  job
    .command('cancel')
    .description('cancel a queued or running job')
    .argument('<id>', 'job id')
    .addHelpText('after', examples('gigafab job cancel j-4k2x9'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const j = await ctx.client.cancelJob(id);
      if (ctx.json) ctx.printJson(j);
      else if (TERMINAL_STATES.has(j.state)) ctx.out(`job ${j.id} ${j.state}`);
      else ctx.out(`job ${j.id} cancellation requested (state: ${j.state})`);
    });

  job
    .command('explain')
    .description('why a job waits: reason, queue position, expected start, what would make it run now, priority factors')
    .argument('<id>', 'job id')
    .addHelpText('after', examples('gigafab job explain 812', 'gigafab job explain 812 -o json'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const e = await ctx.client.explainJob(id);
      if (ctx.json) return ctx.printJson(e);
      const f = e.priority?.factors;
      const factors = f
        ? Object.entries(f)
            .map(([k, v]) => `${k} ${v.toFixed(3)}`)
            .join(', ')
        : null;
      ctx.out(
        renderKeyValues([
          ['Job', `${e.jobId} (${e.state})`],
          ['Waiting', e.pendingReason ? e.pendingReason.message.replace(/^waiting: /, '') : null],
          ['Reason code', e.pendingReason?.code ?? null],
          ['Queue position', e.position],
          [
            'Expected start',
            e.expectedStart
              ? `${e.expectedStart} (in ${formatDuration(Math.max(0, (Date.parse(e.expectedStart) - ctx.now()) / 1000))})`
              : e.state === 'queued'
                ? 'unknown (no backfill plan covers it yet)'
                : null,
          ],
          ['Blocked by', e.blockedBy.length ? e.blockedBy.map((b) => `job ${b}`).join(', ') : null],
          ['Would run now with', e.counterfactual.length ? e.counterfactual.join('; ') : null],
          ['Priority', e.priority ? `${e.priority.total.toFixed(1)} (${factors})` : null],
          ['Explained', e.cycle ? `as of ${cycleText(e.cycle, ctx.now())}` : 'not yet (no scheduling cycle has explained it)'],
          // Reasons are rebuilt every cycle, explanations every few seconds: say when they differ.
          [
            'Reason as of',
            e.stale && e.reasonCycle
              ? `${cycleText(e.reasonCycle, ctx.now())}, newer than the explanation (refreshed every few seconds)`
              : null,
          ],
        ]),
      );
    });

  job
    .command('logs')
    .description("print a job's output (stdout and stderr); --follow streams it until the job ends")
    .argument('<id>', 'job id')
    .option('-f, --follow', 'keep streaming new output until the job ends')
    .option('--attempt <n>', 'output of an earlier run (1 = the first start; default: the current run)', parseIntArg(1))
    .addHelpText('after', examples('gigafab job logs 812', 'gigafab job logs 812 --follow', 'gigafab job logs 812 --attempt 1'))
    .action(async (id: string, opts: { follow?: boolean; attempt?: number }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      for await (const text of ctx.client.jobLogs(id, opts.follow ?? false, opts.attempt)) rt.io.out(text);
    });
}
