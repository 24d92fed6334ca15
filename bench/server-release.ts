/**
 * Live server, release of held jobs (issue 19): the real `gigafab server` (child process, embedded
 * SQLite, simulated driver) on an 8-GPU-node fleet; N jobs submitted over REST while their project's
 * quota is zero (what holds them), then one quota change releases them all. Measured: cycles until
 * the fleet is full (or nothing queued fits), the server's own cycle histograms over the release,
 * time from release to the last start, and for a sample of the jobs left waiting the time until
 * `GET /v1/jobs/{id}/explain` describes a cycle after the fill (`computedAt` later than the fill's
 * starts, no more free GPUs claimed than are free).
 *
 * The fleet and the job mix are generated from a seed here (no fixture outside the repository):
 * 70 % single-node jobs (1, 2, 4 or 8 GPUs), 25 % gangs of 2-4 whole nodes, 5 % gangs of 8-16;
 * priority classes high / normal / low; demand is several times the fleet, so most jobs wait.
 *
 *   node dist/bench/server-release.js [--scales 1,10] [--out bench/results/x.json]
 *   (GIGAFAB_TEST_NODE_ARGS=--cpu-prof profiles the server, see test/helpers/server.ts)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../src/model/prng.js';
import { api, startTestServer } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';
import { machine } from './submissions.js';

export interface ReleaseRow {
  /** Which build served: this checkout's, or the one given with --ab (A/B in one run). */
  build: string;
  nodes: number;
  gpus: number;
  jobs: number;
  submitSeconds: number;
  submissionsPerSecond: number;
  /** Cycles that started jobs after the release (distinct start times of the running jobs). */
  startCycles: number;
  jobsStarted: number;
  /** The server's own count of starts over the window (a cross-check of jobsStarted). */
  startedCounter: number;
  gpusAllocated: number;
  /** GPUs left free: no queued job fits them. */
  gpusFree: number;
  /** Release request sent → the last start seen committed (the server's started counter, polled every 25 ms). */
  releaseToFullMs: number;
  /** Release request sent → the fill cycle's clock (the jobs' startedAt). */
  releaseToFillCycleMs: number;
  /** The server's histograms over the release window (fill plus refresh). */
  cycles: HistogramWindow;
  cyclesTotal: HistogramWindow;
  refresh: RefreshFigures;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
}

export interface HistogramWindow {
  count: number;
  meanMs: number;
  /** Upper bucket bounds holding the median and the 99th percentile (the histogram's resolution). */
  p50AtMostMs: number | null;
  p99AtMostMs: number | null;
  maxAtMostMs: number | null;
}

export interface RefreshFigures {
  sampled: number;
  explainIntervalSeconds: number;
  /** Sampled jobs whose first answer after the fill still described an earlier cycle. */
  staleAtFill: number;
  /** … of which claimed more free GPUs than the fleet had left. */
  claimingFreedGpus: number;
  /** The fill's last start seen committed, after the fill cycle's clock (its decision and commit). */
  fillCommittedAfterFillCycleMs: number;
  /** From the fill cycle's clock to the first answer describing a later cycle (polled every 100 ms). */
  p50Ms: number;
  maxMs: number;
  /** Sampled jobs never refreshed within the bench's 30 s wait (a failure of the target). */
  neverRefreshed: number;
  /** Sampled jobs whose reason (`job show`) counted GPUs the fill handed out, in an answer after the fill cycle. */
  reasonsClaimingFreedGpusAfterFillCycle: number;
  /** … the latest, from the fill cycle's clock, that any of them stopped doing so (Infinity: never). */
  reasonsTrueAfterMaxMs: number;
}

/** The seeded PRNG of the mix (the same on every run). */
const rng = mulberry32;

export function jobMix(count: number, seed = 19) {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const u = r();
    const [nodes, gpusPerNode] =
      u < 0.7 ? [1, pick([1, 2, 4, 8])] : u < 0.95 ? [2 + Math.floor(r() * 3), 8] : [8 + Math.floor(r() * 9), 8];
    return {
      name: `r${i}`,
      project: 'bench-p',
      gpuType: 'B200',
      gpusPerNode,
      nodes,
      maxRuntimeSeconds: 24 * 3600,
      priorityClass: pick(['high', 'normal', 'normal', 'low']),
      // Nothing ends while the bench measures.
      simulation: { durationSeconds: 20 * 3600 },
    };
  });
}

function fleetYaml(nodes: number): string {
  return `name: release-${nodes}
sites:
  - { id: s1, name: S1, city: Munich, country: DE, certifications: [] }
nodeTypes:
  - { id: dgx, gpuType: B200, gpusPerNode: 8, gpuMemoryGiB: 180, interconnect: nvlink, cpus: 112, memoryGiB: 2048 }
pools:
  - { site: s1, nodeType: dgx, count: ${nodes}, unitSize: 32, namePrefix: s1-dgx }
`;
}

type Histo = { buckets: Map<number, number>; count: number; sum: number };

/** histogram: one Prometheus histogram's cumulative buckets, count and sum from /metrics text. */
function histogram(text: string, name: string): Histo {
  const buckets = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_bucket{`)) {
      const m = /le="([^"]+)"\}\s+(\S+)/.exec(line);
      if (m) buckets.set(m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
    } else if (line.startsWith(`${name}_count `)) count = Number(line.split(' ')[1]);
    else if (line.startsWith(`${name}_sum `)) sum = Number(line.split(' ')[1]);
  }
  return { buckets, count, sum };
}

function counter(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** window: the histogram's observations between two scrapes. */
function window(a: Histo, b: Histo): HistogramWindow {
  const count = b.count - a.count;
  const bounds = [...b.buckets.keys()].sort((x, y) => x - y);
  const at = (q: number) => {
    if (count === 0) return null;
    for (const le of bounds) {
      if ((b.buckets.get(le) ?? 0) - (a.buckets.get(le) ?? 0) >= q * count) return le === Infinity ? null : le * 1000;
    }
    return null;
  };
  return {
    count,
    meanMs: count ? Math.round(((b.sum - a.sum) / count) * 1e4) / 10 : 0,
    p50AtMostMs: at(0.5),
    p99AtMostMs: at(0.99),
    maxAtMostMs: at(1),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** pool: runs `fn` over `items` with `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
    }),
  );
}

interface Explained {
  computedAt: string | null;
  state: string;
  pendingReason: { code: string; details?: { freeFleetWide?: number } } | null;
}

export async function benchServerRelease(scale: number, sample = 20, bin?: string): Promise<ReleaseRow> {
  const nodes = 1250 * scale;
  const gpus = nodes * 8;
  const jobs = jobMix(5000 * scale);
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-release-bench-'));
  const fleet = join(dir, 'fleet.yaml');
  writeFileSync(fleet, fleetYaml(nodes));
  const limits = join(dir, 'limits.yaml');
  writeFileSync(limits, 'rateLimits: { enabled: false }\nqueue: { maxQueuedJobsPerOrg: 10000000 }\n');
  const explainIntervalSeconds = 2; // the default, written out so the verdict names it
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, `explainIntervalSeconds: ${explainIntervalSeconds}\n`);
  const server = await startTestServer({
    bin,
    fleetPath: fleet,
    timeScale: 1,
    extraArgs: ['--limits', limits, '--policy', policy],
  });
  let stopPolling = () => {};
  try {
    const op = api(server.url, server.operatorToken);
    await op('POST', '/v1/orgs', { id: 'bench', name: 'Bench', kind: 'research' });
    await op('POST', '/v1/orgs/bench/projects', { id: 'bench-p' });
    // The hold: a zero quota; every job waits on it ("no B200 quota") until the release.
    await op('PUT', '/v1/projects/bench-p/quotas/B200', { gpus: 0 });
    const tenant = api(server.url, await tenantToken(op, 'bench', { name: 'Load', role: 'member' }));

    const ids: string[] = new Array(jobs.length);
    const s0 = performance.now();
    await pool(jobs, 32, async (j, i) => {
      const r = await tenant('POST', '/v1/jobs', j);
      if (r.status !== 201) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      ids[i] = r.body.id as string;
    });
    const submitSeconds = (performance.now() - s0) / 1000;
    // Every job has been through a cycle: the last one's reason is the quota.
    for (;;) {
      const e = (await tenant('GET', `/v1/jobs/${ids.at(-1)}/explain`)).body as Explained;
      if (e.pendingReason?.code === 'no_quota') break;
      await sleep(100);
    }
    await sleep(500);
    const loadAverageBefore = loadavg().map((x) => Math.round(x * 100) / 100);
    const metrics = async () => (await fetch(`${server.url}/metrics`)).text();
    const m0 = await metrics();
    const started0 = counter(m0, 'gigafab_jobs_started_total');

    // A sample spread over the queue, chosen before the release and polled from it on (every 100 ms,
    // all at once): what each answered, and when.
    const sampleIds = Array.from({ length: sample }, (_, k) => ids[Math.floor(((k + 0.5) * ids.length) / sample)]!);
    const answers = new Map<string, { at: number; e: Explained }[]>(sampleIds.map((id) => [id, []]));
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await Promise.all(
          sampleIds.map(async (id) => {
            const e = (await tenant('GET', `/v1/jobs/${id}/explain`)).body as Explained;
            answers.get(id)!.push({ at: Date.now(), e });
          }),
        );
        await sleep(100);
      }
    })().catch((err: Error) => err);
    stopPolling = () => {
      polling = false;
    };

    // The release.
    const t0 = performance.now();
    const wall0 = Date.now();
    const rel = await op('PUT', '/v1/projects/bench-p/quotas/B200', { gpus: gpus * 2 });
    if (rel.status !== 200) throw new Error(`release: ${rel.status} ${JSON.stringify(rel.body)}`);
    // The fill: the server's count of committed starts stops growing across a later cycle (the
    // refresh), or for 3 s (a build that runs no cycle after the fill).
    let startedNow = 0;
    let lastChange = t0;
    let lastChangeWall = wall0;
    let cyclesAtChange = histogram(m0, 'gigafab_scheduler_cycle_seconds').count;
    for (;;) {
      const text = await metrics();
      const n = counter(text, 'gigafab_jobs_started_total') - started0;
      const c = histogram(text, 'gigafab_scheduler_cycle_seconds').count;
      if (n !== startedNow) {
        startedNow = n;
        lastChange = performance.now();
        lastChangeWall = Date.now();
        cyclesAtChange = c;
      } else if (n > 0 && (c > cyclesAtChange || performance.now() - lastChange > 3000)) break;
      if (performance.now() - t0 > 120_000) throw new Error(`no fill after 120 s (${n} started)`);
      await sleep(25);
    }
    const releaseToFullMs = Math.round(lastChange - t0);
    const allocated = (await op('GET', '/v1/fleet')).body.allocatedGpus as number;

    // The running jobs' start times: one per cycle that started jobs.
    const startTimes = new Set<string>();
    let started = 0;
    for (let cursor: string | null = ''; cursor !== null; ) {
      const q = `/v1/jobs?state=running&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await tenant('GET', q)).body as { items: { startedAt: string }[]; nextCursor: string | null };
      for (const j of page.items) startTimes.add(j.startedAt);
      started += page.items.length;
      cursor = page.nextCursor;
    }
    const fillAt = Math.max(...[...startTimes].map((s) => Date.parse(s)));
    const free = gpus - allocated;

    // The refresh: an answer describes the fleet after the fill when its cycle is later than the
    // fill cycle and it counts no more free GPUs than are left.
    const fresh = (e: Explained) =>
      e.computedAt !== null && Date.parse(e.computedAt) > fillAt && (e.pendingReason?.details?.freeFleetWide ?? 0) <= free;
    const waitingIds = () => sampleIds.filter((id) => answers.get(id)!.at(-1)?.e.state === 'queued');
    const until = Date.now() + 30_000;
    while (Date.now() < until && !waitingIds().every((id) => answers.get(id)!.some((a) => a.at > lastChangeWall && fresh(a.e))))
      await sleep(100);
    polling = false;
    const failed = await poller;
    if (failed) throw failed;
    const waiting = waitingIds();
    let staleAtFill = 0;
    let claimingFreedGpus = 0;
    const waits: number[] = [];
    let everClaimed = 0;
    const reasonsTrue: number[] = [];
    for (const id of waiting) {
      const after = answers.get(id)!.filter((a) => a.at > lastChangeWall);
      const first = after[0];
      if (first && !fresh(first.e)) {
        staleAtFill++;
        if ((first.e.pendingReason?.details?.freeFleetWide ?? 0) > free) claimingFreedGpus++;
      }
      const ok = after.find((a) => fresh(a.e));
      if (ok) waits.push(ok.at - fillAt);
      // The reason alone (`job show`): the first answer after the last one counting freed GPUs.
      const all = answers.get(id)!.filter((a) => a.at > fillAt);
      let lastWrong = -1;
      for (const [k, a] of all.entries()) if ((a.e.pendingReason?.details?.freeFleetWide ?? 0) > free) lastWrong = k;
      if (lastWrong >= 0) {
        everClaimed++;
        const right = all[lastWrong + 1];
        reasonsTrue.push(right ? right.at - fillAt : Number.POSITIVE_INFINITY);
      }
    }
    reasonsTrue.sort((a, b) => a - b);
    waits.sort((a, b) => a - b);
    const m1 = await (await fetch(`${server.url}/metrics`)).text();
    return {
      build: bin ?? 'this checkout',
      nodes,
      gpus,
      jobs: jobs.length,
      submitSeconds: Math.round(submitSeconds * 10) / 10,
      submissionsPerSecond: Math.round(jobs.length / submitSeconds),
      startCycles: startTimes.size,
      jobsStarted: started,
      gpusAllocated: allocated,
      gpusFree: free,
      releaseToFullMs,
      releaseToFillCycleMs: fillAt - wall0,
      cycles: window(histogram(m0, 'gigafab_scheduler_cycle_seconds'), histogram(m1, 'gigafab_scheduler_cycle_seconds')),
      cyclesTotal: window(
        histogram(m0, 'gigafab_scheduler_cycle_total_seconds'),
        histogram(m1, 'gigafab_scheduler_cycle_total_seconds'),
      ),
      refresh: {
        sampled: waiting.length,
        fillCommittedAfterFillCycleMs: lastChangeWall - fillAt,
        explainIntervalSeconds,
        staleAtFill,
        claimingFreedGpus,
        p50Ms: Math.round(waits[Math.floor(waits.length / 2)] ?? -1),
        maxMs: Math.round(waits.at(-1) ?? -1),
        neverRefreshed: waiting.length - waits.length,
        reasonsClaimingFreedGpusAfterFillCycle: everClaimed,
        reasonsTrueAfterMaxMs: reasonsTrue.length ? Math.round(reasonsTrue.at(-1)!) : 0,
      },
      loadAverageBefore,
      loadAverageAfter: loadavg().map((x) => Math.round(x * 100) / 100),
      startedCounter: counter(m1, 'gigafab_jobs_started_total') - counter(m0, 'gigafab_jobs_started_total'),
    };
  } catch (err) {
    stopPolling();
    console.error(`server output (tail):\n${server.output().slice(-4000)}`);
    throw err;
  } finally {
    stopPolling();
    await server.stop();
  }
}

export async function benchServerReleases(scales: number[], other?: string) {
  const rows: ReleaseRow[] = [];
  for (const s of scales) {
    // A/B in one run: the other build first, then this one, on the same machine minutes apart.
    if (other) rows.push(await benchServerRelease(s, 20, other));
    rows.push(await benchServerRelease(s));
  }
  return { at: new Date().toISOString(), machine: machine(), rows };
}

// Run directly: `node dist/bench/server-release.js --scales 1,10 [--ab ../main/bin/gigafab.js] --out file.json`.
if (process.argv[1]?.endsWith('server-release.js')) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const scales = (arg('--scales') ?? '1').split(',').map(Number);
  const out = await benchServerReleases(scales, arg('--ab'));
  console.log(JSON.stringify(out, null, 2));
  const file = arg('--out');
  if (file) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
}
