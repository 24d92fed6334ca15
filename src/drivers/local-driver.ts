/**
 * LocalDriver: runs jobs as processes on this one machine (a single GPU box, or a CPU node).
 *
 * Each run of a job (attempt K: the control plane's count of its starts, so a requeued job runs again
 * in a fresh directory and earlier runs' output stays readable) gets a working directory
 * `<baseDir>/<jobId>/attempt-<K>/` holding:
 *   output.log   stdout and stderr together (the job writes it directly: it outlives the control plane),
 *                when the control plane gave no log key (a store without sealing); with a key instead:
 *   output.log.sealed  the same, encrypted (AES-256-CTR) by a log-sealer process the job writes into
 *                (see log-sealer.ts); output.log.iv its IV, output.log.sealed.done once it has all
 *   state.json   pid, process group, process start time, boot id, wall-clock deadline, stop intent
 *   exit_code    written by a tiny `sh` wrapper when the command ends (its status; 128+N for signal N)
 *   result.json  the outcome this driver reported, so a later reattach reports the same
 *   checkpoints  GIGAFAB_CHECKPOINT_FILE: the job appends `step=N label=TEXT` lines; each is reported
 *                as a checkpoint observation (checkpoint.offset: how far it was read, for reattach)
 *   scratch/     GIGAFAB_SCRATCH (in a container: /scratch), the run's own scratch space
 * Datasets staged under `datasetRoot` are mounted into containers at /datasets/<id> (job-mounts.ts).
 * The job runs in its own session and process group (detached), with CUDA_VISIBLE_DEVICES set to
 * exactly its GPUs, and an environment built from scratch: a few variables of the control plane
 * (PATH, LANG, ...), the job's env, its secrets, and GIGAFAB_*; nothing else of the parent.
 *
 * Stopping (stop() → cancelled, wall-clock limit → timed-out): SIGTERM to the whole group, a grace
 * period, then SIGKILL to the group. A control-plane restart does not touch the jobs: close() leaves
 * them running, and reattach() finds them again by pid + start time (+ boot id), keeps watching them,
 * reports the recorded exit code of those that ended meanwhile, and `lost` where nothing is found.
 * Running jobs in baseDir that the control plane does not know (orphans) are stopped, or only
 * reported (option `orphans`); see reconcile().
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type NodeAllocation, REGISTRY_AUTH_SECRET } from '../model/job.js';
import { followCheckpoints } from './checkpoint-file.js';
import {
  baseEnv,
  bootId,
  checkJobId,
  DEFAULT_LOG_CHUNK,
  DEFAULT_PASS_ENV,
  isSameProcess,
  Listeners,
  procStat,
  raceTimeout,
  readExitCode,
  readJson,
  readLogChunk,
  runDir,
  runsIn,
  signalGroup,
  writeJsonAtomic,
} from './common.js';
import type { CheckpointObservation, DriverJob, ExecutionDriver, ExitOutcome, LogChunk, Observation } from './driver.js';
import {
  CheckpointOffsetSchema,
  type JobResultFile,
  JobResultFileSchema,
  type LocalJobState,
  LocalJobStateSchema,
  SealerFileSchema,
} from './driver-files.js';
import {
  type DiscoverOptions,
  discoverGpus,
  type GpuDiscovery,
  type GpuInfo,
  listMigDevices,
  type MigDevice,
} from './gpu-discovery.js';
import { shareEnv } from './gpu-share-env.js';
import {
  createStateDir,
  datasetVolumes,
  firstUnstaged,
  mountEnv,
  removeStateDir,
  scratchDir,
  scratchVolume,
  stateNotMounted,
  unstagedReason,
} from './job-mounts.js';
import { gangArgv, rankContainer } from './local-gang.js';
import { LocalPowerSampler } from './local-power.js';
import { LOG_IV_BYTES, LOG_KEY_BYTES, openLogRange } from './log-sealer.js';
import { createInstance, destroyInstances, disableMig, enableMig, noRoom } from './mig-ops.js';
import {
  CONTAINER_CHECKPOINT_FILE,
  CONTAINER_WRAPPER,
  containerEnv,
  containerName,
  findPodman,
  type GpuPassthrough,
  needsPull,
  run as podmanRun,
  podmanRunArgs,
  pullImage,
  resolvePassthrough,
  stopContainer,
} from './podman.js';
import { rendezvousEnv } from './rendezvous.js';
import type { SiteRunPolicy } from './runnable.js';
import { sessionCommand } from './session-command.js';
import { workloadPort } from './workload-port.js';

const SEALER = fileURLToPath(new URL('./log-sealer.js', import.meta.url));
const SEALED = 'output.log.sealed';

export { discoverGpus, type GpuDiscovery, type GpuInfo } from './gpu-discovery.js';

export interface LocalDriverOptions {
  /** Directory for the per-job working directories. Created if missing. */
  baseDir: string;
  /** gigafab node id of this machine: placements on other nodes are refused. */
  node?: string;
  /** The GPU inventory to use instead of asking nvidia-smi (fixed inventories, tests). */
  gpus?: GpuInfo[];
  /** Environment nvidia-smi is looked up and run in (its PATH). Default: this process's. */
  discoveryEnv?: NodeJS.ProcessEnv;
  /** CUDA_VISIBLE_DEVICES as nvidia-smi indices (default; CUDA_DEVICE_ORDER=PCI_BUS_ID is set) or GPU UUIDs. */
  cudaDevices?: 'index' | 'uuid';
  /** Variables of the control plane's environment that jobs inherit. Default PATH, LANG, LC_ALL, TZ. */
  passEnv?: string[];
  /** Grace between SIGTERM and SIGKILL when a job reaches its wall-clock limit. Default 30 s. */
  timeoutGraceSeconds?: number;
  /** How often jobs found again after a restart (not our children) are checked. Default 500 ms. */
  pollIntervalMs?: number;
  /** How often each job's checkpoint file is read. Default 500 ms. */
  checkpointPollMs?: number;
  /** Running jobs in baseDir that reattach() was not told about: 'stop' them (default) or only 'report'. */
  orphans?: 'stop' | 'report';
  /** Clock for observation times (epoch ms). */
  now?: () => number;
  /** Jobs without an image may run as host processes (default true). */
  hostJobs?: boolean;
  /** Run images with podman (default: when podman is on PATH). */
  images?: boolean;
  /** Registries images may come from (see runnable.ts); absent: any. */
  registries?: string[];
  /** How GPUs reach a container (podman.ts GpuPassthrough); default auto. */
  gpuPassthrough?: GpuPassthrough;
  /**
   * Several gigafab nodes that are all this one machine (a test rig): a gang placed on them runs one
   * rank per node here (local-gang.ts). Their GPUs are this machine's: give the nodes disjoint ones.
   */
  nodes?: string[];
  /** Where this site stages datasets, `<datasetRoot>/<datasetId>` (job-mounts.ts); absent: none are mounted. */
  datasetRoot?: string;
  /**
   * Sample the GPUs' power with nvidia-smi (on discoveryEnv's PATH) every this many seconds and report
   * each run's energy with its exit (local-power.ts); absent or 0: not measured. Jobs without GPUs are not sampled.
   */
  powerSampleSeconds?: number;
}

/** The containers of a run: one, or one per rank of a gang. */
function containersOf(state: LocalJobState): string[] {
  if (!state.container) return [];
  const base = state.container;
  return state.ranks ? Array.from({ length: state.ranks }, (_, r) => rankContainer(base, r)) : [base];
}

/** ` (rank N failed first)` for a gang whose rank N ended it, else ''. */
function failedRank(dir: string): string {
  try {
    return ` (rank ${readFileSync(join(dir, 'exit_code.failed'), 'utf8').trim()} failed first)`;
  } catch {
    return '';
  }
}

/** What state.json holds. Never the environment: secrets must not reach the disk through us. */

interface Tracked {
  /** Key in the driver's job map: the job id, or `<id>/attempt-<K>` for an orphaned run. */
  key: string;
  id: string;
  attempt: number;
  dir: string;
  state: LocalJobState;
  /** null for a job found again by reattach(): it is not our child, so it is polled. */
  child: ChildProcess | null;
  /** Orphans are stopped without observations: the control plane does not know them. */
  silent: boolean;
  finished: boolean;
  timers: NodeJS.Timeout[];
  killTimer: NodeJS.Timeout | null;
  done: Promise<void>;
  resolveDone: () => void;
  /** Bytes of the checkpoint file already reported. */
  checkpointOffset: number;
}

export interface ReconcileResult {
  /** Running jobs here that the control plane does not know (or earlier runs of known ones), and what was done. */
  orphans: { jobId: string; attempt: number; pid: number; action: 'stopped' | 'reported' }[];
  /** Known jobs of which nothing was found. */
  lost: string[];
}

/**
 * The job wrapper: runs the command as a child (so the shell survives to record its status), defers
 * SIGTERM/SIGINT/SIGHUP until the command ends (trapped signals are reset to default in the command),
 * writes the status atomically, and exits with it.
 */
const WRAPPER = [
  'exit_file=$1; shift',
  "trap ':' TERM INT HUP",
  '"$@"',
  'code=$?',
  `printf '%s\\n' "$code" > "$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"`,
  'exit "$code"',
].join('\n');

export class LocalDriver implements ExecutionDriver {
  readonly name = 'local';
  readonly baseDir: string;
  private readonly listeners = new Listeners();
  private readonly jobs = new Map<string, Tracked>();
  /** MIG device UUID given to each job started here (held while the job is in `jobs`). */
  private readonly migHeld = new Map<string, string>();
  private inventoryPromise: Promise<GpuDiscovery> | null = null;
  private power: LocalPowerSampler | null = null;
  private closed = false;
  private readonly now: () => number;
  lastReconcile: ReconcileResult | null = null;
  /** podman's path, null when it is not installed (then images are refused at submission). */
  private readonly podman: string | null;

  constructor(private readonly opts: LocalDriverOptions) {
    this.baseDir = resolve(opts.baseDir);
    this.now = opts.now ?? (() => Date.now());
    mkdirSync(this.baseDir, { recursive: true, mode: 0o700 });
    this.podman = findPodman(this.podmanEnv().PATH ?? '');
  }

  runPolicy(site: string): SiteRunPolicy {
    return {
      site,
      images: (this.opts.images ?? true) && this.podman !== null,
      hostJobs: this.opts.hostJobs ?? true,
      registries: this.opts.registries,
    };
  }

  /** The environment podman itself runs in (its PATH; nothing of a job). */
  private podmanEnv(): Record<string, string> {
    return baseEnv(this.opts.passEnv ?? DEFAULT_PASS_ENV);
  }

  onObservation(listener: (o: Observation) => void): void {
    this.listeners.onObservation(listener);
  }

  onCheckpoint(listener: (o: CheckpointObservation) => void): void {
    this.listeners.onCheckpoint(listener);
  }

  /** The GPUs jobs are given (nvidia-smi, asked once; a failed discovery is retried next time). */
  async gpuInventory(): Promise<GpuDiscovery> {
    if (this.opts.gpus) {
      return this.opts.gpus.length
        ? { kind: 'gpus', gpus: this.opts.gpus }
        : { kind: 'cpu-only', reason: 'no NVIDIA GPUs found: CPU-only node (empty inventory configured)' };
    }
    if (!this.inventoryPromise) {
      const discover: DiscoverOptions = { env: this.opts.discoveryEnv };
      this.inventoryPromise = discoverGpus(discover);
    }
    const inv = await this.inventoryPromise;
    if (inv.kind === 'error') this.inventoryPromise = null;
    return inv;
  }

  /** The working directory of one run of a job (default: its latest run here, else attempt 1). */
  workDir(jobId: string, attempt?: number): string {
    checkJobId(jobId);
    const k = attempt ?? this.attempts(jobId).at(-1) ?? 1;
    return runDir(join(this.baseDir, jobId), k, 'state.json');
  }

  /** The attempts of a job that have a directory here, in order. */
  attempts(jobId: string): number[] {
    checkJobId(jobId);
    return runsIn(join(this.baseDir, jobId), 'state.json').map((r) => r.attempt);
  }

  logPath(jobId: string, attempt?: number): string {
    return join(this.workDir(jobId, attempt), 'output.log');
  }

  async logs(
    jobId: string,
    offset: number,
    maxBytes = DEFAULT_LOG_CHUNK,
    attempt?: number,
    logKey?: Buffer,
  ): Promise<LogChunk | null> {
    const k = attempt ?? this.attempts(jobId).at(-1) ?? 1;
    const t = this.jobs.get(jobId);
    const ended = !t || t.attempt !== k;
    const dir = this.workDir(jobId, k);
    if (!existsSync(join(dir, `${SEALED}`))) return readLogChunk(this.logPath(jobId, k), offset, maxBytes, ended);
    // Sealed: readable only with the run's key; done once the job ended and the sealer wrote everything.
    if (!logKey) return null;
    const iv = readFileSync(join(dir, 'output.log.iv'));
    const sealerDone = existsSync(join(dir, `${SEALED}.done`)) || !this.sealerAlive(dir);
    const chunk = readLogChunk(join(dir, SEALED), offset, maxBytes, ended && sealerDone);
    if (!chunk) return null;
    return { ...chunk, data: openLogRange(logKey, iv, chunk.offset, chunk.data) };
  }

  /** Whether a run's sealer process still runs (it may be draining the pipe after the job ended). */
  private sealerAlive(dir: string): boolean {
    const s = readJson(join(dir, 'sealer.json'), SealerFileSchema);
    return !!s && isSameProcess(s.pid, s.startTicks, s.bootId);
  }

  /**
   * startSealer: the log-sealer for one run, in its own session; returns the pipe end the job writes
   * into. The key and IV go through fd 3 (closed at once), never on a command line or in an environment.
   */
  private startSealer(dir: string, key: Buffer): { input: Writable; release: () => void } {
    if (key.length !== LOG_KEY_BYTES) throw new Error(`a log key has ${LOG_KEY_BYTES} bytes`);
    const iv = randomBytes(LOG_IV_BYTES);
    writeFileSync(join(dir, 'output.log.iv'), iv, { mode: 0o600 });
    closeSync(openSync(join(dir, SEALED), 'a', 0o600));
    const sealer = spawn(process.execPath, [SEALER, join(dir, SEALED)], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore', 'pipe'],
    });
    if (sealer.pid === undefined || !sealer.stdin) throw new Error('could not start the log sealer');
    sealer.on('error', () => {});
    const keyPipe = sealer.stdio[3] as Writable;
    keyPipe.end(Buffer.concat([key, iv]));
    writeJsonAtomic(join(dir, 'sealer.json'), {
      pid: sealer.pid,
      startTicks: procStat(sealer.pid)?.startTicks ?? null,
      bootId: bootId(),
    });
    const input = sealer.stdin;
    return {
      input,
      // Once the job holds its copy, the control plane lets go: the sealer ends when the job's side closes.
      release: () => {
        input.destroy();
        sealer.unref();
      },
    };
  }

  /** removeDatasetState removes a deleted dataset's state directory (job-mounts.ts), notebooks and all. */
  async removeDatasetState(datasetId: string): Promise<boolean> {
    return removeStateDir(this.opts.datasetRoot, datasetId);
  }

  /** forget removes an ended job's directory with every attempt (its output, sealed or not, is tenant data). */
  async forget(jobId: string): Promise<void> {
    checkJobId(jobId);
    if (this.jobs.has(jobId)) return;
    rmSync(join(this.baseDir, jobId), { recursive: true, force: true });
  }

  isRunning(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  async start(job: DriverJob): Promise<void> {
    if (this.closed) throw new Error('local driver is closed');
    checkJobId(job.id);
    if (this.jobs.has(job.id)) throw new Error(`job ${job.id} is already running here`);
    const command = sessionCommand(job.spec);
    const image = job.spec.image;
    if (image && !this.runPolicy('').images) {
      throw new Error(
        `job ${job.id} has an image (${image}) and this node has no container runtime (podman): not run on the host`,
      );
    }
    if (!image && (!command || command.length === 0)) throw new Error(`job ${job.id} has no command`);
    if (!image && this.opts.hostJobs === false) throw new Error(`job ${job.id} has no image and this site runs no host jobs`);
    this.checkNodes(job);
    const alloc = job.placement.nodes[0];
    const gang = job.placement.nodes.length > 1;
    // Each rank's GPUs (one rank per placed node; all on this machine).
    const cvds: string[] = [];
    for (const n of job.placement.nodes) cvds.push(await this.cudaVisibleDevices(n.gpus));
    // The node-level re-partitions committed with this start (idle GPUs, whole <-> MIG) come first.
    const refused = await this.repartition(job);
    if (refused) {
      const at = this.workDir(job.id, job.attempt ?? 1);
      mkdirSync(at, { recursive: true, mode: 0o700 });
      return this.endAtStart(job.id, at, `mig_repartition_failed: ${refused}`);
    }
    // Part of one GPU: its MIG instance instead of the GPU, or the GPU with MPS limits (time slicing).
    const share = await this.shareDevices(job.id, alloc, cvds[0]);
    if (typeof share === 'string') {
      const at = this.workDir(job.id, job.attempt ?? 1);
      mkdirSync(at, { recursive: true, mode: 0o700 });
      return this.endAtStart(job.id, at, `mig_instance_missing: ${share}`);
    }
    if (share) cvds[0] = share.cvd;
    const cvd = cvds[0];
    const attempt = job.attempt ?? 1;
    const dir = this.workDir(job.id, attempt);
    if (existsSync(join(dir, 'state.json'))) {
      throw new Error(
        `attempt ${attempt} of job ${job.id} was already started here (${dir}): a restarted control plane must reattach it`,
      );
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Registry credentials are for the pull only: never part of the job's environment.
    const { [REGISTRY_AUTH_SECRET]: registryAuth, ...secrets } = job.secrets ?? {};
    // A job never runs without its data: an unstaged dataset ends it before anything is pulled or run.
    const datasets = datasetVolumes(this.opts.datasetRoot, job.datasets);
    createStateDir(job.spec, datasets);
    const unstaged = firstUnstaged(datasets);
    if (unstaged) return this.endAtStart(job.id, dir, unstagedReason(unstaged));
    const noState = stateNotMounted(job.spec, datasets);
    if (noState) return this.endAtStart(job.id, dir, noState);
    const scratch = scratchDir(dir);
    mkdirSync(scratch, { recursive: true });
    // Writable for an image's non-root user too; the run directory (0700) keeps everyone else out.
    chmodSync(scratch, 0o777);
    const mountVars = mountEnv({ scratch, volumes: datasets, inContainer: !!image }, { ...job.spec.env, ...secrets });
    const volumes = [scratchVolume(scratch), ...datasets];
    if (image && needsPull(image) && !(await this.pull(job, dir, image, registryAuth))) return;
    const port = gang ? null : await workloadPort(job.spec);
    const gigafab: Record<string, string> = {
      ...port?.env,
      // Set last: a job cannot widen its own GPUs.
      ...rendezvousEnv(job.id, job.placement, 0, '127.0.0.1'),
      GIGAFAB_JOB_ID: job.id,
      GIGAFAB_WORKDIR: image ? '' : dir,
      GIGAFAB_CHECKPOINT_FILE: image ? CONTAINER_CHECKPOINT_FILE : join(dir, 'checkpoints'),
      CUDA_VISIBLE_DEVICES: cvd,
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      ...(share ? share.env : {}),
      ...(image && job.placement.nodes.some((n) => n.gpus.length) ? { NVIDIA_VISIBLE_DEVICES: cvd } : {}),
      ...mountVars,
    };
    if (image) delete gigafab.GIGAFAB_WORKDIR;
    const container = image ? containerName(job.id, attempt) : undefined;
    const cenv = image ? containerEnv({ ...job.spec.env, ...secrets, ...gigafab }, new Set(Object.keys(secrets))) : null;
    const env: Record<string, string> = cenv
      ? { ...this.podmanEnv(), ...cenv.byName }
      : { ...baseEnv(this.opts.passEnv ?? DEFAULT_PASS_ENV), HOME: dir, ...job.spec.env, ...secrets, ...gigafab };
    const passthrough = resolvePassthrough(this.opts.gpuPassthrough ?? 'auto');
    const argv = gang
      ? gangArgv({
          jobId: job.id,
          exitFile: join(dir, 'exit_code'),
          cvds,
          ...(cenv && container && this.podman
            ? {
                container: { base: container, podman: this.podman, gpuPassthrough: passthrough },
                rest: podmanRunArgs({
                  spec: job.spec,
                  env: cenv,
                  gpus: [],
                  checkpointFile: join(dir, 'checkpoints'),
                  gpuPassthrough: 'none',
                  volumes,
                }).slice(1),
              }
            : { rest: command ?? [] }),
        })
      : cenv && container && this.podman
        ? [
            '-c',
            CONTAINER_WRAPPER,
            `gigafab-job-${job.id}`,
            join(dir, 'exit_code'),
            container,
            this.podman,
            ...podmanRunArgs({
              name: container,
              spec: { ...job.spec, command },
              ...(port?.publish ? { publish: port.publish } : {}),
              env: cenv,
              gpus: alloc.gpus,
              checkpointFile: join(dir, 'checkpoints'),
              gpuPassthrough: passthrough,
              volumes,
            }),
          ]
        : ['-c', WRAPPER, `gigafab-job-${job.id}`, join(dir, 'exit_code'), ...(command ?? [])];
    closeSync(openSync(join(dir, 'checkpoints'), 'a', 0o600));
    const sealer = job.logKey ? this.startSealer(dir, job.logKey) : null;
    const out = sealer ? sealer.input : openSync(join(dir, 'output.log'), 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', argv, {
        cwd: dir,
        env,
        detached: true,
        stdio: ['ignore', out, out],
      });
    } finally {
      if (typeof out === 'number') closeSync(out);
      sealer?.release();
    }
    const pid = child.pid;
    if (pid === undefined) {
      const err = await new Promise<Error>((r) => child.once('error', r));
      throw new Error(`could not start job ${job.id}: ${err.message}`);
    }
    child.on('error', () => {}); // errors after a successful spawn (kill failures) are handled elsewhere
    const startedAt = this.now();
    const state: LocalJobState = {
      version: 1,
      jobId: job.id,
      pid,
      pgid: pid, // detached: the child leads its own session and process group
      startTicks: procStat(pid)?.startTicks ?? null,
      bootId: bootId(),
      startedAt,
      deadline: startedAt + job.spec.maxRuntimeSeconds * 1000,
      gpus: [...alloc.gpus],
      cudaVisibleDevices: cvd,
      ...(container ? { container } : {}),
      ...(gang ? { ranks: job.placement.nodes.length } : {}),
      ...(job.spec.resources?.memory ? { memory: job.spec.resources.memory } : {}),
      ...(port ? { endpoint: port.endpoint } : {}),
    };
    writeJsonAtomic(join(dir, 'state.json'), state);
    const t = this.track(job.id, attempt, dir, state, child, false);
    this.measurePower(job, startedAt);
    child.once('exit', (code, signal) => this.onChildExit(t, code, signal));
    // The child keeps the event loop alive while the driver is open; close() lets go of it.
    this.listeners.emit({
      type: 'started',
      jobId: job.id,
      at: startedAt,
      ...(port ? { endpoint: port.endpoint } : {}),
      message: gang
        ? `started ${cvds.length} ranks on ${job.placement.nodes.map((n) => n.node).join(',')} (all on this machine) as pid ${pid}${container ? ` in containers ${container}-r0…r${cvds.length - 1} (${image})` : ''}`
        : `started on ${alloc.node} as pid ${pid}${container ? ` in container ${container} (${image})` : ''}${alloc.gpus.length ? ` with CUDA_VISIBLE_DEVICES=${cvd}` : ' without GPUs'}${port ? `, serving on ${port.endpoint.host}:${port.endpoint.port}` : ''}`,
    });
    this.armDeadline(t);
    this.watchCheckpoints(t);
  }

  /**
   * pull: the image-pull phase of a run, reported as job events. A failed pull ends the run here
   * (result.json, an `exited` observation with `image_pull_failed: <reason>`); returns whether to go on.
   */
  private async pull(job: DriverJob, dir: string, image: string, auth: string | undefined): Promise<boolean> {
    const phase = (message: string, data?: Record<string, string | number>) =>
      this.listeners.emit({ type: 'phase', jobId: job.id, at: this.now(), phase: 'image-pull', message, data });
    phase(`pulling image ${image}${auth ? ' with the registry credentials' : ''}`, { image });
    const r = await pullImage(image, dir, auth, this.podmanEnv());
    if (r.ok) {
      phase(`pulled image ${image}${r.bytes !== undefined ? ` (${r.bytes} bytes)` : ''}`, {
        image,
        ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
      });
      return true;
    }
    this.endAtStart(job.id, dir, `image_pull_failed: ${r.reason}: ${r.detail}`);
    return false;
  }

  /**
   * measurePower: with powerSampleSeconds, the run's GPUs (every rank's; a share at its part of its
   * GPU) are sampled until it ends. The GPUs exist: start() resolved them through nvidia-smi.
   */
  private measurePower(job: DriverJob, at: number): void {
    const seconds = this.opts.powerSampleSeconds ?? 0;
    const gpus = [...new Set(job.placement.nodes.flatMap((n) => n.gpus))];
    if (seconds <= 0 || gpus.length === 0) return;
    this.power ??= new LocalPowerSampler(seconds * 1000, this.opts.discoveryEnv, this.now);
    const milli = job.placement.nodes[0]?.milli;
    this.power.begin(job.id, at, { gpus, share: milli === undefined ? 1 : milli / 1000, gpuType: job.placement.gpuType });
  }

  /** endAtStart: a run that failed before its process ran (result.json, then `exited` with the reason). */
  private endAtStart(jobId: string, dir: string, message: string): void {
    const result: JobResultFile = { outcome: 'completed', exitCode: null, at: this.now(), message };
    writeJsonAtomic(join(dir, 'result.json'), result);
    this.listeners.emit({ type: 'exited', jobId, ...result });
  }

  async stop(jobId: string, graceSeconds: number): Promise<void> {
    const t = this.jobs.get(jobId);
    if (!t) return; // not running here (already ended, or never started): nothing to stop
    await this.terminate(t, 'cancelled', graceSeconds);
  }

  async reattach(jobs: DriverJob[]): Promise<void> {
    for (const job of jobs) {
      checkJobId(job.id);
      if (this.jobs.has(job.id)) continue;
      const attempt = job.attempt ?? 1;
      const dir = this.workDir(job.id, attempt);
      const result = readJson(join(dir, 'result.json'), JobResultFileSchema);
      if (result) {
        // Ended and reported before the restart, but the report was not committed: report it again.
        this.listeners.emit({
          type: 'exited',
          jobId: job.id,
          at: result.at,
          outcome: result.outcome,
          exitCode: result.exitCode,
          message: result.message,
          ...(result.energyJoules !== undefined ? { energyJoules: result.energyJoules } : {}),
        });
        continue;
      }
      const state = readJson(join(dir, 'state.json'), LocalJobStateSchema);
      if (!state) {
        this.listeners.emit({
          type: 'exited',
          jobId: job.id,
          at: this.now(),
          outcome: 'lost',
          exitCode: null,
          message: `no trace of attempt ${attempt} of the job on this node (${dir} has no state): it never started here or its directory was removed`,
        });
        continue;
      }
      if (isSameProcess(state.pid, state.startTicks, state.bootId)) {
        const t = this.track(job.id, attempt, dir, state, null, false);
        this.watchByPolling(t);
        this.armDeadline(t);
        this.watchCheckpoints(t);
        if (state.stopping) this.resumeStop(t, state.stopping);
      } else {
        // It ended while the control plane was down.
        const t = this.track(job.id, attempt, dir, state, null, false);
        this.settle(t, null);
      }
    }
    this.lastReconcile = await this.reconcile(jobs.map((j) => ({ id: j.id, attempt: j.attempt ?? 1 })));
  }

  /**
   * reconcile compares the runs in baseDir with the ones the control plane knows (job id and its
   * current attempt; a bare id means attempt 1).
   * Rule: an orphan (a run going on here that the control plane does not know: an unknown job, or an
   * earlier attempt of a known one) is stopped — SIGTERM, the timeout grace, SIGKILL — unless the
   * option `orphans` is 'report'; a known run with no trace is `lost`.
   * reattach() runs it; it emits no observations itself.
   */
  async reconcile(known: readonly (string | { id: string; attempt: number })[]): Promise<ReconcileResult> {
    const current = new Map(known.map((k) => (typeof k === 'string' ? [k, 1] : [k.id, k.attempt])));
    const res: ReconcileResult = { orphans: [], lost: [] };
    for (const [id, attempt] of current) if (!existsSync(join(this.workDir(id, attempt), 'state.json'))) res.lost.push(id);
    let entries: string[] = [];
    try {
      entries = readdirSync(this.baseDir);
    } catch {
      entries = [];
    }
    for (const id of entries) {
      for (const { attempt, dir } of runsIn(join(this.baseDir, id), 'state.json')) {
        const tracked = this.jobs.get(id);
        if (current.get(id) === attempt || (tracked && tracked.attempt === attempt)) continue;
        const key = `${id}/attempt-${attempt}`;
        if (this.jobs.has(key) || existsSync(join(dir, 'result.json'))) continue;
        const state = readJson(join(dir, 'state.json'), LocalJobStateSchema);
        if (!state || !isSameProcess(state.pid, state.startTicks, state.bootId)) continue;
        if (this.opts.orphans === 'report') {
          res.orphans.push({ jobId: id, attempt, pid: state.pid, action: 'reported' });
          continue;
        }
        const t = this.track(id, attempt, dir, state, null, true, key);
        this.watchByPolling(t);
        void this.terminate(t, 'cancelled', this.opts.timeoutGraceSeconds ?? 30);
        res.orphans.push({ jobId: id, attempt, pid: state.pid, action: 'stopped' });
      }
    }
    return res;
  }

  /** close stops watching. Jobs keep running: a new driver finds them with reattach(). */
  async close(): Promise<void> {
    this.closed = true;
    this.power?.close();
    for (const t of this.jobs.values()) {
      this.clearTimers(t);
      t.child?.unref();
    }
    this.jobs.clear();
  }

  // ---------------------------------------------------------------- internals

  /**
   * checkNodes: a job runs here only on this machine's nodes — `node` (one), or for a gang the nodes of
   * `nodes` (several gigafab nodes on this one machine: one rank per placed node).
   */
  private checkNodes(job: DriverJob): void {
    const placed = job.placement.nodes.map((n) => n.node);
    const mine = this.opts.nodes;
    if (placed.length > 1) {
      const outside = placed.filter((n) => !mine?.includes(n));
      if (!mine || outside.length > 0 || new Set(placed).size !== placed.length) {
        throw new Error(
          `the local driver runs single-node jobs, or gangs on the nodes of its \`nodes\` (${mine?.join(',') || 'none'}); job ${job.id} is placed on ${placed.join(',')}`,
        );
      }
      return;
    }
    const node = placed[0];
    if (this.opts.node && node !== this.opts.node && !mine?.includes(node)) {
      throw new Error(`job ${job.id} is placed on node ${node}, but this local driver runs node ${this.opts.node}`);
    }
    if (!this.opts.node && mine && !mine.includes(node)) {
      throw new Error(`job ${job.id} is placed on node ${node}, but this local driver runs nodes ${mine.join(',')}`);
    }
  }

  /**
   * shareDevices: for a MIG allocation, a MIG instance of its profile on its GPU that no other job
   * here holds (from `nvidia-smi -L`); for a time-sliced share, the GPU with the MPS limits: active
   * thread percentage = the share, pinned device memory = its GPU memory limit. null for whole
   * GPUs; a sentence when the MIG instance is missing (the job ends at start with it).
   */
  private async shareDevices(
    jobId: string,
    alloc: NodeAllocation | undefined,
    gpuCvd: string,
  ): Promise<{ cvd: string; env: Record<string, string> } | string | null> {
    if (!alloc || alloc.milli === undefined) return null;
    const env = shareEnv(alloc);
    if (alloc.migProfile === undefined) return { cvd: gpuCvd, env };
    const gpu = alloc.gpus[0];
    const opts = { env: this.opts.discoveryEnv };
    const held = new Set<string>();
    for (const [other, uuid] of this.migHeld) if (other !== jobId && this.jobs.has(other)) held.add(uuid);
    const isFree = (d: MigDevice) => d.gpu === gpu && d.profile === alloc.migProfile && !held.has(d.uuid);
    let devices = await listMigDevices(opts);
    let free = devices.find(isFree);
    let created: string | null = null;
    if (!free) {
      // None free: cut one (the scheduler counted the slices, so the GPU has room for it).
      created = await createInstance(gpu, alloc.migProfile, opts);
      // Instances left by earlier jobs (kept for reuse) may hold the slices in other profiles: when
      // none of this GPU's is held by a job here, destroy them (nvidia-smi refuses any in use) and cut again.
      const mine = devices.some((d) => d.gpu === gpu && held.has(d.uuid));
      if (created && noRoom(created) && !mine && !(await destroyInstances(gpu, opts))) {
        created = await createInstance(gpu, alloc.migProfile, opts);
      }
      if (!created) {
        devices = await listMigDevices(opts);
        free = devices.find(isFree);
      }
    }
    if (!free) {
      const here = devices.filter((d) => d.gpu === gpu).map((d) => d.profile);
      return (
        `GPU ${gpu} has no free MIG ${alloc.migProfile} instance (nvidia-smi -L lists ${here.length ? here.join(', ') : 'none'}` +
        (created
          ? `; creating one failed: ${created})`
          : `; create one with nvidia-smi mig -i ${gpu} -cgi ${alloc.migProfile} -C)`)
      );
    }
    this.migHeld.set(jobId, free.uuid);
    return { cvd: free.uuid, env };
  }

  /**
   * repartition carries out the start's re-partitions (mig-ops.ts): MIG mode on, or the GPU's
   * instances destroyed and MIG mode off. null when done; else what nvidia-smi refused.
   */
  private async repartition(job: DriverJob): Promise<string | null> {
    const opts = { env: this.opts.discoveryEnv };
    for (const r of job.repartitions ?? []) {
      const why = r.to === 'mig' ? await enableMig(r.gpu, opts) : await disableMig(r.gpu, opts);
      if (why) return `GPU ${r.gpu} of ${r.node} could not be re-partitioned from ${r.from} to ${r.to}: ${why}`;
    }
    return null;
  }

  private async cudaVisibleDevices(gpus: number[]): Promise<string> {
    if (gpus.length === 0) return '';
    const inv = await this.gpuInventory();
    if (inv.kind !== 'gpus') throw new Error(`cannot run a job on GPUs [${gpus.join(',')}]: ${inv.reason}`);
    const ids: string[] = [];
    for (const i of gpus) {
      const g = inv.gpus.find((x) => x.index === i);
      if (!g) throw new Error(`GPU ${i} does not exist here (nvidia-smi lists ${inv.gpus.map((x) => x.index).join(',')})`);
      ids.push(this.opts.cudaDevices === 'uuid' ? g.uuid : String(g.index));
    }
    return ids.join(',');
  }

  private track(
    id: string,
    attempt: number,
    dir: string,
    state: LocalJobState,
    child: ChildProcess | null,
    silent: boolean,
    key = id,
  ): Tracked {
    let resolveDone = () => {};
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const checkpointOffset = readJson(join(dir, 'checkpoint.offset'), CheckpointOffsetSchema)?.offset ?? 0;
    const t: Tracked = {
      key,
      id,
      attempt,
      dir,
      state,
      child,
      silent,
      finished: false,
      timers: [],
      killTimer: null,
      done,
      resolveDone,
      checkpointOffset,
    };
    this.jobs.set(key, t);
    return t;
  }

  private armDeadline(t: Tracked): void {
    const delay = Math.max(0, t.state.deadline - this.now());
    // setTimeout holds 32-bit delays; 30 days fits (2^31 ms is 24.8 days), longer is re-armed.
    const step = Math.min(delay, 2 ** 31 - 1);
    const timer = setTimeout(() => {
      if (t.finished) return;
      if (this.now() < t.state.deadline) this.armDeadline(t);
      else void this.terminate(t, 'timed-out', this.opts.timeoutGraceSeconds ?? 30);
    }, step);
    timer.unref();
    t.timers.push(timer);
  }

  private watchByPolling(t: Tracked): void {
    const timer = setInterval(() => {
      if (t.finished) return;
      if (!isSameProcess(t.state.pid, t.state.startTicks, t.state.bootId)) this.settle(t, null);
    }, this.opts.pollIntervalMs ?? 500);
    timer.unref();
    t.timers.push(timer);
  }

  private watchCheckpoints(t: Tracked): void {
    const timer = setInterval(() => {
      if (!t.finished) this.readCheckpoints(t);
    }, this.opts.checkpointPollMs ?? 500);
    timer.unref();
    t.timers.push(timer);
  }

  /** readCheckpoints reports the checkpoint lines the job wrote since the last read. */
  private readCheckpoints(t: Tracked): void {
    if (t.silent || this.closed) return;
    t.checkpointOffset = followCheckpoints(t.dir, t.id, t.checkpointOffset, this.now(), (o) => this.listeners.emitCheckpoint(o));
  }

  /** terminate: SIGTERM to the group now, SIGKILL after the grace; resolves when the job has ended. */
  private terminate(t: Tracked, outcome: 'cancelled' | 'timed-out', graceSeconds: number): Promise<void> {
    if (t.finished) return t.done;
    const at = this.now();
    const grace = Math.max(0, graceSeconds);
    if (!t.state.stopping) {
      t.state.stopping = { outcome, at, graceSeconds: grace };
      writeJsonAtomic(join(t.dir, 'state.json'), t.state);
      this.signalTerm(t, grace);
      // A container is killed by `podman stop` at the end of the grace; the group kill is the backstop.
      this.armKill(t, grace * 1000 + (t.state.container ? 10_000 : 0));
    } else {
      // Already stopping: a shorter grace brings the SIGKILL forward.
      const killAt = t.state.stopping.at + t.state.stopping.graceSeconds * 1000;
      if (at + grace * 1000 < killAt) this.armKill(t, grace * 1000);
    }
    // The kill comes at the end of the grace; allow some more for the exit to be seen.
    return raceTimeout(t.done, grace * 1000 + 10_000);
  }

  private resumeStop(t: Tracked, stopping: NonNullable<LocalJobState['stopping']>): void {
    const left = stopping.at + stopping.graceSeconds * 1000 - this.now();
    this.signalTerm(t, Math.max(0, left) / 1000);
    this.armKill(t, Math.max(0, left) + (t.state.container ? 10_000 : 0));
  }

  /**
   * signalTerm: SIGTERM to a host job's process group; a container gets `podman stop -t grace` (SIGTERM
   * inside, SIGKILL after the grace), and its wrapper lives on to record the status.
   */
  private signalTerm(t: Tracked, graceSeconds: number): void {
    if (t.state.container) {
      for (const c of containersOf(t.state)) void stopContainer(c, graceSeconds, this.podmanEnv());
    } else signalGroup(t.state.pgid, 'SIGTERM');
  }

  private armKill(t: Tracked, ms: number): void {
    if (t.killTimer) clearTimeout(t.killTimer);
    t.killTimer = setTimeout(() => {
      if (!t.finished) signalGroup(t.state.pgid, 'SIGKILL');
    }, ms);
  }

  private onChildExit(t: Tracked, code: number | null, signal: NodeJS.Signals | null): void {
    // The wrapper's own status: its command's status, or 128+N if the wrapper itself was killed by N.
    const status = signal ? 128 + (osConstants.signals[signal] ?? 0) : code;
    this.settle(t, status);
  }

  /**
   * settle: the job's main process has ended. The exit_code file (written by the wrapper) is the
   * command's status; without it the wrapper was killed (wrapperStatus, when it was our child).
   */
  private settle(t: Tracked, wrapperStatus: number | null): void {
    if (t.finished) return;
    // Checkpoints written just before the end are reported while the job still counts as running.
    this.readCheckpoints(t);
    t.finished = true;
    this.clearTimers(t);
    this.jobs.delete(t.key);
    signalGroup(t.state.pgid, 'SIGKILL'); // whatever the job left behind in its group
    // The wrapper removes its container; if the wrapper itself was killed, the container must not outlive it.
    if (t.state.container && !existsSync(join(t.dir, 'exit_code')))
      void podmanRun(['rm', '-f', ...containersOf(t.state)], this.podmanEnv());
    const recorded = readExitCode(join(t.dir, 'exit_code'));
    const exitCode = recorded ?? wrapperStatus;
    const stopping = t.state.stopping;
    let outcome: ExitOutcome;
    let message: string;
    if (stopping) {
      outcome = stopping.outcome;
      const how =
        exitCode === null ? 'ended' : exitCode === 137 && recorded === null ? 'killed (SIGKILL)' : `exited with code ${exitCode}`;
      message =
        stopping.outcome === 'timed-out'
          ? `wall-clock limit of ${Math.round((t.state.deadline - t.state.startedAt) / 1000)}s reached; ${how}`
          : `stopped (SIGTERM, grace ${stopping.graceSeconds}s); ${how}`;
    } else if (exitCode !== null && this.outOfMemory(t, exitCode)) {
      outcome = 'completed';
      message = `oom_killed: the container exceeded its memory limit of ${t.state.memory} (exit code ${exitCode})`;
    } else if (exitCode !== null) {
      outcome = 'completed';
      message = recorded === null ? `ended by a signal (status ${exitCode})` : `exited with code ${exitCode}${failedRank(t.dir)}`;
    } else {
      outcome = 'lost';
      message = `process ${t.state.pid} ended without recording an exit code (killed from outside?)`;
    }
    const at = this.now();
    const energyJoules = t.silent ? null : (this.power?.end(t.id, at) ?? null);
    const result: JobResultFile = { outcome, exitCode, at, message, ...(energyJoules !== null ? { energyJoules } : {}) };
    const report = () => {
      try {
        writeJsonAtomic(join(t.dir, 'result.json'), result);
      } catch {
        // the directory was removed under us: the observation below still goes out
      }
      if (!t.silent && !this.closed) {
        this.listeners.emit({
          type: 'exited',
          jobId: t.id,
          at,
          outcome,
          exitCode,
          message,
          ...(energyJoules !== null ? { energyJoules } : {}),
        });
      }
      t.resolveDone();
    };
    // A sealed log is complete only once the sealer has drained the pipe: the end is reported after that,
    // so whoever reads the output of an ended job reads all of it.
    if (existsSync(join(t.dir, 'sealer.json'))) void this.sealerDrained(t.dir, 10_000).then(report);
    else report();
  }

  /**
   * outOfMemory: podman says so, or (cgroup v1 hosts, where it cannot tell) the container was SIGKILLed
   * under a memory limit without anyone stopping it — the kernel's OOM killer is what does that.
   */
  private outOfMemory(t: Tracked, exitCode: number): boolean {
    if (!t.state.container || !t.state.memory) return false;
    return existsSync(join(t.dir, 'exit_code.oom')) || exitCode === 137;
  }

  /** sealerDrained resolves when a run's sealer has written everything (or is gone), or after ms. */
  private async sealerDrained(dir: string, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!existsSync(join(dir, `${SEALED}.done`)) && this.sealerAlive(dir) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private clearTimers(t: Tracked): void {
    for (const x of t.timers) clearTimeout(x);
    t.timers = [];
    if (t.killTimer) clearTimeout(t.killTimer);
    t.killTimer = null;
  }
}
