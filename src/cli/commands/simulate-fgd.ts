/**
 * `gigafab simulate --scenario fgd`: the FGD (USENIX ATC '23) experiment on the Alibaba openb
 * trace (src/sim/fgd), ours beside the paper's published numbers. Progress bar on stderr, table on
 * stdout, fgd-results.json and fgd-report.html in --out.
 */
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { ShareTask } from '../../scheduler/sharing/cluster.js';
import { POLICY_NAMES, type PolicyName } from '../../scheduler/sharing/policies.js';
import { DERIVE_KINDS, type DeriveSpec, parseDerive } from '../../sim/fgd/derive.js';
import { PAPER_SUMMARY_FILE, type PaperResults, readPaperSummary } from '../../sim/fgd/paper.js';
import { formatOrder, formatPodList, orderFile, PLACEMENTS_HEADER, placementRow } from '../../sim/fgd/placements.js';
import { renderFgdTable, writeFgdReport } from '../../sim/fgd/report.js';
import { FGD_SEEDS, NODE_FILE, runFgdScenario, workloadFile } from '../../sim/fgd/scenario.js';
import { TraceFormatError } from '../../sim/importers/common.js';
import { CliError, type Runtime } from '../context.js';

export const SCENARIOS = ['fgd'] as const;

export interface FgdCliOptions {
  traceDir?: string;
  workloads?: string;
  seeds?: string;
  policies?: string;
  paperDir?: string;
  ties: 'first' | 'random';
  bucketing: 'exact' | 'paper';
  arrived: number;
  out: string;
  progress: boolean;
  derive?: string;
  deriveSeed?: number;
  placementsOut?: string;
  arrivalOrder?: string;
  arrivalOrderOut?: string;
}

function list(s: string | undefined): string[] {
  return (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/** parseSeeds: `42,43` or `42-51` (or a mix). */
export function parseSeeds(s: string | undefined): number[] {
  if (s === undefined) return [...FGD_SEEDS];
  const out: number[] = [];
  for (const part of list(s)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new CliError(`invalid --seeds "${part}": expected numbers or ranges like 42-51`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 10_000) throw new CliError(`invalid --seeds range "${part}"`);
    for (let x = a; x <= b; x++) out.push(x);
  }
  if (out.length === 0) throw new CliError('--seeds is empty');
  return out;
}

export function parsePolicies(s: string | undefined): PolicyName[] {
  if (s === undefined) return [...POLICY_NAMES];
  const out: PolicyName[] = [];
  for (const p of list(s)) {
    if (!(POLICY_NAMES as readonly string[]).includes(p)) {
      throw new CliError(`unknown policy "${p}" for --scenario fgd (known: ${POLICY_NAMES.join(', ')})`);
    }
    out.push(p as PolicyName);
  }
  if (out.length === 0) throw new CliError('--policies is empty');
  return out;
}

/** parseDerives: `gpuspec=20,multigpu=30`. */
export function parseDerives(s: string | undefined): DeriveSpec[] {
  const out: DeriveSpec[] = [];
  for (const part of list(s)) {
    const d = parseDerive(part);
    if (typeof d === 'string') throw new CliError(d);
    out.push(d);
  }
  if (s !== undefined && out.length === 0) throw new CliError(`--derive is empty (kinds: ${DERIVE_KINDS.join(', ')})`);
  return out;
}

/** A buffered line writer for the placements file (hundreds of thousands of rows). */
function lineWriter(path: string): { line: (s: string) => void; close: () => void } {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  let buf: string[] = [];
  const flush = () => {
    if (buf.length > 0) writeSync(fd, `${buf.join('\n')}\n`);
    buf = [];
  };
  return {
    line: (s) => {
      buf.push(s);
      if (buf.length >= 10_000) flush();
    },
    close: () => {
      flush();
      closeSync(fd);
    },
  };
}

export async function runFgdCommand(opts: FgdCliOptions, rt: Runtime): Promise<void> {
  if (!opts.traceDir) throw new CliError('--scenario fgd needs --trace-dir <dir> (the folder with openb_node_list_gpu_node.csv)');
  const traceDir = resolve(opts.traceDir);
  const workloads = list(opts.workloads ?? 'default');
  if (workloads.length === 0) throw new CliError('--workloads is empty');
  const missing = [NODE_FILE, ...workloads.map(workloadFile)].filter((f) => !existsSync(join(traceDir, f)));
  if (missing.length > 0) throw new CliError(`not found in ${traceDir}: ${missing.join(', ')}`);
  const seeds = parseSeeds(opts.seeds);
  const policies = parsePolicies(opts.policies);
  const derive = parseDerives(opts.derive);
  const orderDir = opts.arrivalOrder === undefined ? undefined : resolve(opts.arrivalOrder);
  if (orderDir) {
    const names = derive.length > 0 ? [] : workloads;
    const absent = names.map((w) => orderFile(orderDir, w)).filter((f) => !existsSync(f));
    if (absent.length > 0) throw new CliError(`--arrival-order: not found: ${absent.join(', ')}`);
  }
  const out = resolve(opts.out);
  const placements = opts.placementsOut ? lineWriter(resolve(opts.placementsOut)) : null;
  placements?.line(PLACEMENTS_HEADER);
  const orders = new Map<string, Map<number, readonly ShareTask[]>>();
  const paperDir = opts.paperDir ?? join(dirname(traceDir), 'fgd-atc23-results');
  const paperFile = join(paperDir, PAPER_SUMMARY_FILE);
  let paper: PaperResults | null = null;
  if (existsSync(paperFile)) paper = readPaperSummary(paperFile);
  else if (opts.paperDir) throw new CliError(`not found: ${paperFile}`);
  const bar =
    opts.progress && process.stderr.isTTY
      ? new SingleBar({
          stream: process.stderr,
          format: 'fgd [{bar}] {percentage}% | {value}/{total} runs | {run}',
          hideCursor: true,
        })
      : null;
  bar?.start(workloads.length * seeds.length * policies.length, 0, { run: '' });
  const started = performance.now();
  let result: Awaited<ReturnType<typeof runFgdScenario>>;
  try {
    result = await runFgdScenario({
      traceDir,
      workloads,
      seeds,
      policies,
      ties: opts.ties,
      bucketing: opts.bucketing,
      derive,
      deriveSeed: opts.deriveSeed,
      orderDir,
      onWorkload: (w, tasks) => {
        if (derive.length === 0) return;
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, workloadFile(w)), formatPodList(tasks));
      },
      onOrder: opts.arrivalOrderOut
        ? (w, seed, order) => {
            const m = orders.get(w) ?? new Map<number, readonly ShareTask[]>();
            m.set(seed, order);
            orders.set(w, m);
          }
        : undefined,
      onPlacement: placements
        ? (w, policy, seed, i, task, p, nodes) => placements.line(placementRow(w, policy, seed, i, task, p, nodes))
        : undefined,
      onProgress: (done, _total, label) => bar?.update(done, { run: label }),
    });
  } catch (err) {
    if (err instanceof TraceFormatError) throw new CliError(err.message);
    throw err;
  } finally {
    bar?.stop();
    placements?.close();
  }
  if (opts.arrivalOrderOut) {
    const dir = resolve(opts.arrivalOrderOut);
    mkdirSync(dir, { recursive: true });
    for (const [w, m] of orders) writeFileSync(orderFile(dir, w), formatOrder(m));
  }
  const seconds = (performance.now() - started) / 1000;
  const files = writeFgdReport(result, paper, out);
  rt.io.out(`${renderFgdTable(result, paper, opts.arrived)}\n`);
  rt.io.err(
    `${result.runs.length} runs (${result.cluster.nodes} nodes, ${result.cluster.gpus} GPUs) in ${seconds.toFixed(1)} s wall${paper ? `; paper: ${paperFile}` : '; no paper results found'}\n`,
  );
  rt.io.err(`wrote ${files.json}\nwrote ${files.html}\n`);
}
