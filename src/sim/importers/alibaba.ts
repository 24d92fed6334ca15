/**
 * Alibaba GPU v2023 "openb" pod lists (`openb_pod_list_*.csv`): `name, cpu_milli, memory_mib,
 * num_gpu, gpu_milli, gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time`.
 * Files are in creation order and are streamed line by line. Mapping: see src/sim/README.md.
 */
import { type ShareNodeSpec, type ShareTask, validateTask } from '../../scheduler/sharing/cluster.js';
import { bump, type ImportStats, newImportStats, type SimJob } from '../types.js';
import {
  headerIndex,
  type ImportedTrace,
  type ImporterOptions,
  num,
  optionalColumn,
  ownTimeLimit,
  readLines,
  shapeFor,
  splitCsv,
  TIME_LIMIT_COLUMN,
  TraceFormatError,
  timeLimitFor,
} from './common.js';

export const ALIBABA_COLUMNS = [
  'name',
  'num_gpu',
  'gpu_milli',
  'gpu_spec',
  'qos',
  'pod_phase',
  'creation_time',
  'deletion_time',
  'scheduled_time',
] as const;

/** What to do with GPU-sharing pods (num_gpu 1, gpu_milli < 1000): take a whole GPU, or drop them. */
export type FractionalMode = 'round-up' | 'skip';

export interface AlibabaOptions extends ImporterOptions {
  fractional?: FractionalMode;
}

export function importAlibaba(path: string, opts: AlibabaOptions): ImportedTrace {
  const stats = newImportStats();
  const fractional = opts.fractional ?? 'round-up';
  async function* jobs(): AsyncGenerator<SimJob> {
    let col: Record<(typeof ALIBABA_COLUMNS)[number], number> | null = null;
    let limitCol = -1;
    for await (const line of readLines(path)) {
      if (!col) {
        col = headerIndex(path, line.text, ALIBABA_COLUMNS);
        limitCol = optionalColumn(line.text, TIME_LIMIT_COLUMN);
        continue;
      }
      if (line.text.trim() === '') continue;
      stats.rows++;
      const f = splitCsv(line.text);
      const gpus = num(f[col.num_gpu]);
      const milli = num(f[col.gpu_milli]);
      const created = num(f[col.creation_time]);
      const deleted = num(f[col.deletion_time]);
      const scheduled = num(f[col.scheduled_time]);
      if (!Number.isInteger(gpus) || gpus < 1) {
        bump(stats.skipped, 'cpu_only_pod');
        continue;
      }
      if (!Number.isFinite(created)) {
        bump(stats.skipped, 'bad_creation_time');
        continue;
      }
      if (!Number.isFinite(scheduled)) {
        bump(stats.skipped, 'never_scheduled');
        continue;
      }
      if (!Number.isFinite(deleted)) {
        bump(stats.skipped, 'no_deletion_time');
        continue;
      }
      if (Number.isFinite(milli) && milli < 1000) {
        if (fractional === 'skip') {
          bump(stats.skipped, 'fractional_gpu');
          continue;
        }
        bump(stats.adjusted, 'fractional_gpu_rounded_up');
      }
      if ((f[col.gpu_spec] ?? '') !== '') bump(stats.adjusted, 'gpu_spec_ignored');
      if (f[col.pod_phase] === 'Running') bump(stats.adjusted, 'running_at_trace_end_censored');
      let duration = deleted - scheduled;
      if (duration < 0) {
        bump(stats.adjusted, 'negative_duration_set_to_0');
        duration = 0;
      }
      const shape = shapeFor(gpus, opts.nodeSize);
      if (shape.roundedUp) bump(stats.adjusted, 'gpus_rounded_up_to_whole_nodes');
      stats.jobs++;
      yield {
        id: f[col.name] || `openb-${stats.rows}`,
        submitTime: created,
        org: 'alibaba',
        project: f[col.qos] || 'unknown-qos',
        gpuType: null,
        gpusPerNode: shape.gpusPerNode,
        nodes: shape.nodes,
        duration,
        wallLimit: timeLimitFor(duration, ownTimeLimit(f, limitCol)),
      };
    }
  }
  return { jobs: jobs(), stats };
}

// ------------------------------------------------------------------ openb as a GPU-sharing cluster

/**
 * The FGD experiment (src/sim/fgd) needs what the time-driven import above drops: every pod with
 * its CPU, memory, GPU count, milli-GPU share and GPU-model constraint (no times, CPU-only pods
 * kept, fractions kept), and the node list as the fleet. Both files are small (< 10,000 rows) and
 * are read whole. The multigpu* variants have no `gpu_spec` column: it is optional.
 */
export const OPENB_TASK_COLUMNS = ['name', 'cpu_milli', 'memory_mib', 'num_gpu', 'gpu_milli'] as const;
export const OPENB_NODE_COLUMNS = ['sn', 'cpu_milli', 'memory_mib', 'gpu', 'model'] as const;

async function readRows(path: string): Promise<{ header: string; rows: { line: number; f: string[] }[] }> {
  let header: string | null = null;
  const rows: { line: number; f: string[] }[] = [];
  let line = 0;
  for await (const l of readLines(path)) {
    line++;
    if (header === null) {
      header = l.text;
      continue;
    }
    if (l.text.trim() === '') continue;
    rows.push({ line, f: splitCsv(l.text) });
  }
  if (header === null) throw new TraceFormatError(`${path}: empty file (no header)`);
  return { header, rows };
}

function intField(path: string, line: number, name: string, s: string | undefined, min: number): number {
  const v = num(s);
  if (!Number.isInteger(v) || v < min) {
    throw new TraceFormatError(`${path}:${line}: ${name} must be a whole number >= ${min}, got "${s ?? ''}"`);
  }
  return v;
}

/** readOpenbTasks reads an `openb_pod_list_*.csv` as ShareTasks, in file order. */
export async function readOpenbTasks(path: string): Promise<{ tasks: ShareTask[]; stats: ImportStats }> {
  const stats = newImportStats();
  const { header, rows } = await readRows(path);
  const col = headerIndex(path, header, OPENB_TASK_COLUMNS);
  const spec = splitCsv(header.replace(/^\uFEFF/, '')).indexOf('gpu_spec');
  const tasks: ShareTask[] = [];
  for (const { line, f } of rows) {
    stats.rows++;
    const gpus = intField(path, line, 'num_gpu', f[col.num_gpu], 0);
    let milli = intField(path, line, 'gpu_milli', f[col.gpu_milli], 0);
    if (gpus === 0 && milli !== 0) {
      bump(stats.adjusted, 'cpu_pod_gpu_milli_set_to_0');
      milli = 0;
    }
    const models = spec >= 0 && (f[spec] ?? '') !== '' ? f[spec].split('|').filter((m) => m !== '') : null;
    if (models) bump(stats.adjusted, 'gpu_model_constraint');
    const task: ShareTask = {
      id: f[col.name] || `openb-${stats.rows}`,
      cpuMilli: intField(path, line, 'cpu_milli', f[col.cpu_milli], 0),
      memoryMiB: intField(path, line, 'memory_mib', f[col.memory_mib], 0),
      gpus,
      gpuMilli: milli,
      models,
    };
    const bad = validateTask(task);
    if (bad) throw new TraceFormatError(`${path}:${line}: ${bad}`);
    if (gpus === 0) bump(stats.adjusted, 'cpu_only_pod');
    else if (milli < 1000) bump(stats.adjusted, 'fractional_gpu_pod');
    stats.jobs++;
    tasks.push(task);
  }
  return { tasks, stats };
}

/** readOpenbNodes reads an `openb_node_list_*.csv` as ShareNodeSpecs, in file order. */
export async function readOpenbNodes(path: string): Promise<ShareNodeSpec[]> {
  const { header, rows } = await readRows(path);
  const col = headerIndex(path, header, OPENB_NODE_COLUMNS);
  return rows.map(({ line, f }) => ({
    name: f[col.sn] || `node-${line}`,
    cpuMilli: intField(path, line, 'cpu_milli', f[col.cpu_milli], 0),
    memoryMiB: intField(path, line, 'memory_mib', f[col.memory_mib], 0),
    gpus: intField(path, line, 'gpu', f[col.gpu], 0),
    model: f[col.model] ?? '',
  }));
}
