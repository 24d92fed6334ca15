/**
 * Philly 2017 (Pollux artifact `philly.csv`): `timestamp, duration, num_gpus, gpu_time, cluster`.
 * The file is NOT in submission order, so it is read through `sortedLines` (index sort, 20 bytes
 * per row; rows are never held). Mapping: see src/sim/README.md.
 */
import { bump, newImportStats, type SimJob } from '../types.js';
import {
  headerIndex,
  type ImportedTrace,
  type ImporterOptions,
  num,
  optionalColumn,
  ownTimeLimit,
  shapeFor,
  sortedLines,
  splitCsv,
  TIME_LIMIT_COLUMN,
  timeLimitFor,
} from './common.js';

export const PHILLY_COLUMNS = ['timestamp', 'duration', 'num_gpus', 'cluster'] as const;

/** parsePhillyTime: `YYYY-MM-DD HH:MM:SS` read as UTC -> epoch seconds (NaN if malformed). */
export function parsePhillyTime(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(s.trim());
  if (!m) return Number.NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
}

export function importPhilly(path: string, opts: ImporterOptions): ImportedTrace {
  const stats = newImportStats();
  async function* jobs(): AsyncGenerator<SimJob> {
    let col: Record<(typeof PHILLY_COLUMNS)[number], number> | null = null;
    let limitCol = -1;
    const lines = sortedLines(
      path,
      (text) => parsePhillyTime(splitCsv(text)[col!.timestamp]),
      (header) => {
        col = headerIndex(path, header, PHILLY_COLUMNS);
        limitCol = optionalColumn(header, TIME_LIMIT_COLUMN);
      },
      () => {
        stats.rows++;
        bump(stats.skipped, 'bad_timestamp');
      },
    );
    let i = 0;
    for await (const text of lines) {
      stats.rows++;
      const f = splitCsv(text);
      const c = col!;
      const submit = parsePhillyTime(f[c.timestamp]);
      const duration = num(f[c.duration]);
      const gpus = num(f[c.num_gpus]);
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
        id: `philly-${i++}`,
        submitTime: submit,
        org: 'philly',
        project: f[c.cluster] || 'unknown-vc',
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
