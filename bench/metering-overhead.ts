/**
 * Metering's cost on the submission and cycle paths, before/after in one run. "With metering" is
 * this checkout's build; "without" is the same commit (`git archive HEAD`) built into a temp
 * directory with the bodies of metering's two calls (`openSegment` in a start's transaction,
 * `closeSegment` in a stop's) replaced by `return`: identical code otherwise, so the difference is
 * metering and nothing else (the commit before metering landed, 2f72186^, differs from today in
 * hundreds of other changes). Per round, each build in turn (the order alternates), a fresh
 * `gigafab server` (SQLite, sim driver, time scale 1) takes 16 autocannon clients submitting 1-GPU
 * jobs of 2 s for 10 s — jobs start and end all the time, so both metering calls run — and its
 * `gigafab_scheduler_cycle_seconds` histogram is read afterwards: cycles, mean (exact: sum/count)
 * and p99 (interpolated within the histogram's buckets, as Prometheus' histogram_quantile does).
 * `npm run bench -- metering-overhead`, or `node dist/bench/metering-overhead.js [rounds] [seconds]`.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { api, BIN, REPO, startTestServer } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';

export interface MeteringRun {
  round: number;
  build: 'with metering' | 'without metering';
  submissionsPerSecond: number;
  latencyP99Ms: number;
  cycles: number;
  cycleMeanMs: number;
  cycleP99Ms: number;
  jobsStarted: number;
  usageRecords: number;
  load1m: number;
}

export interface MeteringOverheadBench {
  commit: string;
  runs: MeteringRun[];
  medians: Record<string, { submissionsPerSecond: number; cycleMeanMs: number; cycleP99Ms: number }>;
  ratios: { submissionsPerSecond: number; cycleMeanMs: number; cycleP99Ms: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** buildWithoutMetering: this commit, metering's calls emptied, compiled in a temp directory; its bin. */
function buildWithoutMetering(): { bin: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-no-metering-'));
  execSync(`git archive HEAD | tar -x -C ${dir}`, { cwd: REPO });
  const file = join(dir, 'src/server/metering.ts');
  const src = readFileSync(file, 'utf8');
  const emptied = src.replace(/(export async function (openSegment|closeSegment)\([^)]*\): Promise<void> \{)/g, '$1\n  return;');
  if ((emptied.match(/\n {2}return;/g) ?? []).length < 2)
    throw new Error('could not empty metering.ts (its signatures changed?)');
  writeFileSync(file, emptied);
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: dir,
    stdio: 'inherit',
  });
  return { bin: join(dir, 'bin/gigafab.js'), dir };
}

/** histogram: a Prometheus histogram's buckets, sum and count from /metrics text. */
function histogram(text: string, name: string) {
  const buckets: { le: number; count: number }[] = [];
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)`, 'gm'))) {
    buckets.push({ le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), count: Number(m[2]) });
  }
  const sum = Number(new RegExp(`^${name}_sum (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  const count = Number(new RegExp(`^${name}_count (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  return { buckets, sum, count };
}

/** quantile: linear interpolation inside the bucket that holds the q-quantile (histogram_quantile). */
function quantile(q: number, h: ReturnType<typeof histogram>): number {
  const rank = q * h.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / Math.max(1, b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

async function runOnce(bin: string, seconds: number): Promise<Omit<MeteringRun, 'round' | 'build' | 'load1m'>> {
  const limits = join(tmpdir(), `gigafab-bench-limits-${process.pid}.yaml`);
  writeFileSync(limits, 'rateLimits: { enabled: false }\nqueue: { maxQueuedJobsPerOrg: 10000000 }\n');
  const server = await startTestServer({ bin, timeScale: 1, extraArgs: ['--limits', limits] });
  try {
    const op = api(server.url, server.operatorToken);
    await op('POST', '/v1/orgs', { id: 'bench', name: 'Bench', kind: 'research' });
    await op('POST', '/v1/orgs/bench/projects', { id: 'bench-load' });
    await op('PUT', '/v1/projects/bench-load/quotas/B200', { gpus: 4096 });
    const token = await tenantToken(op, 'bench', { name: 'Load', role: 'member' });
    const r = await autocannon({
      url: `${server.url}/v1/jobs`,
      method: 'POST',
      connections: 16,
      duration: seconds,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        name: 'bench',
        project: 'bench-load',
        gpuType: 'B200',
        gpusPerNode: 1,
        nodes: 1,
        simulation: { durationSeconds: 2 },
      }),
    });
    const metrics = await (
      await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.operatorToken}` } })
    ).text();
    const h = histogram(metrics, 'gigafab_scheduler_cycle_seconds');
    const started = Number(/^gigafab_jobs_started_total (\S+)/m.exec(metrics)?.[1] ?? 0);
    const usage = await op('GET', '/v1/usage?groupBy=org');
    return {
      submissionsPerSecond: Math.round((r.statusCodeStats?.['201']?.count ?? 0) / seconds),
      latencyP99Ms: r.latency.p99,
      cycles: h.count,
      cycleMeanMs: round2((h.sum / Math.max(1, h.count)) * 1000),
      cycleP99Ms: round2(quantile(0.99, h) * 1000),
      jobsStarted: started,
      usageRecords: usage.status === 200 ? Number(usage.body.total?.segments ?? 0) : -1,
    };
  } finally {
    await server.stop();
  }
}

export async function benchMeteringOverhead(rounds = 3, seconds = 10): Promise<MeteringOverheadBench> {
  const commit = execSync('git rev-parse --short HEAD', { cwd: REPO }).toString().trim();
  const without = buildWithoutMetering();
  try {
    const runs: MeteringRun[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order =
        round % 2 ? (['with metering', 'without metering'] as const) : (['without metering', 'with metering'] as const);
      for (const build of order) {
        const bin = build === 'with metering' ? BIN : without.bin;
        // On a loaded machine a server may miss the helper's 30 s start-up limit: one more try.
        const r = await runOnce(bin, seconds).catch(() => runOnce(bin, seconds));
        runs.push({ round, build, ...r, load1m: round2(loadavg()[0]!) });
        console.error(JSON.stringify(runs[runs.length - 1]));
      }
    }
    const med = (build: MeteringRun['build']) => {
      const rs = runs.filter((r) => r.build === build);
      return {
        submissionsPerSecond: median(rs.map((r) => r.submissionsPerSecond)),
        cycleMeanMs: median(rs.map((r) => r.cycleMeanMs)),
        cycleP99Ms: median(rs.map((r) => r.cycleP99Ms)),
      };
    };
    const w = med('with metering');
    const wo = med('without metering');
    return {
      commit,
      runs,
      medians: { 'with metering': w, 'without metering': wo },
      ratios: {
        submissionsPerSecond: round2(w.submissionsPerSecond / Math.max(1, wo.submissionsPerSecond)),
        cycleMeanMs: round2(w.cycleMeanMs / Math.max(0.001, wo.cycleMeanMs)),
        cycleP99Ms: round2(w.cycleP99Ms / Math.max(0.001, wo.cycleP99Ms)),
      },
    };
  } finally {
    rmSync(without.dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('metering-overhead.js')) {
  console.log(JSON.stringify(await benchMeteringOverhead(Number(process.argv[2] ?? 3), Number(process.argv[3] ?? 10)), null, 2));
}
