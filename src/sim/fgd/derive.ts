/**
 * Derived workload families (`--scenario fgd --derive KIND=SHARE`): variants of a pod list that
 * change one property, as the FGD paper built its workload families from the production list
 * (Weng et al., ATC '23, evaluation: GPU-sharing, multi-GPU, GPU-type-constrained and non-GPU
 * task shares). We use them to tune our policy on workloads other than the published ones.
 *
 * - `gpushare=X`: fractional tasks ask for X % of the GPU request. Random whole 1-GPU tasks become
 *   fractions (milli-GPU drawn from the list's own fractions), or random fractions become whole
 *   GPUs, until the share crosses X. Task count unchanged (as the published gpushare* lists).
 * - `multigpu=X`: tasks of 2+ GPUs ask for X % of the GPU request. Copies of random multi-GPU
 *   tasks are appended (or random ones removed) until the share crosses X (the published
 *   multigpu* lists grow the same way: 8,324-9,061 pods from 8,152).
 * - `gpuspec=X`: X % of the GPU tasks may only run on some GPU models: each chosen task gets one
 *   model, or a family of models sharing a name up to a memory suffix (`V100M16|V100M32`), drawn
 *   with probability proportional to the set's GPUs among the sets with a node that can hold the
 *   task. Other constraints are cleared first.
 * - `cpu=X`: X % of the list's CPU-only tasks (random ones dropped, or random copies appended).
 *
 * Deterministic: the same list, nodes, spec and seed give the same list. Copies are named
 * `<name>~<kind><n>` so that orders and placements can refer to them.
 */
import { mulberry32 } from '../../model/prng.js';
import { isFractional, MILLI, type ShareNodeSpec, type ShareTask, taskGpuMilli } from '../../scheduler/sharing/cluster.js';

export const DERIVE_KINDS = ['gpushare', 'multigpu', 'gpuspec', 'cpu'] as const;
export type DeriveKind = (typeof DERIVE_KINDS)[number];

export interface DeriveSpec {
  kind: DeriveKind;
  /** Percent: of GPU request (gpushare, multigpu), of GPU tasks (gpuspec), of CPU-only tasks (cpu). */
  share: number;
}

/** parseDerive: `KIND=SHARE`, e.g. `gpuspec=20`; returns a sentence on error. */
export function parseDerive(s: string): DeriveSpec | string {
  const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(s.trim());
  if (!m) return `invalid --derive "${s}": expected KIND=SHARE, e.g. gpuspec=20`;
  const kind = DERIVE_KINDS.find((k) => k === m[1]);
  if (!kind) return `unknown --derive kind "${m[1]}" (known: ${DERIVE_KINDS.join(', ')})`;
  const share = Number(m[2]);
  const max = kind === 'cpu' ? 1000 : 100;
  if (share > max) return `--derive ${kind}=${m[2]}: the share must be at most ${max}`;
  return { kind, share };
}

/** derivedName: the workload name of a derived family, e.g. `default~gpuspec20`. */
export function derivedName(base: string, spec: DeriveSpec): string {
  return `${base}~${spec.kind}${spec.share}`;
}

function pick<T>(xs: readonly T[], rng: () => number): T {
  return xs[Math.floor(rng() * xs.length)];
}

function gpuRequest(tasks: readonly ShareTask[], which: (t: ShareTask) => boolean): { part: number; total: number } {
  let part = 0;
  let total = 0;
  for (const t of tasks) {
    const g = taskGpuMilli(t);
    total += g;
    if (which(t)) part += g;
  }
  return { part, total };
}

function indexesOf(tasks: readonly ShareTask[], which: (t: ShareTask) => boolean): number[] {
  const out: number[] = [];
  tasks.forEach((t, i) => {
    if (which(t)) out.push(i);
  });
  return out;
}

/** takeRandom removes and returns a uniformly random element (order of the rest not kept). */
function takeRandom(xs: number[], rng: () => number): number {
  const i = Math.floor(rng() * xs.length);
  const x = xs[i];
  xs[i] = xs[xs.length - 1];
  xs.pop();
  return x;
}

const isMulti = (t: ShareTask) => t.gpus >= 2;
const isWholeSingle = (t: ShareTask) => t.gpus === 1 && t.gpuMilli === MILLI;

function deriveGpushare(tasks: ShareTask[], target: number, rng: () => number): ShareTask[] {
  const fractions = tasks.filter(isFractional).map((t) => t.gpuMilli);
  if (fractions.length === 0) fractions.push(500);
  let { part, total } = gpuRequest(tasks, isFractional);
  const below = () => total > 0 && (100 * part) / total < target;
  if (below()) {
    const whole = indexesOf(tasks, isWholeSingle);
    while (below() && whole.length > 0) {
      const i = takeRandom(whole, rng);
      const milli = pick(fractions, rng);
      tasks[i] = { ...tasks[i], gpuMilli: milli };
      part += milli;
      total += milli - MILLI;
    }
  } else {
    const frac = indexesOf(tasks, isFractional);
    while (total > 0 && (100 * part) / total > target && frac.length > 0) {
      const i = takeRandom(frac, rng);
      part -= tasks[i].gpuMilli;
      total += MILLI - tasks[i].gpuMilli;
      tasks[i] = { ...tasks[i], gpuMilli: MILLI };
    }
  }
  return tasks;
}

function deriveMultigpu(tasks: ShareTask[], target: number, rng: () => number): ShareTask[] {
  let { part, total } = gpuRequest(tasks, isMulti);
  const multi = tasks.filter(isMulti);
  if (multi.length === 0) return tasks;
  if ((100 * part) / total < target) {
    for (let n = 1; (100 * part) / total < target; n++) {
      const t = pick(multi, rng);
      tasks.push({ ...t, id: `${t.id}~multigpu${n}` });
      part += taskGpuMilli(t);
      total += taskGpuMilli(t);
    }
    return tasks;
  }
  const drop = new Set<number>();
  const idx = indexesOf(tasks, isMulti);
  while (total > 0 && (100 * part) / total > target && idx.length > 0) {
    const i = takeRandom(idx, rng);
    drop.add(i);
    part -= taskGpuMilli(tasks[i]);
    total -= taskGpuMilli(tasks[i]);
  }
  return tasks.filter((_, i) => !drop.has(i));
}

/** modelSets: each GPU model, and each family of 2+ models named alike but for a `M<memory>` suffix. */
function modelSets(nodes: readonly ShareNodeSpec[]): string[][] {
  const models = [...new Set(nodes.filter((n) => n.gpus > 0 && n.model !== '').map((n) => n.model))].sort();
  const families = new Map<string, string[]>();
  for (const m of models) {
    const f = m.replace(/M\d+$/, '');
    families.set(f, [...(families.get(f) ?? []), m]);
  }
  return [...models.map((m) => [m]), ...[...families.values()].filter((f) => f.length > 1)];
}

function deriveGpuspec(tasks: ShareTask[], nodes: readonly ShareNodeSpec[], target: number, rng: () => number): ShareTask[] {
  const sets = modelSets(nodes);
  const gpusOf = (set: readonly string[]) => nodes.reduce((s, n) => s + (set.includes(n.model) ? n.gpus : 0), 0);
  const holds = (t: ShareTask, set: readonly string[]) =>
    nodes.some((n) => set.includes(n.model) && n.gpus >= t.gpus && n.cpuMilli >= t.cpuMilli && n.memoryMiB >= t.memoryMiB);
  for (let i = 0; i < tasks.length; i++) if (tasks[i].models) tasks[i] = { ...tasks[i], models: null };
  const gpuTasks = indexesOf(tasks, (t) => t.gpus > 0);
  const want = Math.round((target / 100) * gpuTasks.length);
  for (let k = 0; k < want; k++) {
    const i = takeRandom(gpuTasks, rng);
    const fit = sets.filter((s) => holds(tasks[i], s));
    if (fit.length === 0) continue;
    const weights = fit.map(gpusOf);
    let r = rng() * weights.reduce((a, b) => a + b, 0);
    let chosen = fit[fit.length - 1];
    for (let j = 0; j < fit.length; j++) {
      r -= weights[j];
      if (r < 0) {
        chosen = fit[j];
        break;
      }
    }
    tasks[i] = { ...tasks[i], models: chosen };
  }
  return tasks;
}

function deriveCpu(tasks: ShareTask[], target: number, rng: () => number): ShareTask[] {
  const cpuOnly = indexesOf(tasks, (t) => t.gpus === 0);
  const want = Math.round((target / 100) * cpuOnly.length);
  if (want <= cpuOnly.length) {
    const drop = new Set<number>();
    while (cpuOnly.length > want) drop.add(takeRandom(cpuOnly, rng));
    return tasks.filter((_, i) => !drop.has(i));
  }
  const originals = cpuOnly.map((i) => tasks[i]);
  for (let n = 1; n <= want - originals.length; n++) {
    const t = pick(originals, rng);
    tasks.push({ ...t, id: `${t.id}~cpu${n}` });
  }
  return tasks;
}

/**
 * deriveWorkload: the derived pod list (a new array; the input is not changed). Tasks are taken in
 * name order first so that the result does not depend on the input's order.
 */
export function deriveWorkload(
  tasks: readonly ShareTask[],
  nodes: readonly ShareNodeSpec[],
  spec: DeriveSpec,
  seed: number,
): ShareTask[] {
  const sorted = [...tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rng = mulberry32((seed * 0x9e3779b1 + DERIVE_KINDS.indexOf(spec.kind) * 7919 + Math.round(spec.share * 100)) >>> 0);
  switch (spec.kind) {
    case 'gpushare':
      return deriveGpushare(sorted, spec.share, rng);
    case 'multigpu':
      return deriveMultigpu(sorted, spec.share, rng);
    case 'gpuspec':
      return deriveGpuspec(sorted, nodes, spec.share, rng);
    case 'cpu':
      return deriveCpu(sorted, spec.share, rng);
  }
}
