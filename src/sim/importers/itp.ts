/**
 * Microsoft ITP 2021 raw traces (ElasticFlow `clusterNN.csv`): `job_id, submission_time, duration, num_gpu`.
 * Files are in submission order and are streamed line by line. Mapping: see src/sim/README.md.
 */
import { basename } from 'node:path';
import { bump, newImportStats, type SimJob } from '../types.js';
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
  timeLimitFor,
} from './common.js';

export const ITP_COLUMNS = ['job_id', 'submission_time', 'duration', 'num_gpu'] as const;

export function importItp(path: string, opts: ImporterOptions): ImportedTrace {
  const stats = newImportStats();
  const project = basename(path).replace(/\.csv$/i, '');
  async function* jobs(): AsyncGenerator<SimJob> {
    let col: Record<(typeof ITP_COLUMNS)[number], number> | null = null;
    let limitCol = -1;
    for await (const line of readLines(path)) {
      if (!col) {
        col = headerIndex(path, line.text, ITP_COLUMNS);
        limitCol = optionalColumn(line.text, TIME_LIMIT_COLUMN);
        continue;
      }
      if (line.text.trim() === '') continue;
      stats.rows++;
      const f = splitCsv(line.text);
      const submit = num(f[col.submission_time]);
      const duration = num(f[col.duration]);
      const gpus = num(f[col.num_gpu]);
      if (!Number.isFinite(submit)) {
        bump(stats.skipped, 'bad_submission_time');
        continue;
      }
      if (!Number.isFinite(duration) || duration < 0) {
        bump(stats.skipped, 'bad_duration');
        continue;
      }
      if (!Number.isInteger(gpus) || gpus < 1) {
        bump(stats.skipped, 'no_gpus');
        continue;
      }
      const shape = shapeFor(gpus, opts.nodeSize);
      if (shape.roundedUp) bump(stats.adjusted, 'gpus_rounded_up_to_whole_nodes');
      if (shape.nodes > 1) bump(stats.adjusted, 'multi_node_gang');
      stats.jobs++;
      yield {
        id: f[col.job_id] || `itp-${stats.rows}`,
        submitTime: submit,
        org: 'itp',
        project,
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
