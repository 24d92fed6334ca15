/**
 * Benchmark (issue 13): container start overhead on the `local` driver. Latency from submission
 * (LocalDriver.start() called, or the plain command spawned) to the job's own first instruction,
 * which is `/bin/busybox adjtimex`: it prints the wall clock in microseconds from inside the
 * container (the image's busybox `date` has no sub-second format). Variants, interleaved sample by
 * sample in one run, in a rotating order:
 *
 *   host             the same job as a host process through gigafab (no image)
 *   container        the job in the test image through gigafab (podman run, runc)
 *   apiHost          the host job through the whole product: POST /v1/jobs on a real server with a
 *                    `local` site → durable write → next scheduling cycle → driver (container-start-api.ts)
 *   apiContainer     the image job the same way
 *   podman           plain `podman run --rm IMAGE …` (no gigafab; podman's default bridge network)
 *   podmanSameArgs   podman run with exactly the arguments gigafab builds (host network, env by name,
 *                    checkpoint mount, labels, …), spawned directly: container − podmanSameArgs is
 *                    gigafab's own work; podmanSameArgs − podman is what its podman options cost
 *
 * RUNS runs × SAMPLES samples per variant; p50/p90 per run, and medians of the runs. Needs podman
 * and busybox-static (scripts/ensure-podman.sh). Run: `npm run bench -- container-start`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DriverJob, Observation } from '../src/drivers/driver.js';
import { LocalDriver } from '../src/drivers/local-driver.js';
import { containerEnv, run as podmanRun, podmanRunArgs } from '../src/drivers/podman.js';
import { rendezvousEnv } from '../src/drivers/rendezvous.js';
import { mulberry32 } from '../src/model/prng.js';
import type { JobSpec } from '../src/model/schemas.js';
import { ensureTestImage, podmanAvailable } from '../test/helpers/podman.js';
import { startApiSite } from './container-start-api.js';

const RUNS = Number(process.env.BENCH_CONTAINER_RUNS ?? 3);
const SAMPLES = Number(process.env.BENCH_CONTAINER_SAMPLES ?? 15);
const TARGET_MS = 100;
/** The job: its first (and only) instruction prints the wall clock from where it runs. */
const CLOCK = ['/bin/busybox', 'adjtimex'];

export const VARIANTS = ['host', 'container', 'apiHost', 'apiContainer', 'podman', 'podmanSameArgs'] as const;
type Variant = (typeof VARIANTS)[number];

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wall clock in ms with sub-millisecond resolution (Date.now() has whole ms). */
const nowMs = () => performance.timeOrigin + performance.now();

/** The epoch ms that `busybox adjtimex` printed, or null. */
export function adjtimexMs(text: string): number | null {
  const s = /time\.tv_sec:\s+(\d+)/.exec(text);
  const u = /time\.tv_usec:\s+(\d+)/.exec(text);
  return s && u ? Number(s[1]) * 1000 + Number(u[1]) / 1000 : null;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const median = (xs: readonly number[]) => percentile(xs, 50);

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

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve({ code, stdout }) : reject(new Error(`${cmd} failed (${code}): ${stderr}`)),
    );
  });
}

interface Sample {
  /** submission → the job's first instruction. */
  toFirstInstructionMs: number;
  /** submission → start() returned (gigafab variants: the driver's own work including the spawn). */
  startReturnedMs?: number;
  /** API variants: POST → 201. */
  acknowledgedMs?: number;
}

interface VariantStats {
  n: number;
  p50Ms: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
  /** gigafab variants: p50 of submission → start() returned. */
  startReturnedP50Ms?: number;
  /** API variants: p50 of POST → 201. */
  acknowledgedP50Ms?: number;
}

interface RunResult {
  loadavgBefore: number[];
  loadavgAfter: number[];
  variants: Record<Variant, VariantStats>;
  containerMinusPodmanP50Ms: number;
  containerMinusSameArgsP50Ms: number;
  apiContainerMinusPodmanP50Ms: number;
}

function stats(samples: readonly Sample[]): VariantStats {
  const xs = samples.map((s) => s.toFirstInstructionMs);
  const ret = samples.flatMap((s) => (s.startReturnedMs === undefined ? [] : [s.startReturnedMs]));
  const ack = samples.flatMap((s) => (s.acknowledgedMs === undefined ? [] : [s.acknowledgedMs]));
  return {
    n: xs.length,
    p50Ms: round(percentile(xs, 50)),
    p90Ms: round(percentile(xs, 90)),
    minMs: round(Math.min(...xs)),
    maxMs: round(Math.max(...xs)),
    ...(ret.length ? { startReturnedP50Ms: round(percentile(ret, 50)) } : {}),
    ...(ack.length ? { acknowledgedP50Ms: round(percentile(ack, 50)) } : {}),
  };
}

export async function benchContainerStart(): Promise<Record<string, unknown>> {
  if (!podmanAvailable()) return { skipped: 'podman or /bin/busybox missing: run scripts/ensure-podman.sh (as root)' };
  const image = ensureTestImage();
  const work = mkdtempSync(join(tmpdir(), 'gigafab-bench-ctr-'));
  const driver = new LocalDriver({ baseDir: join(work, 'jobs'), gpus: [], gpuPassthrough: 'none', pollIntervalMs: 100 });
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
  const podmanEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  let seq = 0;

  async function viaDriver(withImage: boolean): Promise<Sample> {
    const id = `ctr-${process.pid}-${++seq}`;
    const job: DriverJob = {
      id,
      spec: spec(withImage ? image : undefined),
      placement: { site: 'bench', gpuType: 'H100', nodes: [{ node: 'box', gpus: [] }] },
      startedAt: Date.now(),
    };
    const done = exited(id);
    const t0 = nowMs();
    await driver.start(job);
    const returned = nowMs();
    await done;
    const e = exits.get(id);
    if (e?.exitCode !== 0) throw new Error(`job ${id} did not succeed: ${e?.message}`);
    const ts = adjtimexMs(readFileSync(driver.logPath(id), 'utf8'));
    if (ts === null) throw new Error(`job ${id} printed no clock`);
    await driver.forget(id);
    return { toFirstInstructionMs: ts - t0, startReturnedMs: returned - t0 };
  }

  /** The podman arguments the local driver builds for the same job (same environment names, same mount). */
  function sameArgs(name: string, checkpointFile: string): { args: string[]; env: NodeJS.ProcessEnv } {
    const vars = {
      ...rendezvousEnv(name, { site: 'bench', gpuType: 'H100', nodes: [{ node: 'box', gpus: [] }] }, 0, '127.0.0.1'),
      GIGAFAB_JOB_ID: name,
      GIGAFAB_CHECKPOINT_FILE: '/gigafab/checkpoints',
      CUDA_VISIBLE_DEVICES: '',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    };
    const env = containerEnv(vars, new Set());
    const args = podmanRunArgs({ name, spec: spec(image), env, gpus: [], checkpointFile, gpuPassthrough: 'none' });
    return { args: ['run', '--rm', ...args.slice(1)], env: { ...podmanEnv, ...env.byName } };
  }

  async function plainPodman(same: boolean): Promise<Sample> {
    const name = `bench-ctr-${process.pid}-${++seq}`;
    let args = ['run', '--rm', image, ...CLOCK];
    let env: NodeJS.ProcessEnv = podmanEnv;
    if (same) {
      const checkpointFile = join(work, `${name}.checkpoints`);
      writeFileSync(checkpointFile, '', { mode: 0o600 });
      ({ args, env } = sameArgs(name, checkpointFile));
    }
    const t0 = nowMs();
    const { stdout } = await exec('podman', args, env);
    const ts = adjtimexMs(stdout);
    if (ts === null) throw new Error(`podman ${args.join(' ')} printed no clock: ${stdout}`);
    return { toFirstInstructionMs: ts - t0 };
  }

  const site = await startApiSite(adjtimexMs);
  const sample = (v: Variant): Promise<Sample> => {
    switch (v) {
      case 'host':
        return viaDriver(false);
      case 'container':
        return viaDriver(true);
      case 'apiHost':
        return site.sample(undefined, CLOCK);
      case 'apiContainer':
        return site.sample(image, CLOCK);
      default:
        return plainPodman(v === 'podmanSameArgs');
    }
  };

  try {
    for (const v of VARIANTS) await sample(v); // warm-up: podman's storage, page cache, the node binary's paths
    const rand = mulberry32(13);
    const runs: RunResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      const loadBefore = loadavg().map((x) => round(x, 2));
      const got: Record<Variant, Sample[]> = {
        host: [],
        container: [],
        apiHost: [],
        apiContainer: [],
        podman: [],
        podmanSameArgs: [],
      };
      for (let i = 0; i < SAMPLES; i++) {
        // Rotate the order so that no variant always follows another one's cleanup.
        for (let k = 0; k < VARIANTS.length; k++) {
          const v = VARIANTS[(i + k) % VARIANTS.length];
          await sleep(200 + rand() * 200); // let the previous sample's podman cleanup finish
          got[v].push(await sample(v));
        }
      }
      const loadAfter = loadavg().map((x) => round(x, 2));
      const variants: Record<Variant, VariantStats> = {
        host: stats(got.host),
        container: stats(got.container),
        apiHost: stats(got.apiHost),
        apiContainer: stats(got.apiContainer),
        podman: stats(got.podman),
        podmanSameArgs: stats(got.podmanSameArgs),
      };
      runs.push({
        loadavgBefore: loadBefore,
        loadavgAfter: loadAfter,
        variants,
        containerMinusPodmanP50Ms: round(variants.container.p50Ms - variants.podman.p50Ms),
        containerMinusSameArgsP50Ms: round(variants.container.p50Ms - variants.podmanSameArgs.p50Ms),
        apiContainerMinusPodmanP50Ms: round(variants.apiContainer.p50Ms - variants.podman.p50Ms),
      });
    }
    const med = (f: (r: RunResult) => number) => round(median(runs.map(f)));
    const overhead = med((r) => r.containerMinusPodmanP50Ms);
    return {
      what: 'ms from submission to the job’s first instruction (busybox adjtimex inside the container / on the host)',
      podman: (await podmanRun(['--version'], podmanEnv)).stdout.trim(),
      runtime: (await podmanRun(['info', '--format', '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}'], podmanEnv)).stdout
        .trim()
        .split('\n')[0],
      image,
      runs: RUNS,
      samplesPerVariantPerRun: SAMPLES,
      medianOfRuns: Object.fromEntries(
        VARIANTS.map((v) => [
          v,
          {
            p50Ms: med((r) => r.variants[v].p50Ms),
            p90Ms: med((r) => r.variants[v].p90Ms),
            ...(v === 'host' || v === 'container'
              ? { startReturnedP50Ms: med((r) => r.variants[v].startReturnedP50Ms ?? 0) }
              : {}),
            ...(v === 'apiHost' || v === 'apiContainer'
              ? { acknowledgedP50Ms: med((r) => r.variants[v].acknowledgedP50Ms ?? 0) }
              : {}),
          },
        ]),
      ),
      containerMinusPodmanP50Ms: overhead,
      containerMinusSameArgsP50Ms: med((r) => r.containerMinusSameArgsP50Ms),
      /** The same through the whole product: POST /v1/jobs → first instruction, against plain podman run. */
      apiContainerMinusPodmanP50Ms: med((r) => r.apiContainerMinusPodmanP50Ms),
      targetMs: TARGET_MS,
      targetMet: overhead < TARGET_MS,
      perRun: runs,
    };
  } finally {
    await site.stop();
    await driver.close();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchContainerStart().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
