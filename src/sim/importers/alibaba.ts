/**
 * Alibaba GPU v2023 "openb" pod lists (`openb_pod_list_*.csv`): `name, cpu_milli, memory_mib,
 * num_gpu, gpu_milli, gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time`.
 * Files are in creation order and are streamed line by line. Mapping: see src/sim/README.md.
 */
import { bump, newImportStats, type SimJob } from '../types.js';
import { headerIndex, type ImportedTrace, type ImporterOptions, num, readLines, shapeFor, splitCsv } from './common.js';

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
    for await (const line of readLines(path)) {
      if (!col) {
        col = headerIndex(path, line.text, ALIBABA_COLUMNS);
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
        wallLimit: duration,
      };
    }
  }
  return { jobs: jobs(), stats };
}
