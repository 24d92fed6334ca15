/**
 * The FGD authors' published results, read from `summary_unallocated_gpu_pct.csv` of
 * ../shared/traces/fgd-atc23-results (derived from their per-seed `analysis_allo_discrete.csv`):
 * per workload x policy x arrived % (70, 75, ..., 130) the median, mean and sd over 10 seeds of
 * unallocated GPU %. Read by path at run time; nothing of it is shipped.
 */
import { readFileSync } from 'node:fs';
import type { PolicyName } from '../../scheduler/sharing/policies.js';
import { headerIndex, num, splitCsv } from '../importers/common.js';

export const PAPER_SUMMARY_FILE = 'summary_unallocated_gpu_pct.csv';

/** The authors' policy labels -> our policy names. */
export const PAPER_POLICY: Readonly<Record<string, PolicyName>> = {
  '01-Random': 'random',
  '02-DotProd': 'dotprod',
  '03-GpuClustering': 'clustering',
  '04-GpuPacking': 'packing',
  '05-BestFit': 'bestfit',
  '06-FGD': 'fgd',
};

export interface PaperPoint {
  n: number;
  median: number;
  mean: number;
  sd: number;
}

/** PaperResults: key `${workload}|${policy}|${arrived}`. */
export type PaperResults = Map<string, PaperPoint>;

export function paperKey(workload: string, policy: PolicyName, arrived: number): string {
  return `${workload}|${policy}|${arrived}`;
}

const COLUMNS = [
  'workload',
  'policy',
  'arrived_pct',
  'n_seeds',
  'median_unalloc_pct',
  'mean_unalloc_pct',
  'sd_unalloc_pct',
] as const;

/** readPaperSummary parses the summary CSV; workloads are keyed without `openb_pod_list_`. */
export function readPaperSummary(path: string): PaperResults {
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const col = headerIndex(path, lines[0] ?? '', COLUMNS);
  const out: PaperResults = new Map();
  for (const line of lines.slice(1)) {
    const f = splitCsv(line);
    const policy = PAPER_POLICY[f[col.policy]];
    if (!policy) continue;
    const workload = f[col.workload].replace(/^openb_pod_list_/, '');
    out.set(paperKey(workload, policy, num(f[col.arrived_pct])), {
      n: num(f[col.n_seeds]),
      median: num(f[col.median_unalloc_pct]),
      mean: num(f[col.mean_unalloc_pct]),
      sd: num(f[col.sd_unalloc_pct]),
    });
  }
  return out;
}
