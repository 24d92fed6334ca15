/**
 * Simulation reports: a terminal summary table (cli-table3), results.json, and a self-contained
 * report.html whose plots are inline SVG generated here (no scripts, no external resources).
 * Several runs (--compare) appear side by side in the tables and overlaid in the plots.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Table from 'cli-table3';
import type { RunOutput, RunRecord } from './run.js';

type Row = [string, ...string[]];

function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1e6) return x.toExponential(2);
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** summaryRows: one row per metric, one column per run. */
export function summaryRows(out: RunOutput): { head: string[]; rows: Row[] } {
  const runs = out.runs;
  const col = (f: (r: RunRecord) => string): string[] => runs.map(f);
  const rows: Row[] = [
    ['fleet GPUs', ...col((r) => fmt(r.fleet.gpus, 0))],
    ['jobs submitted', ...col((r) => fmt(r.summary.jobs.submitted, 0))],
    ['rejected (never fit fleet)', ...col((r) => fmt(r.summary.jobs.rejectedUnsatisfiable, 0))],
    ['never started', ...col((r) => fmt(r.summary.jobs.neverStarted, 0))],
    ['timed out', ...col((r) => fmt(r.summary.jobs.timedOut, 0))],
    ['GPU allocation (steady)', ...col((r) => pct(r.summary.allocationRatio.steady))],
    ['GPU allocation (whole run)', ...col((r) => pct(r.summary.allocationRatio.overall))],
    ['unallocated GPUs (steady)', ...col((r) => pct(r.summary.unallocatedRatio.steady))],
    ['fragmented GPUs (steady)', ...col((r) => pct(r.summary.fragmentationRatio.steady))],
    ['queue delay p50 / p95 / p99 (s)', ...col((r) => dist(r.summary.queueDelay))],
    ['queue delay mean (s)', ...col((r) => fmt(r.summary.queueDelay.mean))],
    ['JCT p50 / p95 / p99 (s)', ...col((r) => dist(r.summary.jct))],
    ['JCT mean (s)', ...col((r) => fmt(r.summary.jct.mean))],
    ['bounded slowdown p50 / p95 / p99', ...col((r) => dist(r.summary.boundedSlowdown, 2))],
    ['bounded slowdown mean', ...col((r) => fmt(r.summary.boundedSlowdown.mean, 2))],
    ["Jain's fairness, whole run", ...col((r) => r.summary.jainFairness.toFixed(3))],
    [
      "Jain's fairness, steady state",
      ...col((r) => (r.summary.jainFairnessSteady === null ? '-' : r.summary.jainFairnessSteady.toFixed(3))),
    ],
    ['makespan (h)', ...col((r) => fmt(r.summary.makespan / 3600, 1))],
    ['scheduling cycles', ...col((r) => fmt(r.summary.cycles, 0))],
    [
      'preemptions / lost GPU-hours',
      ...col((r) => `${fmt(r.summary.preemptions.count, 0)} / ${fmt(r.summary.preemptions.lostGpuHours, 1)}`),
    ],
  ];
  return { head: ['metric', ...runs.map((r) => r.label)], rows };
}

function dist(d: { p50: number; p95: number; p99: number }, digits = 0): string {
  return `${fmt(d.p50, digits)} / ${fmt(d.p95, digits)} / ${fmt(d.p99, digits)}`;
}

/** renderSummaryTable: the terminal table. */
export function renderSummaryTable(out: RunOutput): string {
  const { head, rows } = summaryRows(out);
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) table.push(r);
  const notes = summaryNotes(out);
  return notes.length > 0 ? `${table.toString()}\n${notes.map((n) => `note: ${n}`).join('\n')}` : table.toString();
}

/** summaryNotes: sentences that explain counts a reader would otherwise wonder about (time-outs, rejections). */
export function summaryNotes(out: RunOutput): string[] {
  const notes: string[] = [];
  const most = (f: (r: RunRecord) => number) => Math.max(0, ...out.runs.map(f));
  const upTo = out.runs.length > 1 ? 'up to ' : '';
  const timedOut = most((r) => r.summary.jobs.timedOut);
  const syn = out.config.synthetic;
  if (timedOut > 0)
    notes.push(
      syn
        ? `${upTo}${fmt(timedOut, 0)} jobs timed out by design: the synthetic workload gives ${pct(syn.timeoutFraction)} of jobs a wall limit shorter than their runtime, as users underestimate limits (--timeout-fraction).`
        : `${upTo}${fmt(timedOut, 0)} jobs ran into their wall limit and were stopped there (the trace's time-limit column, else 24 h or the runtime rounded up to the hour, at most 30 days).`,
    );
  const rejected = most((r) => r.summary.jobs.rejectedUnsatisfiable);
  if (rejected > 0)
    notes.push(`${upTo}${fmt(rejected, 0)} jobs asked for more than the fleet has (GPU type or gang size) and were rejected.`);
  if (syn && syn.diurnalAmplitude > 0)
    notes.push(
      `arrivals follow a daily cycle: mean offered load ${pct(syn.targetLoad)} of the fleet, peaking at ${pct(syn.targetLoad * (1 + syn.diurnalAmplitude))} (--load, --diurnal), so queues form by day and drain by night.`,
    );
  return notes;
}

/** resultsJson: deterministic (no wall-clock values), so equal inputs give byte-identical files. */
export function resultsJson(out: RunOutput): string {
  return `${JSON.stringify(out, null, 1)}\n`;
}

// ------------------------------------------------------------------ SVG plots

/** Tenants drawn with a line each in the share chart; the others are summed into one line. */
const LEGEND_TENANTS = 6;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const DASHES = ['', '6 3', '2 2', '8 3 2 3'];

export interface PlotLine {
  name: string;
  xs: readonly number[];
  ys: readonly number[];
  color?: string;
  dash?: string;
  /** Draw as a step function (CDFs). */
  step?: boolean;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  yMin?: number;
  yMax?: number;
  width?: number;
  height?: number;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  return Number(v.toPrecision(4)).toString();
}

/** lineChart renders lines as a standalone <svg> element. */
export function lineChart(lines: readonly PlotLine[], o: PlotOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 320;
  const m = { l: 64, r: 16, t: 28, b: 44 };
  const legendH = 16 * Math.ceil(lines.length / 3);
  const plotH = H - m.t - m.b;
  const tx = (x: number) => (o.logX ? Math.log10(Math.max(x, 0.1)) : x);
  let x0 = Number.POSITIVE_INFINITY;
  let x1 = Number.NEGATIVE_INFINITY;
  let y0 = o.yMin ?? Number.POSITIVE_INFINITY;
  let y1 = o.yMax ?? Number.NEGATIVE_INFINITY;
  for (const l of lines) {
    for (let i = 0; i < l.xs.length; i++) {
      const x = tx(l.xs[i]);
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      if (o.yMin === undefined) y0 = Math.min(y0, l.ys[i]);
      if (o.yMax === undefined) y1 = Math.max(y1, l.ys[i]);
    }
  }
  if (!Number.isFinite(x0)) {
    x0 = 0;
    x1 = 1;
  }
  if (!Number.isFinite(y0)) y0 = 0;
  if (!Number.isFinite(y1)) y1 = 1;
  if (o.yMin === undefined) y0 = Math.min(0, y0);
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const px = (x: number) => m.l + ((tx(x) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => m.t + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + legendH}" viewBox="0 0 ${W} ${H + legendH}" role="img" aria-label="${escapeHtml(o.title)}">`,
  );
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeHtml(o.title)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (const v of ticks(y0, y1)) {
    const y = py(v).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(
      `<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${tickLabel(v)}</text>`,
    );
  }
  const xt = o.logX
    ? ticks(Math.floor(x0), Math.ceil(x1), Math.max(1, Math.ceil(x1) - Math.floor(x0))).filter((v) => Number.isInteger(v))
    : ticks(x0, x1, 6);
  for (const v of xt) {
    if (v < x0 - 1e-9 || v > x1 + 1e-9) continue;
    const real = o.logX ? 10 ** v : v;
    const x = px(real).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${x}" y="${m.t + plotH + 14}" text-anchor="middle" font-size="11">${tickLabel(real)}</text>`);
  }
  parts.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${m.t + plotH + 32}" text-anchor="middle" font-size="12">${escapeHtml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${m.t + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeHtml(o.yLabel)}</text>`,
  );
  lines.forEach((l, i) => {
    const color = l.color ?? PALETTE[i % PALETTE.length];
    const pts: string[] = [];
    for (let k = 0; k < l.xs.length; k++) {
      const x = px(l.xs[k]).toFixed(1);
      const y = py(l.ys[k]).toFixed(1);
      if (l.step && k > 0) pts.push(`${x},${py(l.ys[k - 1]).toFixed(1)}`);
      pts.push(`${x},${y}`);
    }
    if (pts.length > 0) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.6"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''} points="${pts.join(' ')}"><title>${escapeHtml(l.name)}</title></polyline>`,
      );
    }
    const lx = 10 + (i % 3) * ((W - 20) / 3);
    const ly = H + 4 + Math.floor(i / 3) * 16;
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly + 6}" y2="${ly + 6}" stroke="${color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/>`,
    );
    parts.push(`<text x="${lx + 28}" y="${ly + 10}" font-size="11">${escapeHtml(l.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

// ------------------------------------------------------------------ HTML

function hours(out: RunRecord): number[] {
  const t0 = out.summary.firstSubmit;
  return out.series.t.map((t) => (t - t0) / 3600);
}

function cdfLines(out: RunOutput, pick: (r: RunRecord) => [number, number][]): PlotLine[] {
  return out.runs.map((r, i) => {
    const pts = pick(r);
    return { name: r.label, xs: pts.map((p) => p[0]), ys: pts.map((p) => p[1]), color: PALETTE[i % PALETTE.length], step: true };
  });
}

/** renderHtml: the whole self-contained report. */
export function renderHtml(out: RunOutput): string {
  const { head, rows } = summaryRows(out);
  const many = out.runs.length > 1;
  const charts: string[] = [];
  // 1. allocated GPUs per site/type over time.
  const alloc: PlotLine[] = [];
  out.runs.forEach((r, vi) => {
    const xs = hours(r);
    Object.entries(r.series.allocatedByGroup).forEach(([g, ys], gi) => {
      alloc.push({
        name: many ? `${r.label}: ${g}` : g,
        xs,
        ys,
        color: PALETTE[gi % PALETTE.length],
        dash: DASHES[vi % DASHES.length],
      });
    });
  });
  charts.push(
    lineChart(alloc, { title: 'GPUs allocated per site / GPU type', xLabel: 'hours since first submission', yLabel: 'GPUs' }),
  );
  // 2-4. CDFs.
  charts.push(
    lineChart(
      cdfLines(out, (r) => r.distributions.queueDelayCdf),
      {
        title: 'Queueing delay CDF',
        xLabel: 'seconds (log; < 0.1 s drawn at 0.1 s)',
        yLabel: 'fraction of jobs',
        logX: true,
        yMin: 0,
        yMax: 1,
      },
    ),
  );
  charts.push(
    lineChart(
      cdfLines(out, (r) => r.distributions.jctCdf),
      { title: 'Job completion time CDF', xLabel: 'seconds (log)', yLabel: 'fraction of jobs', logX: true, yMin: 0, yMax: 1 },
    ),
  );
  charts.push(
    lineChart(
      cdfLines(out, (r) => r.distributions.boundedSlowdownCdf),
      {
        title: 'Bounded slowdown CDF (threshold 10 s)',
        xLabel: 'bounded slowdown (log)',
        yLabel: 'fraction of jobs',
        logX: true,
        yMin: 0,
        yMax: 1,
      },
    ),
  );
  // 5. tenant share vs entitlement, one chart per run: the largest tenants each, the rest as one line.
  for (const r of out.runs) {
    const xs = hours(r);
    const lines: PlotLine[] = [];
    const entries = Object.entries(r.series.tenantShare);
    const mean = (ys: readonly number[]) => ys.reduce((a, b) => a + b, 0) / Math.max(1, ys.length);
    // '(other)' is the metrics' own sum of the tenants beyond its series limit: never drawn as one tenant.
    const ranked = entries.filter(([t]) => t !== '(other)').sort((a, b) => mean(b[1]) - mean(a[1]));
    const shown = entries.length > LEGEND_TENANTS + 1 ? ranked.slice(0, LEGEND_TENANTS) : ranked;
    const rest = entries.filter((e) => !shown.includes(e));
    const others = Math.max(rest.length, r.summary.tenants.length - shown.length);
    const groups: [string, readonly number[], number][] = shown.map(([t, ys]) => [t, ys, r.series.tenantEntitlement[t] ?? 0]);
    if (rest.length > 0)
      groups.push([
        `${others} other tenants`,
        xs.map((_, k) => rest.reduce((a, [, ys]) => a + (ys[k] ?? 0), 0)),
        rest.reduce((a, [t]) => a + (r.series.tenantEntitlement[t] ?? 0), 0),
      ]);
    groups.forEach(([tenant, ys, e], i) => {
      const color = PALETTE[i % PALETTE.length];
      lines.push({ name: tenant, xs, ys: [...ys], color });
      if (xs.length > 0)
        lines.push({ name: `${tenant} entitlement`, xs: [xs[0], xs[xs.length - 1]], ys: [e, e], color, dash: '4 3' });
    });
    charts.push(
      lineChart(lines, {
        title: `Share of allocated GPUs per tenant vs entitlement${many ? ` (${r.label})` : ''}`,
        xLabel: 'hours since first submission',
        yLabel: 'share',
        yMin: 0,
        height: 360,
      }),
    );
  }
  // 6. fragmentation and free GPUs over time.
  const frag: PlotLine[] = [];
  out.runs.forEach((r, vi) => {
    const xs = hours(r);
    frag.push({
      name: `${many ? `${r.label}: ` : ''}fragmented GPUs`,
      xs,
      ys: r.series.fragmentedGpus,
      color: PALETTE[vi % PALETTE.length],
    });
    frag.push({
      name: `${many ? `${r.label}: ` : ''}free GPUs`,
      xs,
      ys: r.series.freeGpus,
      color: PALETTE[vi % PALETTE.length],
      dash: '6 3',
    });
  });
  charts.push(lineChart(frag, { title: 'Fragmented and free GPUs', xLabel: 'hours since first submission', yLabel: 'GPUs' }));
  // 7. queue length.
  charts.push(
    lineChart(
      out.runs.map((r, vi) => ({ name: r.label, xs: hours(r), ys: r.series.queuedJobs, color: PALETTE[vi % PALETTE.length] })),
      { title: 'Queued jobs', xLabel: 'hours since first submission', yLabel: 'jobs' },
    ),
  );
  // 8. preemptions: a plot only when something was preempted, else the reason there is nothing to draw.
  if (out.runs.some((r) => r.summary.preemptions.count > 0))
    charts.push(
      lineChart(
        out.runs.map((r, vi) => ({ name: r.label, xs: hours(r), ys: r.series.preemptions, color: PALETTE[vi % PALETTE.length] })),
        { title: 'Preemptions (cumulative)', xLabel: 'hours since first submission', yLabel: 'evictions' },
      ),
    );
  else
    charts.push(
      `<section class="empty"><h3>Preemptions</h3><p>No job was preempted in ${escapeHtml(out.runs.map((r) => r.label).join(', '))}. Only the fair-share-preemption preset (or a policy file with preemption on) reclaims GPUs from running jobs: try --compare default,fair-share-preemption.</p></section>`,
    );
  const table = `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${escapeHtml(c)}</th>` : `<td>${escapeHtml(c)}</td>`)).join('')}</tr>`)
    .join('')}</tbody></table>`;
  const imports = out.runs
    .filter((r) => r.import)
    .slice(0, 1)
    .map((r) => `<pre>${escapeHtml(JSON.stringify(r.import, null, 1))}</pre>`)
    .join('');
  const cfg = out.config;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gigafab simulation report</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px}
td{text-align:right}thead th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;gap:16px}
.charts svg{border:1px solid #eee;background:#fff}pre{background:#f7f7f7;padding:8px;font-size:12px}
</style></head><body>
<h1>gigafab simulation report</h1>
<p>fleet <b>${escapeHtml(cfg.fleet)}</b>, trace <b>${escapeHtml(cfg.trace ?? `synthetic (${cfg.jobs} jobs, seed ${cfg.seed})`)}</b> (${escapeHtml(cfg.format)}),
load scale ${cfg.scaleLoad}, cycles: ${escapeHtml(cfg.cycle.mode === 'event' ? 'after every event instant' : `every ${cfg.cycle.seconds} s`)}.
Metric definitions: src/sim/README.md.</p>
${table}
${summaryNotes(out)
  .map((n) => `<p class="note">${escapeHtml(n)}</p>`)
  .join('')}
${imports ? `<h2>Import</h2>${imports}` : ''}
<h2>Plots</h2><div class="charts">${charts.join('\n')}</div>
</body></html>
`;
}

/** writeReport writes results.json and report.html into `dir`; returns their paths. */
export function writeReport(out: RunOutput, dir: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'results.json');
  const html = join(dir, 'report.html');
  writeFileSync(json, resultsJson(out));
  writeFileSync(html, renderHtml(out));
  return { json, html };
}
