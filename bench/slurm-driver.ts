/**
 * Benchmark: gigafab's Slurm driver against plain sbatch, on the localhost Slurm of
 * scripts/slurm/setup.sh (4 nodes × 8 fake GPUs, one slurmd each, all on this machine), in one run:
 *
 *   latency     submission → the job's own first instruction (a timestamp the job writes), for the
 *               driver (start() → job) and for plain `sbatch --wrap` and `sbatch` + srun (what the
 *               driver's batch script does), interleaved, at random moments (Slurm's scheduler runs
 *               about once a second, so back-to-back submissions would all wait the same);
 *               and submission → the driver's `started` observation (adds its squeue polling).
 *   throughput  N trivial one-GPU jobs submitted at once; jobs/s from the first submission until
 *               every job has ended (driver: its `exited` observations; sbatch: squeue polled at the
 *               driver's interval); and the submit path alone: start() calls/s against sbatch calls/s
 *               at the same concurrency.
 *
 * Needs root (it runs setup.sh). Run: `npx tsc -p . && node dist/bench/slurm-driver.js` (prints JSON).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DriverJob, Observation } from '../src/drivers/driver.js';
import { type LocalhostSlurm, localhostSlurmUnavailable, startLocalhostSlurm } from '../src/drivers/slurm/localhost.js';
import { parseSqueueJson } from '../src/drivers/slurm/slurm-22.05.js';
import { SlurmDriver } from '../src/drivers/slurm-driver.js';
import { mulberry32 } from '../src/model/prng.js';
import type { JobSpec } from '../src/model/schemas.js';

const LATENCY_PAIRS = Number(process.env.BENCH_SLURM_LATENCY_JOBS ?? 12);
const THROUGHPUT_JOBS = Number(process.env.BENCH_SLURM_THROUGHPUT_JOBS ?? 200);
const POLL_MS = 200;
const CONCURRENCY = 4;

function repoRoot(): string {
  // dist/bench/slurm-driver.js or bench/slurm-driver.ts → the repository root
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'bench')}`) ? resolve(here, '..', '..') : resolve(here, '..');
}

function run(cluster: LocalhostSlurm, cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { env: { ...process.env, ...cluster.env }, maxBuffer: 512 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else res(stdout);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function summary(xs: number[]): Record<string, number> {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
  return {
    n: s.length,
    meanMs: round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)),
    p50Ms: round(q(50)),
    p90Ms: round(q(90)),
    minMs: round(s[0] ?? Number.NaN),
    maxMs: round(s[s.length - 1] ?? Number.NaN),
  };
}

/** First line of a log that is a `date +%s%N` timestamp, as epoch ms. */
function jobTimestamp(path: string): number | null {
  try {
    const m = /^(\d{16,})$/m.exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1].slice(0, 13)) + Number(`0.${m[1].slice(13)}`) : null;
  } catch {
    return null;
  }
}

function spec(command: string[]): JobSpec {
  return {
    name: 'bench',
    project: 'bench',
    gpuType: 'any',
    gpusPerNode: 1,
    nodes: 1,
    command,
    maxRuntimeSeconds: 600,
    priorityClass: 'normal',
    labels: {},
  };
}

/** Waits until every Slurm job id in `ids` has ended, polling squeue every POLL_MS. */
async function waitAllEnded(cluster: LocalhostSlurm, ids: Set<string>): Promise<void> {
  for (;;) {
    const jobs = parseSqueueJson(await run(cluster, 'squeue', ['--json'])).jobs;
    const left = jobs.filter((j) => ids.has(j.slurmJobId) && !['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(j.state));
    if (left.length === 0) return;
    await sleep(POLL_MS);
  }
}

export async function benchSlurmDriver(): Promise<Record<string, unknown>> {
  const unavailable = localhostSlurmUnavailable();
  if (unavailable) return { skipped: unavailable };
  const cluster = startLocalhostSlurm(repoRoot());
  const work = mkdtempSync(join(tmpdir(), 'gigafab-bench-slurm-'));
  const nodeMap: Record<string, string> = {};
  cluster.nodes.forEach((n, i) => {
    nodeMap[`bench-${i}`] = n;
  });
  const gigafabNodes = Object.keys(nodeMap);
  const driver = new SlurmDriver({
    nodeMap,
    jobDir: join(work, 'driver'),
    slurmConf: cluster.slurmConf,
    instance: `bench-${process.pid}`,
    pollIntervalMs: POLL_MS,
    nodePollIntervalMs: 0,
    submitConcurrency: CONCURRENCY,
  });
  const seen = new Map<string, Observation[]>();
  /** When each `started` observation arrived (wall clock): what the control plane waits for. */
  const observedAt = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  driver.onObservation((o) => {
    if (o.type === 'started') observedAt.set(o.jobId, Date.now());
    const list = seen.get(o.jobId) ?? [];
    list.push(o);
    seen.set(o.jobId, list);
    if (o.type === 'exited') waiters.get(o.jobId)?.();
  });
  const exited = (id: string) =>
    new Promise<void>((r) => {
      if (seen.get(id)?.some((o) => o.type === 'exited')) r();
      else waiters.set(id, r);
    });
  const plainDir = join(work, 'plain');
  mkdirSync(plainDir, { recursive: true });
  const jobsAtStart = parseSqueueJson(await run(cluster, 'squeue', ['--json'])).jobs.length;
  const srunScript = join(work, 'srun-job.sh');
  await run(cluster, 'sh', [
    '-c',
    `printf '#!/bin/sh\\nsrun --ntasks-per-node=1 "$@"\\n' > ${srunScript}; chmod +x ${srunScript}`,
  ]);

  try {
    // Warm-up: the first job after slurmctld starts waits 2-3 s longer than the rest.
    const warm: DriverJob = {
      id: `warm-${process.pid}`,
      spec: spec(['true']),
      placement: { site: 'bench', gpuType: 'H100', nodes: [{ node: gigafabNodes[0], gpus: [0] }] },
      startedAt: Date.now(),
    };
    await driver.start(warm);
    await exited(warm.id);

    // ---------------------------------------------------------------- latency
    const rand = mulberry32(42);
    const lat = {
      driverJob: [] as number[],
      driverObserved: [] as number[],
      sbatchWrap: [] as number[],
      sbatchSrun: [] as number[],
    };
    for (let i = 0; i < LATENCY_PAIRS; i++) {
      const node = gigafabNodes[i % gigafabNodes.length];
      for (const kind of ['driver', 'sbatchWrap', 'sbatchSrun'] as const) {
        await sleep(200 + rand() * 1000);
        const t0 = Date.now();
        if (kind === 'driver') {
          const id = `lat-${process.pid}-${i}`;
          await driver.start({
            id,
            spec: spec(['sh', '-c', 'date +%s%N']),
            placement: { site: 'bench', gpuType: 'H100', nodes: [{ node, gpus: [0] }] },
            startedAt: t0,
          });
          await exited(id);
          const ts = jobTimestamp(driver.logPath(id));
          const seenAt = observedAt.get(id);
          if (ts) lat.driverJob.push(ts - t0);
          if (seenAt) lat.driverObserved.push(seenAt - t0);
        } else {
          const out = join(plainDir, `lat-${kind}-${i}.log`);
          const args =
            kind === 'sbatchWrap'
              ? ['--parsable', `--nodelist=${nodeMap[node]}`, '--gres=gpu:1', `--output=${out}`, '--wrap', 'date +%s%N']
              : [
                  '--parsable',
                  `--nodelist=${nodeMap[node]}`,
                  '--gres=gpu:1',
                  '--ntasks-per-node=1',
                  `--output=${out}`,
                  srunScript,
                  'sh',
                  '-c',
                  'date +%s%N',
                ];
          const sid = (await run(cluster, 'sbatch', args)).trim().split(';')[0];
          await waitAllEnded(cluster, new Set([sid]));
          const ts = jobTimestamp(out);
          if (ts) lat[kind].push(ts - t0);
        }
      }
    }

    // ---------------------------------------------------------------- throughput
    const n = THROUGHPUT_JOBS;
    const placements = Array.from({ length: n }, (_, i) => gigafabNodes[i % gigafabNodes.length]);
    // Driver
    const d0 = performance.now();
    const ids = placements.map((_, i) => `tp-${process.pid}-${i}`);
    const done = Promise.all(ids.map((id) => exited(id)));
    await Promise.all(
      ids.map((id, i) =>
        driver.start({
          id,
          spec: spec(['true']),
          placement: { site: 'bench', gpuType: 'H100', nodes: [{ node: placements[i], gpus: [0] }] },
          startedAt: Date.now(),
        }),
      ),
    );
    const dSubmitted = performance.now();
    await done;
    const dDone = performance.now();
    const failedDriver = ids.filter((id) => {
      const e = seen.get(id)?.find((o) => o.type === 'exited');
      return e?.type !== 'exited' || e.exitCode !== 0;
    }).length;

    // Plain sbatch, same jobs, same concurrency
    const p0 = performance.now();
    const sids = new Set<string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          const i = next++;
          const out = join(plainDir, `tp-${i}.log`);
          const sid = (
            await run(cluster, 'sbatch', [
              '--parsable',
              `--nodelist=${nodeMap[placements[i]]}`,
              '--gres=gpu:1',
              '--ntasks-per-node=1',
              `--output=${out}`,
              srunScript,
              'true',
            ])
          )
            .trim()
            .split(';')[0];
          sids.add(sid);
        }
      }),
    );
    const pSubmitted = performance.now();
    await waitAllEnded(cluster, sids);
    const pDone = performance.now();

    const jobsAtEnd = parseSqueueJson(await run(cluster, 'squeue', ['--json'])).jobs.length;
    const ownPath = await benchSubmitPathOnly(work, n * 2);
    return {
      slurm: '22.05 (Debian 12 packages), localhost cluster from scripts/slurm/setup.sh',
      nodes: cluster.nodes.length,
      gpusPerNode: cluster.gpusPerNode,
      clusterSetupSeconds: round(cluster.setupSeconds, 2),
      pollIntervalMs: POLL_MS,
      submitConcurrency: CONCURRENCY,
      squeueJobsAtStart: jobsAtStart,
      squeueJobsAtEnd: jobsAtEnd,
      latency: {
        note: 'ms from submission to the job writing its first timestamp (driver and sbatch+srun: inside the srun task)',
        driverSubmitToJob: summary(lat.driverJob),
        driverSubmitToStartedObservation: summary(lat.driverObserved),
        sbatchWrapSubmitToJob: summary(lat.sbatchWrap),
        sbatchSrunSubmitToJob: summary(lat.sbatchSrun),
      },
      throughput: {
        jobs: n,
        driver: {
          endToEndJobsPerSecond: round(n / ((dDone - d0) / 1000)),
          submitPathJobsPerSecond: round(n / ((dSubmitted - d0) / 1000)),
          submitSeconds: round((dSubmitted - d0) / 1000, 2),
          allDoneSeconds: round((dDone - d0) / 1000, 2),
          jobsNotExitingZero: failedDriver,
        },
        sbatch: {
          endToEndJobsPerSecond: round(n / ((pDone - p0) / 1000)),
          submitPathJobsPerSecond: round(n / ((pSubmitted - p0) / 1000)),
          submitSeconds: round((pSubmitted - p0) / 1000, 2),
          allDoneSeconds: round((pDone - p0) / 1000, 2),
        },
      },
      driverOwnSubmitPath: ownPath,
      driverStats: {
        ...driver.stats,
        meanSqueuePollMs: round(driver.stats.pollMsTotal / Math.max(1, driver.stats.squeueCalls)),
      },
    };
  } finally {
    await driver.close();
    rmSync(work, { recursive: true, force: true });
    cluster.stop();
  }
}

/**
 * The driver's own submit path, without Slurm: sbatch is a stub that prints a job id, so what is
 * measured is start()'s work (checks, job directory, batch script, slurm.json, spawning sbatch),
 * side by side with spawning the same stub directly at the same concurrency.
 */
async function benchSubmitPathOnly(work: string, n: number): Promise<Record<string, unknown>> {
  const bin = join(work, 'stub-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'sbatch'), '#!/bin/sh\necho $$\n', { mode: 0o755 });
  writeFileSync(join(bin, 'squeue'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const driver = new SlurmDriver({
    nodeMap: { a: 'gpu01' },
    jobDir: join(work, 'stub-jobs'),
    binDir: bin,
    pollIntervalMs: 600_000,
    nodePollIntervalMs: 0,
    submitConcurrency: CONCURRENCY,
  });
  try {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        driver.start({
          id: `stub-${i}`,
          spec: spec(['true']),
          placement: { site: 'bench', gpuType: 'H100', nodes: [{ node: 'a', gpus: [0] }] },
          startedAt: Date.now(),
        }),
      ),
    );
    const driverMs = performance.now() - t0;
    const t1 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < n) {
          await new Promise<void>((res, rej) => execFile(join(bin, 'sbatch'), ['--parsable'], (e) => (e ? rej(e) : res())));
        }
      }),
    );
    const spawnMs = performance.now() - t1;
    return {
      jobs: n,
      driverStartsPerSecond: round(n / (driverMs / 1000)),
      stubSpawnsPerSecond: round(n / (spawnMs / 1000)),
      driverOverheadPerJobMs: round((driverMs - spawnMs) / n, 2),
    };
  } finally {
    await driver.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchSlurmDriver().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
