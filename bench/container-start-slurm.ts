/**
 * Benchmark (issue 13), Slurm side: container start overhead on the localhost Slurm of
 * scripts/slurm/setup.sh (4 nodes on this machine). Submission → the job's first instruction
 * (`/bin/busybox adjtimex`, as in container-start.ts), four variants interleaved at random moments
 * (Slurm's scheduler runs about once a second, so back-to-back submissions would all wait the same):
 *
 *   slurmHost        gigafab's Slurm driver, the job as a host process (sbatch + srun, as the driver does)
 *   slurmContainer   gigafab's Slurm driver, the job in the test image (podman inside the step)
 *   sbatchHost       plain `sbatch` + `srun` of the same host command (no gigafab)
 *   sbatchPodman     plain `sbatch` + `srun podman run --rm IMAGE …` (no gigafab)
 *
 * Needs root (it runs setup.sh) and podman. Run: `npm run bench -- container-start-slurm`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Observation } from '../src/drivers/driver.js';
import { type LocalhostSlurm, localhostSlurmUnavailable, startLocalhostSlurm } from '../src/drivers/slurm/localhost.js';
import { parseSqueueJson } from '../src/drivers/slurm/slurm-22.05.js';
import { SlurmDriver } from '../src/drivers/slurm-driver.js';
import { mulberry32 } from '../src/model/prng.js';
import type { JobSpec } from '../src/model/schemas.js';
import { ensureTestImage, podmanAvailable } from '../test/helpers/podman.js';
import { adjtimexMs, percentile } from './container-start.js';

const RUNS = Number(process.env.BENCH_CONTAINER_RUNS ?? 3);
const SAMPLES = Number(process.env.BENCH_CONTAINER_SLURM_SAMPLES ?? 10);
const POLL_MS = 200;
const CLOCK = ['/bin/busybox', 'adjtimex'];
const VARIANTS = ['slurmHost', 'slurmContainer', 'sbatchHost', 'sbatchPodman'] as const;
type Variant = (typeof VARIANTS)[number];

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.timeOrigin + performance.now();

function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'bench')}`) ? resolve(here, '..', '..') : resolve(here, '..');
}

function run(cluster: LocalhostSlurm, cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { env: { ...process.env, ...cluster.env } }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else res(stdout);
    });
  });
}

function spec(image: string | undefined): JobSpec {
  return {
    name: 'bench',
    project: 'bench',
    gpuType: 'any',
    gpusPerNode: 1,
    nodes: 1,
    command: CLOCK,
    ...(image ? { image } : {}),
    maxRuntimeSeconds: 600,
    priorityClass: 'normal',
    labels: {},
  };
}

interface RunResult {
  loadavgBefore: number[];
  loadavgAfter: number[];
  variants: Record<Variant, { n: number; p50Ms: number; p90Ms: number; minMs: number; maxMs: number }>;
  containerMinusSbatchPodmanP50Ms: number;
}

export async function benchContainerStartSlurm(): Promise<Record<string, unknown>> {
  const unavailable = localhostSlurmUnavailable() || (podmanAvailable() ? false : 'podman or /bin/busybox missing');
  if (unavailable) return { skipped: unavailable };
  const image = ensureTestImage();
  const cluster = startLocalhostSlurm(repoRoot());
  const work = mkdtempSync(join(tmpdir(), 'gigafab-bench-ctr-slurm-'));
  const nodeMap: Record<string, string> = {};
  cluster.nodes.forEach((n, i) => {
    nodeMap[`bench-${i}`] = n;
  });
  const gigafabNodes = Object.keys(nodeMap);
  const driver = new SlurmDriver({
    nodeMap,
    jobDir: join(work, 'driver'),
    slurmConf: cluster.slurmConf,
    instance: `bench-ctr-${process.pid}`,
    pollIntervalMs: POLL_MS,
    nodePollIntervalMs: 0,
    gpuPassthrough: 'none',
  });
  const exits = new Map<string, Extract<Observation, { type: 'exited' }>>();
  const waiters = new Map<string, () => void>();
  driver.onObservation((o) => {
    if (o.type !== 'exited') return;
    exits.set(o.jobId, o);
    waiters.get(o.jobId)?.();
  });
  const exited = (id: string) =>
    new Promise<void>((r) => {
      if (exits.has(id)) r();
      else waiters.set(id, r);
    });
  const plainDir = join(work, 'plain');
  mkdirSync(plainDir, { recursive: true });
  const srunScript = join(work, 'srun-job.sh');
  writeFileSync(srunScript, '#!/bin/sh\nsrun --ntasks-per-node=1 "$@"\n', { mode: 0o755 });
  let seq = 0;

  async function viaDriver(node: string, withImage: boolean): Promise<number> {
    const id = `ctrs-${process.pid}-${++seq}`;
    const done = exited(id);
    const t0 = nowMs();
    await driver.start({
      id,
      spec: spec(withImage ? image : undefined),
      placement: { site: 'bench', gpuType: 'H100', nodes: [{ node, gpus: [0] }] },
      startedAt: Date.now(),
    });
    await done;
    const e = exits.get(id);
    if (e?.exitCode !== 0) throw new Error(`job ${id} did not succeed: ${e?.message}`);
    const ts = adjtimexMs(readFileSync(driver.logPath(id), 'utf8'));
    if (ts === null) throw new Error(`job ${id} printed no clock`);
    return ts - t0;
  }

  async function viaSbatch(node: string, withImage: boolean): Promise<number> {
    const out = join(plainDir, `plain-${++seq}.log`);
    const command = withImage ? ['podman', 'run', '--rm', image, ...CLOCK] : CLOCK;
    const t0 = nowMs();
    const sid = (
      await run(cluster, 'sbatch', [
        '--parsable',
        `--nodelist=${nodeMap[node]}`,
        '--gres=gpu:1',
        '--ntasks-per-node=1',
        `--output=${out}`,
        srunScript,
        ...command,
      ])
    )
      .trim()
      .split(';')[0];
    for (;;) {
      const job = parseSqueueJson(await run(cluster, 'squeue', ['--json'])).jobs.find((j) => j.slurmJobId === sid);
      if (!job || ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(job.state)) break;
      await sleep(POLL_MS);
    }
    const ts = adjtimexMs(readFileSync(out, 'utf8'));
    if (ts === null) throw new Error(`sbatch job ${sid} printed no clock: ${readFileSync(out, 'utf8')}`);
    return ts - t0;
  }

  const sample = (v: Variant, node: string) =>
    v === 'slurmHost'
      ? viaDriver(node, false)
      : v === 'slurmContainer'
        ? viaDriver(node, true)
        : viaSbatch(node, v === 'sbatchPodman');

  try {
    for (const v of VARIANTS) await sample(v, gigafabNodes[0]); // warm-up: the first job after slurmctld starts waits longer
    const rand = mulberry32(7);
    const runs: RunResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      const loadBefore = loadavg().map((x) => round(x, 2));
      const got: Record<Variant, number[]> = { slurmHost: [], slurmContainer: [], sbatchHost: [], sbatchPodman: [] };
      for (let i = 0; i < SAMPLES; i++) {
        for (let k = 0; k < VARIANTS.length; k++) {
          const v = VARIANTS[(i + k) % VARIANTS.length];
          await sleep(200 + rand() * 1000);
          got[v].push(await sample(v, gigafabNodes[(i + k) % gigafabNodes.length]));
        }
      }
      const stats = (xs: number[]) => ({
        n: xs.length,
        p50Ms: round(percentile(xs, 50)),
        p90Ms: round(percentile(xs, 90)),
        minMs: round(Math.min(...xs)),
        maxMs: round(Math.max(...xs)),
      });
      const variants = {
        slurmHost: stats(got.slurmHost),
        slurmContainer: stats(got.slurmContainer),
        sbatchHost: stats(got.sbatchHost),
        sbatchPodman: stats(got.sbatchPodman),
      };
      runs.push({
        loadavgBefore: loadBefore,
        loadavgAfter: loadavg().map((x) => round(x, 2)),
        variants,
        containerMinusSbatchPodmanP50Ms: round(variants.slurmContainer.p50Ms - variants.sbatchPodman.p50Ms),
      });
    }
    const med = (f: (r: RunResult) => number) => round(percentile(runs.map(f), 50));
    const overhead = med((r) => r.containerMinusSbatchPodmanP50Ms);
    return {
      what: 'ms from submission to the job’s first instruction (busybox adjtimex), localhost Slurm 22.05',
      slurmNodes: cluster.nodes.length,
      image,
      runs: RUNS,
      samplesPerVariantPerRun: SAMPLES,
      medianOfRuns: Object.fromEntries(
        VARIANTS.map((v) => [v, { p50Ms: med((r) => r.variants[v].p50Ms), p90Ms: med((r) => r.variants[v].p90Ms) }]),
      ),
      containerMinusSbatchPodmanP50Ms: overhead,
      targetMs: 100,
      targetMet: overhead < 100,
      perRun: runs,
    };
  } finally {
    await driver.close();
    rmSync(work, { recursive: true, force: true });
    cluster.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchContainerStartSlurm().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
