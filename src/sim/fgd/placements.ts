/**
 * Files that let a third party check the FGD scenario's placements without our code:
 *
 * - placements (`--placements-out FILE`): one row per arrived task, in arrival order,
 *   `workload,policy,seed,index,task,node,gpus`; `index` counts from 0 within the run (workload x
 *   policy x seed), `task` is the pod's `name` in the pod list, `node` the node's `sn` (empty when
 *   the task failed: it fit nowhere), `gpus` the GPUs it took as `gpuIndex:milli` joined by `|`
 *   (`0:1000|1:1000` = GPUs 0 and 1 of the node whole, `3:470` = 470 milli-GPU of GPU 3; GPU
 *   indexes count from 0 in node order; empty for a CPU-only or failed task).
 * - arrival orders (`--arrival-order-out DIR`, replayed by `--arrival-order DIR`): one file per
 *   workload, `DIR/<workload>.csv`, rows `seed,index,task`: the order in which the pods of the pod
 *   list arrive for that seed (a pod appears again for each copy the inflation made).
 *
 * Both are plain CSV with a header; names never contain commas in the openb trace, and we refuse
 * any that would need quoting rather than quote them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ShareNodeSpec, SharePlacement, ShareTask } from '../../scheduler/sharing/cluster.js';
import { headerIndex, splitCsv, TraceFormatError } from '../importers/common.js';

export const PLACEMENTS_HEADER = 'workload,policy,seed,index,task,node,gpus';
export const ORDER_HEADER = 'seed,index,task';
const ORDER_COLUMNS = ['seed', 'index', 'task'] as const;

function plain(s: string, what: string): string {
  if (/[",\r\n]/.test(s)) throw new TraceFormatError(`${what} "${s}" contains a comma, quote or line break`);
  return s;
}

/** encodeGpus: `gpuIndex:milli` per GPU the task took, joined by `|` (empty for none). */
export function encodeGpus(t: ShareTask, p: SharePlacement | null): string {
  if (!p) return '';
  return p.gpus.map((g) => `${g}:${t.gpuMilli}`).join('|');
}

/** placementRow: one CSV line (no newline) of the placements file. */
export function placementRow(
  workload: string,
  policy: string,
  seed: number,
  index: number,
  t: ShareTask,
  p: SharePlacement | null,
  nodes: readonly ShareNodeSpec[],
): string {
  const node = p ? plain(nodes[p.node].name, 'node name') : '';
  return `${plain(workload, 'workload')},${policy},${seed},${index},${plain(t.id, 'task name')},${node},${encodeGpus(t, p)}`;
}

/** orderFile: the file of a workload's arrival orders in an arrival-order folder. */
export function orderFile(dir: string, workload: string): string {
  return join(dir, `${workload}.csv`);
}

/** formatOrder: the arrival orders of one workload, one block per seed. */
export function formatOrder(orders: ReadonlyMap<number, readonly ShareTask[]>): string {
  const lines = [ORDER_HEADER];
  for (const [seed, order] of orders) {
    for (let i = 0; i < order.length; i++) lines.push(`${seed},${i},${plain(order[i].id, 'task name')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * readOrder reads a workload's arrival-order file into task lists per seed, each task looked up by
 * name in the workload's pod list. Rows of a seed must count 0, 1, 2, ... in file order.
 */
export function readOrder(path: string, tasks: readonly ShareTask[]): Map<number, ShareTask[]> {
  const byName = new Map<string, ShareTask>();
  for (const t of tasks) {
    if (byName.has(t.id)) throw new TraceFormatError(`${path}: the pod list names "${t.id}" twice; an order cannot refer to it`);
    byName.set(t.id, t);
  }
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  const col = headerIndex(path, lines[0] ?? '', ORDER_COLUMNS);
  const out = new Map<number, ShareTask[]>();
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const f = splitCsv(lines[i]);
    const seed = Number(f[col.seed]);
    const index = Number(f[col.index]);
    if (!Number.isInteger(seed) || !Number.isInteger(index))
      throw new TraceFormatError(`${path}:${i + 1}: seed and index must be whole numbers`);
    const task = byName.get(f[col.task] ?? '');
    if (!task) throw new TraceFormatError(`${path}:${i + 1}: task "${f[col.task] ?? ''}" is not in the pod list`);
    let order = out.get(seed);
    if (!order) {
      order = [];
      out.set(seed, order);
    }
    if (index !== order.length)
      throw new TraceFormatError(`${path}:${i + 1}: seed ${seed} expects index ${order.length}, got ${index}`);
    order.push(task);
  }
  return out;
}

/** formatPodList: a task list in the openb pod-list format (the columns the scenario reads). */
export function formatPodList(tasks: readonly ShareTask[]): string {
  const lines = ['name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec'];
  for (const t of tasks)
    lines.push(
      `${plain(t.id, 'task name')},${t.cpuMilli},${t.memoryMiB},${t.gpus},${t.gpuMilli},${plain((t.models ?? []).join('|'), 'gpu_spec')}`,
    );
  return `${lines.join('\n')}\n`;
}
