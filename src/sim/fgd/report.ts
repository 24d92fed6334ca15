/**
 * FGD scenario reports: the terminal table (ours beside the paper at one arrived %), a
 * deterministic `fgd-results.json` and a self-contained `fgd-report.html` with one inline-SVG plot
 * per workload (unallocated GPU % against arrived load; ours solid, the paper's medians dashed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Table from 'cli-table3';
import type { PolicyName } from '../../scheduler/sharing/policies.js';
import { escapeHtml, lineChart, type PlotLine } from '../report.js';
import { type PaperResults, paperKey } from './paper.js';
import { type FgdScenarioResult, type Stats, stats, summarize } from './scenario.js';

export const SUMMARY_ARRIVED = [70, 75, 80, 85, 90, 95, 100, 105, 110, 115, 120, 125, 130] as const;
const COLORS: Record<PolicyName, string> = {
  random: '#7f7f7f',
  dotprod: '#8c564b',
  clustering: '#9467bd',
  packing: '#ff7f0e',
  bestfit: '#2ca02c',
  fgd: '#1f77b4',
  gigafab: '#d62728',
};

function f2(x: number | undefined | null): string {
  return x === undefined || x === null || !Number.isFinite(x) ? '-' : x.toFixed(2);
}

function failedMedian(r: FgdScenarioResult, workload: string, policy: PolicyName): number | null {
  const s = stats(r.runs.filter((x) => x.workload === workload && x.policy === policy).map((x) => x.failedTasks));
  return s ? s.median : null;
}

/** ourVsFgd: (ours - FGD) in points and as a relative change of FGD's unallocated GPUs. */
export function ourVsFgd(
  r: FgdScenarioResult,
  workload: string,
  arrived: number,
): { ours: Stats; fgd: Stats; points: number; relative: number } | null {
  const ours = summarize(r, workload, 'gigafab', arrived);
  const fgd = summarize(r, workload, 'fgd', arrived);
  if (!ours || !fgd) return null;
  return { ours, fgd, points: ours.median - fgd.median, relative: (ours.median - fgd.median) / fgd.median };
}

/** renderFgdTable: one row per workload x policy at `arrived` % (paper: 100). */
export function renderFgdTable(r: FgdScenarioResult, paper: PaperResults | null, arrived = 100): string {
  const table = new Table({
    head: [
      'workload',
      'policy',
      `ours median @${arrived}%`,
      'ours mean ± sd',
      'paper median',
      'paper mean ± sd',
      'ours - paper',
      'failed tasks',
    ],
    style: { head: [], border: [] },
  });
  const lines: string[] = [];
  for (const w of r.workloads) {
    for (const p of r.policies) {
      const s = summarize(r, w.workload, p, arrived);
      const pp = paper?.get(paperKey(w.workload, p, arrived));
      table.push([
        w.workload,
        p,
        f2(s?.median),
        s ? `${f2(s.mean)} ± ${f2(s.sd)}` : '-',
        f2(pp?.median),
        pp ? `${f2(pp.mean)} ± ${f2(pp.sd)}` : '-',
        s && pp ? (s.median - pp.median >= 0 ? '+' : '') + f2(s.median - pp.median) : '-',
        String(failedMedian(r, w.workload, p) ?? '-'),
      ]);
    }
    const v = ourVsFgd(r, w.workload, arrived);
    const pf = paper?.get(paperKey(w.workload, 'fgd', arrived));
    if (v) {
      const beat = v.points < 0 ? 'beats' : 'does not beat';
      lines.push(
        `${w.workload}: gigafab ${beat} FGD at ${arrived}% arrived: ${f2(v.ours.median)} vs ${f2(v.fgd.median)} % unallocated ` +
          `(${(v.relative * 100).toFixed(1)} %)${pf ? `; paper's FGD ${f2(pf.median)}` : ''}`,
      );
    }
  }
  return `${table.toString()}\nUnallocated GPU % (100 - allocated %) at ${arrived}% arrived load, over seeds ${r.seeds.join(',')}; ties: ${r.ties}; bucketing: ${r.bucketing}.\n${lines.join('\n')}`;
}

export interface FgdSummaryRow {
  workload: string;
  policy: PolicyName;
  arrived: number;
  ours: Stats | null;
  paper: { n: number; median: number; mean: number; sd: number } | null;
}

/** fgdJson: config, per-seed curves and the summary; no wall-clock values (deterministic). */
export function fgdJson(r: FgdScenarioResult, paper: PaperResults | null): string {
  const summary: FgdSummaryRow[] = [];
  for (const w of r.workloads)
    for (const p of r.policies)
      for (const a of SUMMARY_ARRIVED) {
        summary.push({
          workload: w.workload,
          policy: p,
          arrived: a,
          ours: summarize(r, w.workload, p, a),
          paper: paper?.get(paperKey(w.workload, p, a)) ?? null,
        });
      }
  return `${JSON.stringify({ scenario: 'fgd', ...r, summary }, null, 1)}\n`;
}

/** fgdHtml: summary table and one plot per workload. */
export function fgdHtml(r: FgdScenarioResult, paper: PaperResults | null): string {
  const charts: string[] = [];
  const xs = SUMMARY_ARRIVED.filter((a) => a >= 70);
  for (const w of r.workloads) {
    const lines: PlotLine[] = [];
    for (const p of r.policies) {
      const ys: number[] = [];
      const px: number[] = [];
      for (let a = 70; a <= 130; a++) {
        const s = summarize(r, w.workload, p, a);
        if (s) {
          px.push(a);
          ys.push(s.median);
        }
      }
      lines.push({ name: `${p} (ours)`, xs: px, ys, color: COLORS[p] });
      if (paper) {
        const pys: number[] = [];
        const pxs: number[] = [];
        for (const a of xs) {
          const pp = paper.get(paperKey(w.workload, p, a));
          if (pp) {
            pxs.push(a);
            pys.push(pp.median);
          }
        }
        if (pxs.length > 0) lines.push({ name: `${p} (paper)`, xs: pxs, ys: pys, color: COLORS[p], dash: '6 3' });
      }
    }
    charts.push(
      lineChart(lines, {
        title: `${w.workload}: unallocated GPU % vs arrived load (median over seeds)`,
        xLabel: 'arrived GPU request, % of cluster GPUs',
        yLabel: 'unallocated GPU %',
        yMin: 0,
        height: 380,
      }),
    );
  }
  const rows: string[] = [];
  for (const w of r.workloads)
    for (const p of r.policies) {
      const s = summarize(r, w.workload, p, 100);
      const pp = paper?.get(paperKey(w.workload, p, 100));
      rows.push(
        `<tr><td>${escapeHtml(w.workload)}</td><td>${escapeHtml(p)}</td><td>${f2(s?.median)}</td><td>${s ? `${f2(s.mean)} ± ${f2(s.sd)}` : '-'}</td><td>${f2(pp?.median)}</td><td>${pp ? `${f2(pp.mean)} ± ${f2(pp.sd)}` : '-'}</td></tr>`,
      );
    }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gigafab: FGD (ATC '23) reproduction</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2){text-align:left}.charts svg{display:block;margin:16px 0}</style>
</head><body>
<h1>FGD (USENIX ATC '23) reproduction</h1>
<p>Cluster: ${r.cluster.nodes} nodes, ${r.cluster.gpus} GPUs (${escapeHtml(r.cluster.file)}); tasks inflated to ${r.tune} x GPU capacity; seeds ${r.seeds.join(', ')}; ties: ${r.ties}; bucketing: ${r.bucketing}. Unallocated GPU % = 100 - allocated %. Paper values: the authors' per-seed results (dashed). Protocol and differences: docs/fgd-reproduction.md.</p>
<h2>At 100 % arrived load</h2>
<table><tr><th>workload</th><th>policy</th><th>ours median</th><th>ours mean ± sd</th><th>paper median</th><th>paper mean ± sd</th></tr>
${rows.join('\n')}
</table>
<h2>Plots</h2><div class="charts">${charts.join('\n')}</div>
</body></html>
`;
}

/** writeFgdReport writes fgd-results.json and fgd-report.html into `dir`. */
export function writeFgdReport(r: FgdScenarioResult, paper: PaperResults | null, dir: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'fgd-results.json');
  const html = join(dir, 'fgd-report.html');
  writeFileSync(json, fgdJson(r, paper));
  writeFileSync(html, fgdHtml(r, paper));
  return { json, html };
}
