/**
 * The FGD experiment (Weng et al., USENIX ATC '23, evaluation) as a built-in scenario, following the
 * protocol of ../shared/traces/fgd-atc23-results/README.md:
 * 1. cluster = the GPU nodes of `openb_node_list_gpu_node.csv` (1,213 nodes, 6,212 GPUs);
 * 2. tasks = the workload's pod list sorted by name, shuffled with the seed;
 * 3. inflated to `tune` (1.3) x cluster GPU capacity of request: uniformly random copies of the
 *    original pods are appended until the next draw would exceed the target (or, for lists that ask
 *    for more, uniformly random pods are removed until the total is within it);
 * 4. tasks arrive one by one, never leave; a task that fits nowhere fails (still "arrived");
 * 5. after each task, allocated milli-GPU is recorded against arrived milli-GPU (both as % of
 *    capacity); samples are bucketed by arrived % rounded to an integer and averaged per bucket
 *    (an empty bucket, possible only with few large tasks, repeats the bucket before it).
 * Unallocated GPU % = 100 - allocation %. Same seed -> identical results (mulberry32 PRNG; the
 * authors used Go's, so curves match in statistics, not sample by sample).
 */

import { join } from 'node:path';
import { mulberry32 } from '../../model/prng.js';
import {
  type ShareNodeSpec,
  type SharePlacement,
  type ShareTask,
  SharingCluster,
  taskGpuMilli,
} from '../../scheduler/sharing/cluster.js';
import { FragmentationModel, typicalTasks } from '../../scheduler/sharing/fragmentation.js';
import {
  GIGAFAB_PICKY_SHARE,
  type GigafabParams,
  gigafabParamsFor,
  makePolicy,
  type PolicyName,
  placeTask,
} from '../../scheduler/sharing/policies.js';
import { ScarceHomes } from '../../scheduler/sharing/scarcity.js';
import { readOpenbNodes, readOpenbTasks } from '../importers/alibaba.js';
import { TraceFormatError } from '../importers/common.js';
import type { ImportStats } from '../types.js';
import { type DeriveSpec, derivedName, deriveWorkload } from './derive.js';
import { PaperBuckets } from './paper-rounding.js';
import { orderFile, readOrder } from './placements.js';

export const FGD_SEEDS = [42, 43, 44, 45, 46, 47, 48, 49, 50, 51] as const;
export const FGD_MAX_ARRIVED = 130;
export const NODE_FILE = 'openb_node_list_gpu_node.csv';

export function workloadFile(workload: string): string {
  return `openb_pod_list_${workload}.csv`;
}

export interface FgdRun {
  workload: string;
  policy: PolicyName;
  seed: number;
  /** Tasks that arrived (after inflation). */
  tasks: number;
  failedTasks: number;
  failedGpuMilli: number;
  /** Unallocated GPU % per arrived % 0..130 (index = arrived %), null where no task landed. */
  unallocated: (number | null)[];
}

export interface FgdWorkloadInfo {
  workload: string;
  file: string;
  import: ImportStats;
  /** Tasks per seed after inflation (same for every policy). */
  inflatedTasks: number[];
  typicalShapes: number;
  typicalCoverage: number;
  /** Set for a derived family (`--derive`): its base workload, the change and the derivation seed. */
  derivedFrom?: { workload: string; kind: DeriveSpec['kind']; share: number; seed: number };
  /** Where the arrival orders came from: the protocol (shuffle + inflation) or an order file. */
  order: 'protocol' | 'file';
}

/** One task's outcome: its index in the arrival order and where it went (null: it failed). */
export type PlacementListener = (
  workload: string,
  policy: PolicyName,
  seed: number,
  index: number,
  task: ShareTask,
  placement: SharePlacement | null,
  nodes: readonly ShareNodeSpec[],
) => void;

export interface FgdScenarioOptions {
  traceDir: string;
  workloads: readonly string[];
  seeds: readonly number[];
  policies: readonly PolicyName[];
  /** Inflation target as a multiple of cluster GPU capacity (paper: 1.3). */
  tune?: number;
  nodeFile?: string;
  /** Equal best scores: 'first' node in list order (default, as the authors' simulator) or 'random'. */
  ties?: 'first' | 'random';
  /** How a bucket's samples become a run's value (FgdBucketing); default 'exact'. */
  bucketing?: FgdBucketing;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Derived families to run instead of the workloads themselves (each from each workload). */
  derive?: readonly DeriveSpec[];
  /** Seed of the derivation (not of the arrival order); default 1. */
  deriveSeed?: number;
  /** Replay the arrival orders in `<dir>/<workload>.csv` instead of shuffling and inflating. */
  orderDir?: string;
  /** Called with each workload's task list (derived lists included) before it runs. */
  onWorkload?: (workload: string, tasks: readonly ShareTask[]) => void;
  /** Called with each seed's arrival order. */
  onOrder?: (workload: string, seed: number, order: readonly ShareTask[]) => void;
  onPlacement?: PlacementListener;
}

/**
 * FgdBucketing: 'exact' averages each bucket's allocation samples as computed; 'paper' does what the
 * authors' analysis does (experiments/analysis/merge_alloc_discrete_0920.py of their simulator):
 * each sample's allocation % rounded to 2 decimals before the bucket's mean, the mean rounded to 2
 * decimals, so a run's values are exactly comparable with the published per-seed curves.
 */
export type FgdBucketing = 'exact' | 'paper';

export interface FgdScenarioResult {
  cluster: { nodes: number; gpus: number; cpuMilli: number; file: string };
  tune: number;
  ties: 'first' | 'random';
  bucketing: FgdBucketing;
  seeds: number[];
  policies: PolicyName[];
  workloads: FgdWorkloadInfo[];
  runs: FgdRun[];
}

/** shuffle: Fisher-Yates with the given PRNG (in place). */
function shuffle<T>(a: T[], rng: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const x = a[i];
    a[i] = a[j];
    a[j] = x;
  }
  return a;
}

/** arrivalOrder: protocol steps 2 and 3 for one seed. */
export function arrivalOrder(tasks: readonly ShareTask[], seed: number, targetMilli: number): ShareTask[] {
  const rng = mulberry32(seed);
  const sorted = [...tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = shuffle(sorted, rng);
  let total = out.reduce((s, t) => s + taskGpuMilli(t), 0);
  if (total <= targetMilli) {
    const original = out.slice();
    if (original.length === 0) return out;
    for (;;) {
      const t = original[Math.floor(rng() * original.length)];
      if (total + taskGpuMilli(t) > targetMilli) break;
      out.push(t);
      total += taskGpuMilli(t);
    }
  } else {
    while (total > targetMilli && out.length > 0) {
      const [t] = out.splice(Math.floor(rng() * out.length), 1);
      total -= taskGpuMilli(t);
    }
  }
  return out;
}

/**
 * What the policies know of a workload: FGD's typical set, and (ours) the scarce homes of picky
 * tasks and the parameters that follow the workload's fractional share.
 */
export interface PolicyModels {
  fgd: FragmentationModel;
  scarcity: ScarceHomes;
  gigafab: GigafabParams;
}

export function policyModels(tasks: readonly ShareTask[], nodes: readonly ShareNodeSpec[]): PolicyModels {
  const gigafab = gigafabParamsFor(tasks);
  return {
    fgd: new FragmentationModel(typicalTasks(tasks)),
    scarcity: new ScarceHomes(nodes, tasks, GIGAFAB_PICKY_SHARE, gigafab.constrainedPickyShare),
    gigafab,
  };
}

/** runPlacement: protocol steps 4 and 5 for one policy on one arrival order. */
export function runPlacement(
  nodes: readonly ShareNodeSpec[],
  order: readonly ShareTask[],
  policyName: PolicyName,
  models: PolicyModels,
  seed: number,
  ties: 'first' | 'random' = 'first',
  onPlace?: (index: number, task: ShareTask, placement: SharePlacement | null) => void,
  bucketing: FgdBucketing = 'exact',
): Omit<FgdRun, 'workload' | 'seed'> {
  const cluster = new SharingCluster(nodes);
  const policy = makePolicy(policyName, cluster, models.fgd, models.scarcity, models.gigafab);
  // Ties and the Random policy get their own stream so the arrival order is the same for all.
  const ctx = { cluster, policy, rng: mulberry32((seed ^ 0x5f3759df) >>> 0), ties };
  const cap = cluster.totalGpuMilli;
  const sum = new Float64Array(FGD_MAX_ARRIVED + 1);
  const cnt = new Int32Array(FGD_MAX_ARRIVED + 1);
  const paper = bucketing === 'paper' ? new PaperBuckets(cap / 1000, FGD_MAX_ARRIVED) : null;
  let arrived = 0;
  let failedTasks = 0;
  let failedGpuMilli = 0;
  for (let i = 0; i < order.length; i++) {
    const t = order[i];
    arrived += taskGpuMilli(t);
    const placed = placeTask(ctx, t);
    onPlace?.(i, t, placed);
    if (!placed) {
      failedTasks++;
      failedGpuMilli += taskGpuMilli(t);
    }
    paper?.add(arrived, cluster.usedGpuMilli);
    const k = Math.round((arrived * 100) / cap);
    if (k <= FGD_MAX_ARRIVED) {
      sum[k] += (cluster.usedGpuMilli * 100) / cap;
      cnt[k]++;
    }
  }
  if (paper)
    return { policy: policyName, tasks: order.length, failedTasks, failedGpuMilli, unallocated: paperCurve(paper, arrived) };
  // A bucket no task landed in (only with few, large tasks) holds the state after the last task
  // before it: allocation is a step function of arrived load.
  const last = Math.min(FGD_MAX_ARRIVED, Math.round((arrived * 100) / cap));
  const unallocated: (number | null)[] = [];
  let prev: number | null = null;
  for (let k = 0; k <= FGD_MAX_ARRIVED; k++) {
    if (cnt[k] > 0) prev = round4(100 - sum[k] / cnt[k]);
    unallocated.push(k <= last ? prev : null);
  }
  return { policy: policyName, tasks: order.length, failedTasks, failedGpuMilli, unallocated };
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** paperCurve: 100 - the authors' bucket values, up to the last bucket the run arrived at. */
function paperCurve(paper: PaperBuckets, arrived: number): (number | null)[] {
  const last = Math.min(FGD_MAX_ARRIVED, paper.bucketOf(arrived));
  const out: (number | null)[] = [];
  for (let k = 0; k <= FGD_MAX_ARRIVED; k++) {
    const a = k <= last ? paper.allocated(k) : null;
    // Not rounded again: the authors' medians are taken over 100 - v as floats (README of their results).
    out.push(a === null ? null : 100 - a);
  }
  return out;
}

interface Family {
  workload: string;
  file: string;
  stats: ImportStats;
  tasks: ShareTask[];
  derivedFrom?: FgdWorkloadInfo['derivedFrom'];
}

/** loadWorkloads: the workloads as read, or with `derive` the families derived from each. */
async function loadWorkloads(o: FgdScenarioOptions, nodes: readonly ShareNodeSpec[]): Promise<Family[]> {
  const out: Family[] = [];
  for (const workload of o.workloads) {
    const file = workloadFile(workload);
    const { tasks, stats } = await readOpenbTasks(join(o.traceDir, file));
    if (!o.derive || o.derive.length === 0) {
      out.push({ workload, file, stats, tasks });
      continue;
    }
    const seed = o.deriveSeed ?? 1;
    for (const spec of o.derive) {
      out.push({
        workload: derivedName(workload, spec),
        file,
        stats,
        tasks: deriveWorkload(tasks, nodes, spec, seed),
        derivedFrom: { workload, kind: spec.kind, share: spec.share, seed },
      });
    }
  }
  return out;
}

/** runFgdScenario: every workload x seed x policy; the arrival order is built once per seed. */
export async function runFgdScenario(o: FgdScenarioOptions): Promise<FgdScenarioResult> {
  const tune = o.tune ?? 1.3;
  const nodeFile = o.nodeFile ?? NODE_FILE;
  const nodes = (await readOpenbNodes(join(o.traceDir, nodeFile))).filter((n) => n.gpus > 0);
  const gpus = nodes.reduce((s, n) => s + n.gpus, 0);
  const target = tune * gpus * 1000;
  const result: FgdScenarioResult = {
    cluster: { nodes: nodes.length, gpus, cpuMilli: nodes.reduce((s, n) => s + n.cpuMilli, 0), file: nodeFile },
    tune,
    ties: o.ties ?? 'first',
    bucketing: o.bucketing ?? 'exact',
    seeds: [...o.seeds],
    policies: [...o.policies],
    workloads: [],
    runs: [],
  };
  const families = await loadWorkloads(o, nodes);
  const total = families.length * o.seeds.length * o.policies.length;
  let done = 0;
  for (const { workload, file, stats, tasks, derivedFrom } of families) {
    o.onWorkload?.(workload, tasks);
    const models = policyModels(tasks, nodes);
    const typical = models.fgd.typical;
    const info: FgdWorkloadInfo = {
      workload,
      file,
      import: stats,
      inflatedTasks: [],
      typicalShapes: typical.length,
      typicalCoverage: 0.95,
      ...(derivedFrom ? { derivedFrom } : {}),
      order: o.orderDir ? 'file' : 'protocol',
    };
    result.workloads.push(info);
    const given = o.orderDir ? readOrder(orderFile(o.orderDir, workload), tasks) : null;
    for (const seed of o.seeds) {
      const order = given ? given.get(seed) : arrivalOrder(tasks, seed, target);
      if (!order) throw new TraceFormatError(`${orderFile(o.orderDir ?? '', workload)}: no arrival order for seed ${seed}`);
      info.inflatedTasks.push(order.length);
      o.onOrder?.(workload, seed, order);
      for (const policy of o.policies) {
        o.onProgress?.(done, total, `${workload} seed ${seed} ${policy}`);
        const listen = o.onPlacement;
        const onPlace = listen
          ? (i: number, t: ShareTask, p: SharePlacement | null) => listen(workload, policy, seed, i, t, p, nodes)
          : undefined;
        result.runs.push({
          workload,
          seed,
          ...runPlacement(nodes, order, policy, models, seed, result.ties, onPlace, result.bucketing),
        });
        done++;
      }
    }
  }
  o.onProgress?.(done, total, 'done');
  return result;
}

export interface Stats {
  n: number;
  median: number;
  mean: number;
  sd: number;
  min: number;
  max: number;
}

/** stats over seeds (sample sd, as the authors' summary). */
export function stats(xs: readonly number[]): Stats | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, median, mean, sd, min: s[0], max: s[n - 1] };
}

/** summarize: unallocated % stats per workload x policy at an arrived %. */
export function summarize(r: FgdScenarioResult, workload: string, policy: PolicyName, arrived: number): Stats | null {
  const xs: number[] = [];
  for (const run of r.runs) {
    if (run.workload !== workload || run.policy !== policy) continue;
    const v = run.unallocated[arrived];
    if (v !== null && v !== undefined) xs.push(v);
  }
  return stats(xs);
}
