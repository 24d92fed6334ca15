/**
 * gigafab simulate: offline trace-driven simulation through the real scheduler (src/sim).
 * No server needed. Progress bar on stderr; summary table on stdout; results.json + report.html.
 */
import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CycleMode } from '../../sim/engine.js';
import { readLines } from '../../sim/importers/common.js';
import { guessFormat, TRACE_FORMATS, type TraceFormat } from '../../sim/importers/index.js';
import { policyNames } from '../../sim/policies.js';
import { renderSummaryTable, writeReport } from '../../sim/report.js';
import { parseVariants, runSimulations } from '../../sim/run.js';
import { CliError, collect, examples, parseIntArg, type Runtime } from '../context.js';
import { type FgdCliOptions, runFgdCommand, SCENARIOS } from './simulate-fgd.js';

/** The scenario options (and out, progress) are those of `--scenario fgd`. */
interface SimulateOptions extends FgdCliOptions {
  fleet?: string;
  trace?: string;
  format?: TraceFormat;
  jobs: number;
  seed: number;
  tenants?: number;
  load: number;
  diurnal: number;
  timeoutFraction: number;
  policy: string;
  compare?: string;
  scaleLoad: number;
  scaleFleet: number;
  cycleInterval?: number;
  fractional: 'round-up' | 'skip';
  entitlement?: string[];
  scenario?: (typeof SCENARIOS)[number];
}

function positiveFloat(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Must be a positive number.');
  return n;
}

function unitFraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError('Must be a number from 0 up to (not including) 1.');
  return n;
}

/** Synthetic defaults: a working week's load that queues by day and drains by night on any fleet. */
export const SYNTHETIC_DEFAULTS = { tenants: 12, load: 0.9, diurnal: 0.5, timeoutFraction: 0.02 } as const;

async function countDataLines(path: string): Promise<number> {
  let n = -1;
  for await (const _ of readLines(path)) n++;
  return Math.max(0, n);
}

export function registerSimulate(program: Command, rt: Runtime): void {
  program
    .command('simulate')
    .description('replay a job trace through the real scheduler on a fleet file (offline) and write a report')
    .option('--fleet <file>', 'fleet YAML (default: the built-in demo fleet)')
    .option('--trace <file>', 'trace file (openb_pod_list_*.csv, philly.csv, clusterNN.csv)')
    .addOption(
      new Option('--format <format>', 'trace format (default: from the file name, else synthetic)').choices([...TRACE_FORMATS]),
    )
    .option('--jobs <n>', 'synthetic: number of jobs', parseIntArg(1), 10000)
    .option('--seed <n>', 'synthetic: PRNG seed', parseIntArg(0), 1)
    .option(
      '--tenants <n>',
      `synthetic: number of tenants (default ${SYNTHETIC_DEFAULTS.tenants}; an imported trace brings its own)`,
      parseIntArg(1),
    )
    .option(
      '--load <x>',
      'synthetic: mean offered load as a fraction of the (unscaled) fleet',
      positiveFloat,
      SYNTHETIC_DEFAULTS.load,
    )
    .option(
      '--diurnal <a>',
      'synthetic: daily cycle of arrivals, rate × (1 + a·sin(2πt/day)): peaks at (1+a)×load queue, nights drain; 0 = constant',
      unitFraction,
      SYNTHETIC_DEFAULTS.diurnal,
    )
    .option(
      '--timeout-fraction <f>',
      'synthetic: share of jobs given a wall limit shorter than their runtime (they time out)',
      unitFraction,
      SYNTHETIC_DEFAULTS.timeoutFraction,
    )
    .option(
      '--policy <name|file>',
      `scheduling policy: a preset (${policyNames().join(', ')}) or a server policy file (YAML, as gigafab server --policy)`,
      'default',
    )
    .option('--compare <list>', 'comma-separated variants, each `policy` or `policy@fleetScale`, e.g. default,default@1.5')
    .option('--scale-load <x>', 'multiply the arrival rate by x (submit times compressed by 1/x)', positiveFloat, 1)
    .option('--scale-fleet <x>', 'multiply every pool of the fleet by x', positiveFloat, 1)
    .option(
      '--cycle-interval <seconds>',
      'run cycles on a fixed virtual interval instead of after every event instant',
      positiveFloat,
    )
    .addOption(
      new Option('--fractional <mode>', 'alibaba: GPU-sharing pods take a whole GPU, or are skipped')
        .choices(['round-up', 'skip'])
        .default('round-up'),
    )
    .option('--entitlement <tenant=weight>', 'entitlement weight of a tenant (org/project); repeatable; default 1 each', collect)
    .option('--out <dir>', 'output directory for results.json and report.html', 'report')
    .option('--no-progress', 'no progress bar')
    .addOption(
      new Option('--scenario <name>', 'built-in experiment instead of a trace replay (fgd: docs/fgd-reproduction.md)').choices([
        ...SCENARIOS,
      ]),
    )
    .option('--trace-dir <dir>', 'fgd: folder with openb_node_list_gpu_node.csv and openb_pod_list_<workload>.csv')
    .option('--workloads <list>', 'fgd: comma-separated workloads, e.g. default,gpushare40 (default: default)')
    .option('--seeds <list>', "fgd: seeds, e.g. 42-51 or 42,43 (default: 42-51, the paper's)")
    .option('--policies <list>', 'fgd: random,dotprod,clustering,packing,bestfit,fgd,gigafab (default: all)')
    .option('--paper-dir <dir>', 'fgd: folder with summary_unallocated_gpu_pct.csv (default: <trace-dir>/../fgd-atc23-results)')
    .addOption(
      new Option('--ties <mode>', 'fgd: equal best scores go to the first node or a random one')
        .choices(['first', 'random'])
        .default('first'),
    )
    .addOption(
      new Option(
        '--bucketing <mode>',
        "fgd: exact bucket means, or the authors' (each sample and each mean rounded to 2 decimals)",
      )
        .choices(['exact', 'paper'])
        .default('exact'),
    )
    .option('--arrived <pct>', 'fgd: arrived load (% of GPUs) for the terminal table', parseIntArg(1), 100)
    .option(
      '--derive <list>',
      'fgd: run derived families instead, e.g. gpuspec=20,multigpu=30 (kinds: gpushare, multigpu, gpuspec, cpu)',
    )
    .option('--derive-seed <n>', 'fgd: seed of the derivation (not of the arrival order)', parseIntArg(0), 1)
    .option('--placements-out <file>', 'fgd: write every placement as CSV (workload,policy,seed,index,task,node,gpus)')
    .option('--arrival-order <dir>', 'fgd: replay the arrival orders in <dir>/<workload>.csv (seed,index,task)')
    .option('--arrival-order-out <dir>', 'fgd: write the arrival orders used, in the --arrival-order format')
    .addHelpText(
      'after',
      examples(
        'gigafab simulate --jobs 100000 --seed 7 --out report/',
        'gigafab simulate --trace philly.csv --compare default,entitlement-quota',
        'gigafab simulate --fleet fleets/demo.yaml --trace cluster04.csv --compare default,default@0.5 --scale-load 2',
        'gigafab simulate --scenario fgd --trace-dir ../shared/traces/alibaba-gpu-v2023-openb --workloads default,gpushare40',
      ),
    )
    .action(async (opts: SimulateOptions) => {
      if (opts.scenario === 'fgd') return runFgdCommand(opts, rt);
      const format: TraceFormat = opts.format ?? (opts.trace ? guessFormat(opts.trace) : 'synthetic') ?? 'synthetic';
      if (format !== 'synthetic' && !opts.trace) throw new CliError(`--trace is required for --format ${format}`);
      if (opts.trace && format === 'synthetic')
        throw new CliError('cannot tell the trace format from the file name: pass --format');
      if (format !== 'synthetic' && opts.tenants !== undefined)
        throw new CliError('--tenants applies only to synthetic workloads: an imported trace brings its own tenants');
      let variants: ReturnType<typeof parseVariants>;
      try {
        variants = parseVariants(
          opts.compare ?? opts.policy,
          opts.scaleFleet,
          opts.entitlement?.length ? 'entitlement' : 'unlimited',
        );
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      if (variants.length === 0) throw new CliError('no policy given');
      const entitlements = new Map<string, number>();
      for (const pair of opts.entitlement ?? []) {
        const eq = pair.lastIndexOf('=');
        const w = Number(pair.slice(eq + 1));
        if (eq <= 0 || !(w >= 0)) throw new CliError(`invalid --entitlement "${pair}": expected org/project=weight`);
        entitlements.set(pair.slice(0, eq), w);
      }
      const cycle: CycleMode = opts.cycleInterval ? { mode: 'interval', seconds: opts.cycleInterval } : { mode: 'event' };
      const perRun = format === 'synthetic' ? opts.jobs : await countDataLines(opts.trace!);
      const bar = opts.progress
        ? new SingleBar({
            stream: process.stderr,
            format: 'simulate [{bar}] {percentage}% | {value}/{total} arrivals | {variant}',
            hideCursor: true,
          })
        : null;
      bar?.start(perRun * variants.length, 0, { variant: variants[0].label });
      const started = performance.now();
      let out: Awaited<ReturnType<typeof runSimulations>>;
      try {
        out = await runSimulations({
          fleetPath: opts.fleet,
          format,
          trace: opts.trace,
          jobs: opts.jobs,
          seed: opts.seed,
          tenants: format === 'synthetic' ? (opts.tenants ?? SYNTHETIC_DEFAULTS.tenants) : undefined,
          targetLoad: opts.load,
          diurnalAmplitude: opts.diurnal,
          timeoutFraction: opts.timeoutFraction,
          scaleLoad: opts.scaleLoad,
          variants,
          cycle,
          fractional: opts.fractional,
          entitlements,
          onProgress: (v, n) => bar?.update(Math.min(perRun, n) + v * perRun, { variant: variants[v].label }),
        });
      } finally {
        bar?.stop();
      }
      const seconds = (performance.now() - started) / 1000;
      const files = writeReport(out, resolve(opts.out));
      rt.io.out(`${renderSummaryTable(out)}\n`);
      const arrivals = out.runs.reduce((a, r) => a + r.summary.jobs.submitted, 0);
      rt.io.err(
        `simulated ${arrivals.toLocaleString('en-US')} arrivals in ${seconds.toFixed(1)} s wall (${Math.round(arrivals / seconds).toLocaleString('en-US')} jobs/s)\n`,
      );
      for (const r of out.runs) if (r.import) rt.io.err(`import (${r.label}): ${JSON.stringify(r.import)}\n`);
      rt.io.err(`wrote ${files.json}\nwrote ${files.html}\n`);
    });
}
