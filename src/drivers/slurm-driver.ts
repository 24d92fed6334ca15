/**
 * SlurmDriver: a site backed by a Slurm cluster. gigafab stays the scheduler of record: each placed job
 * is submitted with sbatch to exactly its nodes (gigafab node ids mapped to Slurm node names), with
 * `--gres=gpu:N` per node, a time limit, and the name `gigafab-<id>`; the batch script runs the
 * command once per node with srun. State is followed by polling `squeue --json`; node health by
 * polling `sinfo --json`. Version-specific details live in ./slurm/slurm-22.05.ts.
 *
 * Files, per run of a job, under `<jobDir>/<id>/attempt-<K>/` (K: the control plane's count of the job's
 * starts, so a requeued job is submitted again in a fresh directory, named `gigafab-<id>@<K>` from
 * attempt 2 on, and earlier runs' output stays readable; jobDir must be visible at the same path to the control plane
 * and to the compute nodes — a shared filesystem — for logs and exit codes; the driver still follows
 * jobs through Slurm without it):
 *   job.sh        the batch script          output.log   stdout+stderr of every node's task
 *   slurm.json    Slurm job id, stop intent exit_code    srun's status, written by the batch script
 *   result.json   the outcome reported
 *   checkpoints   GIGAFAB_CHECKPOINT_FILE: the job appends `step=N label=TEXT` lines; each squeue poll
 *                 reports the new ones as checkpoint observations, and the end reads it once more
 *                 (checkpoint.offset: how far it was read, so a restart reports no line twice)
 *   scratch/node-<i>/  GIGAFAB_SCRATCH of node i (in a container: /scratch)
 * forget() removes all of it (an organisation's erasure).
 *
 * Outcomes: COMPLETED/FAILED → completed with the exit code; a stop() → cancelled; the wall-clock
 * limit (enforced here to the second, with Slurm's --time, rounded up to minutes, as a backstop) →
 * timed-out; CANCELLED by someone else → cancelled; NODE_FAIL and the like → lost; a job that Slurm
 * no longer knows and that left no exit code → lost.
 *
 * Restart rule (reattach/reconcile): Slurm jobs named gigafab-<id> that carry this control plane's
 * comment tag and are still pending or running but unknown to the control plane are orphans and are
 * cancelled (or only reported, option `orphans: 'report'`); known jobs are followed again; known jobs
 * missing from Slurm are settled from their exit_code file, else from sacct, else reported lost.
 */
import { execFile } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NodeState } from '../model/fleet.js';
import { type NodeAllocation, REGISTRY_AUTH_SECRET } from '../model/job.js';
import { exposesPort } from '../model/workloads.js';
import { followCheckpoints } from './checkpoint-file.js';
import {
  baseEnv,
  checkJobId,
  DEFAULT_LOG_CHUNK,
  DEFAULT_PASS_ENV,
  Listeners,
  raceTimeout,
  readExitCode,
  readJson,
  readLogChunk,
  runDir,
  runsIn,
  writeJsonAtomic,
} from './common.js';
import type {
  CheckpointObservation,
  DriverJob,
  ExecutionDriver,
  ExitOutcome,
  LogChunk,
  NodeStateObservation,
  Observation,
} from './driver.js';
import {
  CheckpointOffsetSchema,
  ContainerFileSchema,
  type JobResultFile,
  JobResultFileSchema,
  type SlurmJobFile,
  SlurmJobFileSchema,
} from './driver-files.js';
import { datasetVolumes } from './job-mounts.js';
import { CONTAINER_CHECKPOINT_FILE, findPodman } from './podman.js';
import { rendezvousEnv } from './rendezvous.js';
import type { SiteRunPolicy } from './runnable.js';
import { isSshPreset, sessionCommand } from './session-command.js';
import * as slurm from './slurm/slurm-22.05.js';
import { parseNodeAddr, pickWorkloadPort } from './slurm/workload-port.js';
import { containerEnding, readDatasetNotStaged, readPullFailed, slurmTaskCommand } from './slurm-containers.js';

export interface SlurmDriverOptions {
  /** gigafab node id → Slurm node name. Jobs placed on nodes missing here are refused. */
  nodeMap: Record<string, string>;
  /** Directory for job scripts, output and exit codes; shared with the compute nodes (see above). */
  jobDir: string;
  partition?: string;
  account?: string;
  qos?: string;
  /** Shards per GPU in gres.conf, for time-sliced shares (`--gres=shard:N`). Default 100. */
  shardsPerGpu?: number;
  /** SLURM_CONF for the Slurm commands (default: inherited from this process, if set). */
  slurmConf?: string;
  /** Directory holding sbatch, squeue, sinfo, scancel, sacct (default: found on PATH). */
  binDir?: string;
  /** Variables of the control plane's environment that jobs inherit. Default PATH, LANG, LC_ALL, TZ. */
  passEnv?: string[];
  /** Tag in each job's Slurm comment (`gigafab:<instance>`): orphans are only taken from our own tag. */
  instance?: string;
  /** squeue poll interval while jobs are followed. Default 1000 ms. */
  pollIntervalMs?: number;
  /** sinfo poll interval for node states; 0 turns it off. Default 10000 ms. */
  nodePollIntervalMs?: number;
  /** Grace between SIGTERM and SIGKILL at the wall-clock limit. Default 30 s. */
  timeoutGraceSeconds?: number;
  /** Orphans (see above): 'cancel' (default) or 'report'. */
  orphans?: 'cancel' | 'report';
  /** sbatch calls in flight at once. Default 4. */
  submitConcurrency?: number;
  /** More sbatch arguments, e.g. ['--exclusive'] or ['--mem=0']. */
  extraSbatchArgs?: string[];
  /** Bound on each Slurm command. Default 30 s. */
  commandTimeoutMs?: number;
  now?: () => number;
  /** Jobs without an image may run as host processes (default true). */
  hostJobs?: boolean;
  /** Run images with podman on the nodes (default: when podman is on this host's PATH: the nodes are assumed alike). */
  images?: boolean;
  /** Registries images may come from (see runnable.ts); absent: any. */
  registries?: string[];
  /** How GPUs reach containers: the device nodes of the step's GPUs (default) or none (stand-in GPUs). */
  gpuPassthrough?: 'devices' | 'none';
  /** Ports for sessions and services on the nodes (workload-port.ts). Default 20000–29999. */
  workloadPorts?: { from: number; to: number };
  /** Where the nodes have the site's staged datasets, `<datasetRoot>/<datasetId>` (job-mounts.ts); absent: none are mounted. */
  datasetRoot?: string;
  /**
   * Read each ended job's measured energy from sacct (ConsumedEnergyRaw) and report it with its exit;
   * for clusters with an acct_gather_energy plugin and accounting storage. Default false.
   */
  measureEnergy?: boolean;
  /**
   * Read each ended job's Start and End from sacct and report them with its exit (Observation
   * exited.ran): the control plane then corrects the run's metered time to what Slurm ran (a wait in
   * Slurm's queue, an exit seen a poll late). Needs accounting storage. Shares the one sacct read
   * with measureEnergy. Default false.
   */
  reportRunTime?: boolean;
}

/** slurm.json: what the driver needs after a restart. No environment (secrets) in it. */

interface Tracked {
  id: string;
  attempt: number;
  dir: string;
  file: SlurmJobFile;
  phase: slurm.JobPhase | 'unknown';
  /** Epoch ms Slurm started the job. */
  slurmStart: number | null;
  missingPolls: number;
  /** Epoch ms since when Slurm must know the job (sbatch returned, or reattach). */
  trackedAt: number;
  settling: boolean;
  applying: boolean;
  finished: boolean;
  outcome?: ExitOutcome;
  silent: boolean;
  deadlineTimer: NodeJS.Timeout | null;
  killTimer: NodeJS.Timeout | null;
  done: Promise<void>;
  resolveDone: () => void;
  /** Bytes of the checkpoint file already reported. */
  checkpointOffset: number;
}

export interface SlurmOrphan {
  jobId: string;
  attempt: number;
  slurmJobId: string;
  state: string;
  action: 'cancelled' | 'reported';
}

export interface SlurmReconcileResult {
  orphans: SlurmOrphan[];
  /** Known jobs of which neither Slurm nor the job directory knows anything. */
  lost: string[];
}

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const RESERVED_ENV = /^(SLURM_|SBATCH_|SRUN_|SALLOC_|SLURMD_)/;

export class SlurmDriver implements ExecutionDriver {
  readonly name = 'slurm';
  readonly jobDir: string;
  private readonly listeners = new Listeners();
  private readonly jobs = new Map<string, Tracked>();
  /** Slurm node name → its NodeAddr (where the control plane reaches sessions and services on it). */
  private readonly nodeAddrs = new Map<string, string>();
  private readonly reverseNodes = new Map<string, string>();
  private readonly nodeStates = new Map<string, { state: NodeState; reason: string }>();
  private readonly now: () => number;
  private readonly comment: string;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollDue = 0;
  private pollAgain = false;
  private polling: Promise<void> | null = null;
  private nodeTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private lastPollError = '';
  private releaseChecked = false;
  lastReconcile: SlurmReconcileResult | null = null;
  /** Counters for benchmarks and diagnostics. */
  readonly stats = { sbatchCalls: 0, squeueCalls: 0, scontrolCalls: 0, sinfoCalls: 0, scancelCalls: 0, pollMsTotal: 0 };

  constructor(private readonly opts: SlurmDriverOptions) {
    this.jobDir = resolve(opts.jobDir);
    this.now = opts.now ?? (() => Date.now());
    this.comment = `gigafab:${opts.instance ?? 'default'}`;
    mkdirSync(this.jobDir, { recursive: true, mode: 0o755 });
    for (const [node, slurmNode] of Object.entries(opts.nodeMap)) {
      const other = this.reverseNodes.get(slurmNode);
      if (other) throw new Error(`Slurm node ${slurmNode} is mapped from both ${other} and ${node}`);
      this.reverseNodes.set(slurmNode, node);
    }
    if ((opts.nodePollIntervalMs ?? 10_000) > 0) this.scheduleNodePoll(0);
  }

  runPolicy(site: string): SiteRunPolicy {
    const images = this.opts.images ?? findPodman(baseEnv(this.opts.passEnv ?? DEFAULT_PASS_ENV).PATH ?? '') !== null;
    return { site, images, hostJobs: this.opts.hostJobs ?? true, registries: this.opts.registries };
  }

  onObservation(listener: (o: Observation) => void): void {
    this.listeners.onObservation(listener);
  }

  onNodeState(listener: (o: NodeStateObservation) => void): void {
    this.listeners.onNodeState(listener);
  }

  onCheckpoint(listener: (o: CheckpointObservation) => void): void {
    this.listeners.onCheckpoint(listener);
  }

  /** The directory of one run of a job (default: its latest run here, else attempt 1). */
  workDir(jobId: string, attempt?: number): string {
    checkJobId(jobId);
    const k = attempt ?? this.attempts(jobId).at(-1) ?? 1;
    return runDir(join(this.jobDir, jobId), k, 'slurm.json');
  }

  /** The attempts of a job that have a directory here, in order. */
  attempts(jobId: string): number[] {
    checkJobId(jobId);
    return runsIn(join(this.jobDir, jobId), 'slurm.json').map((r) => r.attempt);
  }

  logPath(jobId: string, attempt?: number): string {
    return join(this.workDir(jobId, attempt), 'output.log');
  }

  async logs(jobId: string, offset: number, maxBytes = DEFAULT_LOG_CHUNK, attempt?: number): Promise<LogChunk | null> {
    const k = attempt ?? this.attempts(jobId).at(-1) ?? 1;
    const t = this.jobs.get(jobId);
    return readLogChunk(this.logPath(jobId, k), offset, maxBytes, !t || t.attempt !== k);
  }

  /** The Slurm job id of a followed job, or of its latest run here (diagnostics, tests). */
  slurmJobId(jobId: string): string | null {
    return (
      this.jobs.get(jobId)?.file.slurmJobId ??
      readJson(join(this.workDir(jobId), 'slurm.json'), SlurmJobFileSchema)?.slurmJobId ??
      null
    );
  }

  async start(job: DriverJob): Promise<void> {
    if (this.closed) throw new Error('Slurm driver is closed');
    checkJobId(job.id);
    if (this.jobs.has(job.id)) throw new Error(`job ${job.id} is already submitted`);
    // A session preset without a command runs the preset's (session-command.ts: Jupyter, sshd). An
    // image's ssh session runs the image's own sshd the same way: Slurm's containers use the node's
    // network, so it binds the node address the proxy reaches (GIGAFAB_BIND), not every address.
    const spec =
      !job.spec.image || isSshPreset(job.spec)
        ? { ...job.spec, command: sessionCommand(job.spec, { hostNetwork: true }) }
        : job.spec;
    if (!spec.image && !spec.command?.length) throw new Error(`job ${job.id} has no command`);
    const policy = this.runPolicy('');
    if (job.spec.image && !policy.images)
      throw new Error(`job ${job.id} has an image and this site runs no containers: not run on the host`);
    if (!job.spec.image && !policy.hostJobs) throw new Error(`job ${job.id} has no image and this site runs no host jobs`);
    const nodes = job.placement.nodes.map((a) => {
      const slurmNode = this.opts.nodeMap[a.node];
      if (!slurmNode) throw new Error(`node ${a.node} has no Slurm node name in this site's nodeMap`);
      return { node: a.node, slurmNode, gpus: [...a.gpus] };
    });
    if (nodes.length === 0) throw new Error(`job ${job.id} has an empty placement`);
    const gpusPerNode = nodes[0].gpus.length;
    if (nodes.some((n) => n.gpus.length !== gpusPerNode)) {
      throw new Error(
        `job ${job.id}: Slurm needs the same GPU count on every node (placement has ${nodes.map((n) => n.gpus.length).join('/')})`,
      );
    }
    // Registry credentials are for the pull only: never part of the job's environment.
    const { [REGISTRY_AUTH_SECRET]: registryAuth, ...secrets } = job.secrets ?? {};
    const userEnv = { ...job.spec.env, ...secrets };
    const reserved = Object.keys(userEnv).filter((k) => RESERVED_ENV.test(k));
    if (reserved.length)
      throw new Error(`environment variables reserved by Slurm cannot be set by a job: ${reserved.join(', ')}`);

    const attempt = job.attempt ?? 1;
    const dir = this.workDir(job.id, attempt);
    const existing = readJson(join(dir, 'slurm.json'), SlurmJobFileSchema);
    if (existing) {
      // This attempt was submitted before (a start retried after a crash): follow it, do not submit twice.
      this.track(job.id, attempt, dir, existing, false);
      this.schedulePoll(0);
      return;
    }
    const endpoint = exposesPort(job.spec) ? await this.workloadEndpoint(job.id, attempt, nodes[0].slurmNode) : undefined;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    // Each node makes its own scratch inside; 0700 keeps other users of the nodes out of all of them.
    mkdirSync(join(dir, 'scratch'), { recursive: true, mode: 0o700 });
    const task = slurmTaskCommand({
      jobId: job.id,
      attempt,
      dir,
      spec,
      vars: {
        ...userEnv,
        ...(endpoint ? { GIGAFAB_PORT: String(endpoint.port), PORT: String(endpoint.port), GIGAFAB_BIND: endpoint.host } : {}),
        ...rendezvousEnv(job.id, job.placement, 0, ''),
        GIGAFAB_JOB_ID: job.id,
        ...(job.spec.image
          ? { GIGAFAB_CHECKPOINT_FILE: CONTAINER_CHECKPOINT_FILE }
          : { GIGAFAB_WORKDIR: dir, GIGAFAB_CHECKPOINT_FILE: join(dir, 'checkpoints') }),
      },
      secretNames: new Set(Object.keys(secrets)),
      nodes: nodes.length,
      registryAuth,
      gpuPassthrough: this.opts.gpuPassthrough ?? 'devices',
      datasets: datasetVolumes(this.opts.datasetRoot, job.datasets),
    });
    if (job.spec.image)
      writeJsonAtomic(join(dir, 'container.json'), { image: job.spec.image, resources: job.spec.resources ?? null });
    const exitFile = join(dir, 'exit_code');
    const scriptPath = join(dir, 'job.sh');
    writeFileSync(scriptPath, slurm.batchScript(job.id, exitFile), { mode: 0o700 });
    const args = slurm.sbatchArgs({
      jobName: slurmJobName(job.id, attempt),
      comment: this.comment,
      nodes: nodes.map((n) => n.slurmNode),
      gpusPerNode,
      gres: shareGres(job.placement.nodes[0], this.opts.shardsPerGpu ?? 100),
      timeLimitMinutes: slurm.timeLimitMinutes(job.spec.maxRuntimeSeconds),
      partition: this.opts.partition,
      account: this.opts.account,
      qos: this.opts.qos,
      workDir: dir,
      outputPath: join(dir, 'output.log'),
      scriptPath,
      exitFile,
      command: task.command,
      extraArgs: this.opts.extraSbatchArgs,
    });
    // The job's environment is sbatch's (--export=ALL): built from scratch, never this process's.
    const env: Record<string, string> = {
      ...baseEnv(this.opts.passEnv ?? DEFAULT_PASS_ENV),
      ...this.slurmEnv(),
      ...task.env,
    };
    // Created here, so that it exists (empty) on the shared filesystem before any task appends to it.
    closeSync(openSync(join(dir, 'checkpoints'), 'a', 0o600));
    const submittedAt = this.now();
    const res = await this.limited(() => this.run('sbatch', args, env));
    this.stats.sbatchCalls++;
    if (res.code !== 0) throw new Error(`sbatch failed (exit ${res.code}): ${firstLine(res.stderr) || firstLine(res.stdout)}`);
    const slurmJobId = slurm.parseSbatchParsable(res.stdout);
    const file: SlurmJobFile = {
      version: 1,
      jobId: job.id,
      slurmJobId,
      submittedAt,
      maxRuntimeSeconds: job.spec.maxRuntimeSeconds,
      nodes,
      ...(endpoint ? { endpoint } : {}),
    };
    writeJsonAtomic(join(dir, 'slurm.json'), file);
    this.track(job.id, attempt, dir, file, false);
    this.schedulePoll(this.pollInterval());
  }

  /** forget removes an ended job's directory with every attempt: output, scratch and state are tenant data. */
  async forget(jobId: string): Promise<void> {
    checkJobId(jobId);
    if (this.jobs.has(jobId)) return;
    rmSync(join(this.jobDir, jobId), { recursive: true, force: true });
  }

  async stop(jobId: string, graceSeconds: number): Promise<void> {
    const t = this.jobs.get(jobId);
    if (!t) return;
    await this.terminate(t, 'cancelled', graceSeconds);
  }

  async reattach(jobs: DriverJob[]): Promise<void> {
    this.lastReconcile = await this.reconcile(jobs.map((j) => ({ id: j.id, attempt: j.attempt ?? 1 })));
  }

  /**
   * reconcile follows the known jobs again and applies the restart rule to the others (see the top of
   * this file). Known jobs that ended meanwhile are reported as exited, missing ones as lost. Known:
   * job ids with their current attempt (a bare id: attempt 1); an earlier attempt still in Slurm is
   * an orphan.
   */
  async reconcile(known: readonly (string | { id: string; attempt: number })[]): Promise<SlurmReconcileResult> {
    const current = new Map(known.map((k) => (typeof k === 'string' ? [k, 1] : [k.id, k.attempt])));
    const records = await this.squeue(); // throws if Slurm does not answer: nothing is declared lost then
    const byId = new Map(records.map((r) => [r.slurmJobId, r]));
    const byName = new Map<string, slurm.SlurmJobRecord>();
    for (const r of records) {
      if (!r.name.startsWith('gigafab-')) continue;
      const prev = byName.get(r.name);
      // Several Slurm jobs with one name: prefer a live one, then the newest.
      if (!prev || rank(r) > rank(prev) || (rank(r) === rank(prev) && Number(r.slurmJobId) > Number(prev.slurmJobId)))
        byName.set(r.name, r);
    }
    const res: SlurmReconcileResult = { orphans: [], lost: [] };
    for (const [id, attempt] of current) {
      checkJobId(id);
      if (this.jobs.has(id)) continue;
      const dir = this.workDir(id, attempt);
      const name = slurmJobName(id, attempt);
      const result = readJson(join(dir, 'result.json'), JobResultFileSchema);
      if (result) {
        this.listeners.emit({
          type: 'exited',
          jobId: id,
          at: result.at,
          outcome: result.outcome,
          exitCode: result.exitCode,
          message: result.message,
        });
        continue;
      }
      let file = readJson(join(dir, 'slurm.json'), SlurmJobFileSchema);
      const rec = (file && byId.get(file.slurmJobId)) ?? byName.get(name);
      if (!file && rec) {
        // Submitted, but the control plane died before slurm.json was written.
        file = {
          version: 1,
          jobId: id,
          slurmJobId: rec.slurmJobId,
          submittedAt: rec.startTime ?? this.now(),
          maxRuntimeSeconds: 0,
          nodes: [],
        };
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        writeJsonAtomic(join(dir, 'slurm.json'), file);
      }
      if (!file) {
        res.lost.push(id);
        this.listeners.emit({
          type: 'exited',
          jobId: id,
          at: this.now(),
          outcome: 'lost',
          exitCode: null,
          message: `Slurm has no job named ${name} and ${dir} has no record of a submission`,
        });
        continue;
      }
      const t = this.track(id, attempt, dir, file, false);
      if (rec) await this.apply(t, rec);
      else {
        await this.settleMissing(t);
        if (t.outcome === 'lost') res.lost.push(id);
      }
    }
    for (const r of byName.values()) {
      const { id, attempt } = parseSlurmJobName(r.name);
      const tracked = this.jobs.get(id);
      if (current.get(id) === attempt || tracked?.attempt === attempt) continue;
      if (r.comment !== this.comment || slurm.phaseOf(r.state) === 'ended') continue;
      if (this.opts.orphans === 'report') {
        res.orphans.push({ jobId: id, attempt, slurmJobId: r.slurmJobId, state: r.state, action: 'reported' });
        continue;
      }
      await this.scancel(slurm.SCANCEL.cancel(r.slurmJobId));
      res.orphans.push({ jobId: id, attempt, slurmJobId: r.slurmJobId, state: r.state, action: 'cancelled' });
    }
    if (this.jobs.size > 0) this.schedulePoll(this.pollInterval());
    return res;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.nodeTimer) clearTimeout(this.nodeTimer);
    this.pollTimer = null;
    this.nodeTimer = null;
    for (const t of this.jobs.values()) this.clearTimers(t);
    this.jobs.clear();
    if (this.polling) await this.polling.catch(() => {});
  }

  /** pollNow runs one squeue poll at once (tests, benchmarks). */
  async pollNow(): Promise<void> {
    if (this.polling) await this.polling.catch(() => {});
    await this.pollOnce();
  }

  /** pollNodesNow runs one sinfo poll at once. */
  async pollNodesNow(): Promise<void> {
    await this.pollNodes();
  }

  // ---------------------------------------------------------------- following jobs

  private pollInterval(): number {
    return this.opts.pollIntervalMs ?? 1000;
  }

  /** schedulePoll asks for a poll within `delay` ms (an earlier request wins). Polls never overlap. */
  private schedulePoll(delay: number): void {
    if (this.closed) return;
    const due = performance.now() + delay;
    if (this.pollTimer) {
      if (due >= this.pollDue) return;
      clearTimeout(this.pollTimer);
    }
    this.pollDue = due;
    // Not unref'd: while jobs are followed the driver has work to do; close() ends it.
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      if (this.polling) {
        this.pollAgain = true;
        return;
      }
      this.polling = this.pollOnce()
        .catch((err: unknown) => console.error('slurm driver: poll failed:', err))
        .finally(() => {
          this.polling = null;
          const again = this.pollAgain;
          this.pollAgain = false;
          if (this.jobs.size > 0) this.schedulePoll(again ? 0 : this.pollInterval());
        });
    }, delay);
  }

  private async pollOnce(): Promise<void> {
    if (this.closed || this.jobs.size === 0) return;
    // A job counts as missing only from a poll that began after it was known to be submitted.
    const pollStartedAt = this.now();
    const followed = [...this.jobs.values()];
    let records: slurm.SlurmJobRecord[];
    const t0 = performance.now();
    try {
      records = await this.squeue(followed.map((t) => t.file.slurmJobId));
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastPollError) console.error(`slurm driver: squeue failed (jobs stay followed): ${msg}`);
      this.lastPollError = msg;
      return;
    } finally {
      this.stats.pollMsTotal += performance.now() - t0;
    }
    this.lastPollError = '';
    const byId = new Map(records.map((r) => [r.slurmJobId, r]));
    const work: Promise<void>[] = [];
    for (const t of followed) {
      const rec = byId.get(t.file.slurmJobId);
      if (rec) {
        t.missingPolls = 0;
        this.readCheckpoints(t);
        work.push(this.apply(t, rec));
      } else if (t.trackedAt <= pollStartedAt && ++t.missingPolls >= 2) {
        work.push(this.settleMissing(t));
      }
    }
    await Promise.all(work);
  }

  /** apply one squeue record to a followed job: report the start, arm the deadline, report the end. */
  private async apply(t: Tracked, rec: slurm.SlurmJobRecord): Promise<void> {
    if (t.finished || t.applying) return;
    const phase = slurm.phaseOf(rec.state);
    t.phase = phase;
    if (phase === 'pending') return;
    t.applying = true;
    try {
      // Ended without ever being given nodes (cancelled while pending): it never started.
      const neverRan = phase === 'ended' && rec.nodes.length === 0;
      if (t.slurmStart === null && !neverRan) {
        t.slurmStart = rec.startTime ?? this.now();
        this.armDeadline(t);
        if (t.file.stopping) this.resumeStop(t);
        if (!t.file.startedReportedAt) {
          // Which GPUs Slurm gave on each node (only known while the job runs).
          const gpus = phase === 'running' ? await this.gpuIndices(rec.slurmJobId) : new Map<string, number[]>();
          t.file.startedReportedAt = this.now();
          this.persist(t);
          if (!t.silent && !t.finished && !this.closed) {
            const endpoint = t.file.endpoint;
            this.listeners.emit({
              type: 'started',
              jobId: t.id,
              at: t.slurmStart,
              message: this.startedMessage(t, rec, gpus) + (endpoint ? `; serving at ${endpoint.host}:${endpoint.port}` : ''),
              ...(endpoint ? { endpoint } : {}),
            });
          }
        }
      }
      if (phase === 'ended') {
        const o = slurm.endedOutcome(rec);
        this.finish(t, o.outcome, o.exitCode ?? readExitCode(join(t.dir, 'exit_code')), o.message);
      }
    } finally {
      t.applying = false;
    }
  }

  /** workloadEndpoint: the node's address (Slurm's NodeAddr) and a port for a session or service on it. */
  private async workloadEndpoint(jobId: string, attempt: number, slurmNode: string): Promise<{ host: string; port: number }> {
    let host = this.nodeAddrs.get(slurmNode);
    if (!host) {
      const res = await this.limited(() => this.run('scontrol', ['show', 'node', slurmNode, '--oneliner'], this.commandEnv()));
      host = (res.code === 0 ? parseNodeAddr(res.stdout) : null) ?? slurmNode;
      this.nodeAddrs.set(slurmNode, host);
    }
    const taken = new Set<number>();
    for (const t of this.jobs.values()) if (!t.finished && t.file.endpoint?.host === host) taken.add(t.file.endpoint.port);
    return { host, port: await pickWorkloadPort(jobId, attempt, host, taken, this.opts.workloadPorts) };
  }

  private startedMessage(t: Tracked, rec: slurm.SlurmJobRecord, gpus: Map<string, number[]>): string {
    const parts: string[] = [];
    for (const n of t.file.nodes) {
      const got = gpus.get(n.slurmNode);
      if (!got) continue;
      const same = got.length === n.gpus.length && got.every((g, i) => g === n.gpus[i]);
      parts.push(`${n.node}=${n.slurmNode} GPUs ${got.join(',')}${same ? '' : ` (placed ${n.gpus.join(',')})`}`);
    }
    const where = rec.nodes.length ? rec.nodes.join(',') : t.file.nodes.map((n) => n.slurmNode).join(',');
    return `started as Slurm job ${rec.slurmJobId} on ${where}${parts.length ? `; ${parts.join('; ')}` : ''}`;
  }

  /** settleMissing: Slurm no longer lists the job. Its exit_code file, then sacct, then lost. */
  private async settleMissing(t: Tracked): Promise<void> {
    if (t.finished || t.settling) return;
    const code = readExitCode(join(t.dir, 'exit_code'));
    if (code !== null) {
      this.finish(t, 'completed', code, `exited with code ${code} (Slurm job ${t.file.slurmJobId} no longer listed by squeue)`);
      return;
    }
    t.settling = true;
    try {
      const rec = await this.sacct(t.file.slurmJobId);
      if (t.finished) return;
      if (rec && slurm.phaseOf(rec.state) === 'ended') {
        const o = slurm.endedOutcome(rec);
        this.finish(t, o.outcome, o.exitCode, `${o.message} (from sacct)`);
      } else if (rec) {
        // Accounting says it is still alive: squeue will list it again.
        t.missingPolls = 0;
      } else {
        this.finish(t, 'lost', null, `Slurm job ${t.file.slurmJobId} is gone from Slurm and left no exit code`);
      }
    } finally {
      t.settling = false;
    }
  }

  private finish(t: Tracked, slurmOutcome: ExitOutcome, exitCode: number | null, message: string): void {
    if (t.finished) return;
    // Checkpoints written just before the end are reported while the job still counts as running.
    this.readCheckpoints(t);
    t.finished = true;
    this.clearTimers(t);
    this.jobs.delete(t.id);
    let outcome = slurmOutcome;
    let msg = message;
    if (t.file.stopping && slurmOutcome !== 'lost') {
      // Our own stop decides the outcome: the tasks may have exited cleanly on SIGTERM.
      outcome = t.file.stopping.outcome;
      msg =
        outcome === 'timed-out'
          ? `wall-clock limit of ${t.file.maxRuntimeSeconds}s reached; ${message}`
          : `stopped (SIGTERM, grace ${t.file.stopping.graceSeconds}s); ${message}`;
    }
    const container = readJson(join(t.dir, 'container.json'), ContainerFileSchema);
    const ending = containerEnding(
      { pullFailed: readPullFailed(t.dir), datasetNotStaged: readDatasetNotStaged(t.dir) },
      container ? { image: container.image, memory: container.resources?.memory } : null,
      exitCode,
      !!t.file.stopping,
    );
    if (ending) msg = ending;
    t.outcome = outcome;
    const result: JobResultFile = { outcome, exitCode, at: this.now(), message: msg };
    try {
      writeJsonAtomic(join(t.dir, 'result.json'), result);
    } catch {
      // the job directory is gone; the observation still goes out
    }
    const emit = (after: slurm.SacctAfterEnd | null = null) => {
      const energyJoules = this.opts.measureEnergy ? (after?.energyJoules ?? null) : null;
      const ran = this.opts.reportRunTime ? (after?.ran ?? null) : null;
      if (!t.silent && !this.closed)
        this.listeners.emit({
          type: 'exited',
          jobId: t.id,
          ...result,
          ...(energyJoules !== null ? { energyJoules } : {}),
          ...(ran !== null ? { ran } : {}),
        });
      t.resolveDone();
    };
    // The job is gone from squeue (or ended there): its accounting record holds what was measured
    // and when it really ran.
    if ((this.opts.measureEnergy || this.opts.reportRunTime) && !t.silent && slurmOutcome !== 'lost')
      void this.afterEnd(t.file.slurmJobId).then(emit, () => emit());
    else emit();
  }

  /** afterEnd: the joules sacct reports for the job and its Start and End, or null (no accounting, not yet recorded). */
  private async afterEnd(slurmJobId: string): Promise<slurm.SacctAfterEnd | null> {
    const env = { ...this.commandEnv(), ...slurm.sacctAfterEndEnv };
    const res = await this.run('sacct', slurm.sacctAfterEndArgs(slurmJobId), env);
    return res.code === 0 ? slurm.parseSacctAfterEnd(res.stdout, slurmJobId) : null;
  }

  /**
   * readCheckpoints reports the checkpoint lines the job wrote since the last read. Only once its
   * start was reported: the control plane takes checkpoints of running jobs only.
   */
  private readCheckpoints(t: Tracked): void {
    if (t.silent || this.closed || t.finished || !t.file.startedReportedAt) return;
    t.checkpointOffset = followCheckpoints(t.dir, t.id, t.checkpointOffset, this.now(), (o) => this.listeners.emitCheckpoint(o));
  }

  private armDeadline(t: Tracked): void {
    if (t.deadlineTimer || !t.file.maxRuntimeSeconds || t.slurmStart === null) return;
    const deadline = t.slurmStart + t.file.maxRuntimeSeconds * 1000;
    const fire = () => {
      t.deadlineTimer = null;
      if (t.finished) return;
      const left = deadline - this.now();
      if (left > 0) {
        t.deadlineTimer = setTimeout(fire, Math.min(left, 2 ** 31 - 1));
        t.deadlineTimer.unref();
        return;
      }
      void this.terminate(t, 'timed-out', this.opts.timeoutGraceSeconds ?? 30);
    };
    t.deadlineTimer = setTimeout(fire, Math.max(0, Math.min(deadline - this.now(), 2 ** 31 - 1)));
    t.deadlineTimer.unref();
  }

  private async terminate(t: Tracked, outcome: 'cancelled' | 'timed-out', graceSeconds: number): Promise<void> {
    if (t.finished) return t.done;
    const grace = Math.max(0, graceSeconds);
    const id = t.file.slurmJobId;
    if (!t.file.stopping) {
      t.file.stopping = { outcome, at: this.now(), graceSeconds: grace };
      this.persist(t);
      if (t.phase === 'unknown') {
        // Stopped before the first poll: ask Slurm whether it already runs (signals need a running job).
        const rec = (await this.squeue([id]).catch(() => [])).find((r) => r.slurmJobId === id);
        if (rec) t.phase = slurm.phaseOf(rec.state);
      }
      if (t.phase === 'running') {
        await this.scancel(slurm.SCANCEL.term(id));
        this.armKill(t, grace * 1000);
      } else {
        // Not running (pending, or state not yet seen): signals do not reach it; remove it.
        await this.scancel(slurm.SCANCEL.cancel(id));
        this.armKill(t, Math.min(grace, 5) * 1000);
      }
    } else {
      const killAt = t.file.stopping.at + t.file.stopping.graceSeconds * 1000;
      if (this.now() + grace * 1000 < killAt) this.armKill(t, grace * 1000);
    }
    this.schedulePoll(Math.min(250, this.pollInterval()));
    return raceTimeout(t.done, grace * 1000 + 30_000);
  }

  private resumeStop(t: Tracked): void {
    const s = t.file.stopping;
    if (!s || t.killTimer) return;
    this.armKill(t, Math.max(0, s.at + s.graceSeconds * 1000 - this.now()));
  }

  private armKill(t: Tracked, ms: number): void {
    if (t.killTimer) clearTimeout(t.killTimer);
    t.killTimer = setTimeout(() => {
      t.killTimer = null;
      if (t.finished) return;
      void (async () => {
        await this.scancel(slurm.SCANCEL.kill(t.file.slurmJobId));
        await this.scancel(slurm.SCANCEL.cancel(t.file.slurmJobId));
        this.schedulePoll(0);
      })();
    }, ms);
    t.killTimer.unref();
  }

  private track(id: string, attempt: number, dir: string, file: SlurmJobFile, silent: boolean): Tracked {
    let resolveDone = () => {};
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const t: Tracked = {
      id,
      attempt,
      dir,
      file,
      phase: 'unknown',
      slurmStart: null,
      missingPolls: 0,
      trackedAt: this.now(),
      settling: false,
      applying: false,
      finished: false,
      silent,
      deadlineTimer: null,
      killTimer: null,
      done,
      resolveDone,
      checkpointOffset: readJson(join(dir, 'checkpoint.offset'), CheckpointOffsetSchema)?.offset ?? 0,
    };
    this.jobs.set(id, t);
    return t;
  }

  private persist(t: Tracked): void {
    try {
      writeJsonAtomic(join(t.dir, 'slurm.json'), t.file);
    } catch (err) {
      console.error(`slurm driver: cannot write ${join(t.dir, 'slurm.json')}: ${(err as Error).message}`);
    }
  }

  private clearTimers(t: Tracked): void {
    if (t.deadlineTimer) clearTimeout(t.deadlineTimer);
    if (t.killTimer) clearTimeout(t.killTimer);
    t.deadlineTimer = null;
    t.killTimer = null;
  }

  // ---------------------------------------------------------------- nodes

  private scheduleNodePoll(delay: number): void {
    if (this.closed) return;
    this.nodeTimer = setTimeout(() => {
      void this.pollNodes().finally(() => this.scheduleNodePoll(this.opts.nodePollIntervalMs ?? 10_000));
    }, delay);
    this.nodeTimer.unref();
  }

  /**
   * pollNodes reads sinfo and reports mapped nodes whose state changed. The first successful poll
   * reports every mapped node (the control plane may have missed changes while it was down).
   */
  private async pollNodes(): Promise<void> {
    if (this.closed || this.reverseNodes.size === 0) return;
    let nodes: slurm.SlurmNodeRecord[];
    try {
      const res = await this.run('sinfo', slurm.SINFO_ARGS, this.commandEnv());
      this.stats.sinfoCalls++;
      if (res.code !== 0) throw new Error(firstLine(res.stderr) || `exit ${res.code}`);
      nodes = slurm.parseSinfoJson(res.stdout);
    } catch (err) {
      console.error(`slurm driver: sinfo failed: ${(err as Error).message}`);
      return;
    }
    const at = this.now();
    for (const n of nodes) {
      const node = this.reverseNodes.get(n.name);
      if (!node) continue;
      const s = slurm.gigafabNodeState(n);
      const prev = this.nodeStates.get(node);
      if (prev && prev.state === s.state && (s.state === 'up' || prev.reason === s.reason)) continue;
      this.nodeStates.set(node, s);
      if (!this.closed) this.listeners.emitNodeState({ type: 'node-state', node, state: s.state, reason: s.reason, at });
    }
  }

  // ---------------------------------------------------------------- Slurm commands

  /** squeue (text) for the given Slurm job ids, or for every job. */
  private async squeue(slurmJobIds?: string[]): Promise<slurm.SlurmJobRecord[]> {
    const chunks: (string[] | undefined)[] = [];
    if (!slurmJobIds) chunks.push(undefined);
    else for (let i = 0; i < slurmJobIds.length; i += 500) chunks.push(slurmJobIds.slice(i, i + 500));
    const out: slurm.SlurmJobRecord[] = [];
    for (const ids of chunks) {
      const res = await this.run('squeue', slurm.squeueTextArgs(ids), this.commandEnv());
      this.stats.squeueCalls++;
      if (res.code !== 0) {
        if (ids && slurm.isUnknownJobError(res.stderr)) continue; // none of them is known any more
        throw new Error(`squeue failed (exit ${res.code}): ${firstLine(res.stderr)}`);
      }
      out.push(...slurm.parseSqueueText(res.stdout));
    }
    if (!this.releaseChecked) {
      this.releaseChecked = true;
      const v = await this.run('sinfo', ['--version'], this.commandEnv()).catch(() => null);
      const release = v?.stdout.trim().split(' ').pop() ?? null;
      if (!slurm.isSupportedRelease(release)) {
        console.error(
          `slurm driver: written for Slurm ${slurm.SLURM_SERIES}, the cluster's tools are ${release}; see src/drivers/slurm/`,
        );
      }
    }
    return out;
  }

  /** GPU indices per Slurm node of a running job; empty when Slurm does not say. */
  private async gpuIndices(slurmJobId: string): Promise<Map<string, number[]>> {
    try {
      const res = await this.limited(() => this.run('scontrol', slurm.scontrolShowJobArgs(slurmJobId), this.commandEnv()));
      this.stats.scontrolCalls++;
      return res.code === 0 ? slurm.parseScontrolGpus(res.stdout) : new Map();
    } catch {
      return new Map();
    }
  }

  private async sacct(slurmJobId: string): Promise<slurm.SlurmJobRecord | null> {
    try {
      const res = await this.run('sacct', slurm.sacctArgs(slurmJobId), this.commandEnv());
      if (res.code !== 0) return null; // e.g. "Slurm accounting storage is disabled"
      return slurm.parseSacctText(res.stdout);
    } catch {
      return null;
    }
  }

  private async scancel(args: string[]): Promise<void> {
    this.stats.scancelCalls++;
    const res = await this.run('scancel', args, this.commandEnv()).catch((e: Error) => ({
      code: -1,
      stdout: '',
      stderr: e.message,
    }));
    // "already completing or completed" and "Invalid job id" are fine: the job is ending or gone.
    if (res.code !== 0 && !/complet|Invalid job id|can not be altered/i.test(res.stderr)) {
      console.error(`slurm driver: scancel ${args.join(' ')}: ${firstLine(res.stderr)}`);
    }
  }

  private slurmEnv(): Record<string, string> {
    const conf = this.opts.slurmConf ?? process.env.SLURM_CONF;
    return conf ? { SLURM_CONF: conf } : {};
  }

  private commandEnv(): Record<string, string> {
    return { ...baseEnv(['PATH', 'LANG', 'LC_ALL', 'TZ', 'HOME', 'USER']), ...this.slurmEnv() };
  }

  private run(cmd: string, args: string[], env: Record<string, string>): Promise<CommandResult> {
    const file = this.opts.binDir ? join(this.opts.binDir, cmd) : cmd;
    return new Promise((res, rej) => {
      execFile(
        file,
        args,
        { env, timeout: this.opts.commandTimeoutMs ?? 30_000, maxBuffer: 512 << 20 },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') {
            rej(new Error(`${cmd}: ${err.killed ? 'timed out' : err.message}`));
            return;
          }
          res({ code: err ? Number(err.code) : 0, stdout, stderr });
        },
      );
    });
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    const max = this.opts.submitConcurrency ?? 4;
    while (this.inFlight >= max) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }
}

function rank(r: slurm.SlurmJobRecord): number {
  const p = slurm.phaseOf(r.state);
  return p === 'running' ? 2 : p === 'pending' ? 1 : 0;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? ''
  );
}

/**
 * slurmJobName: `gigafab-<id>` for a job's first attempt (as before attempts existed), then
 * `gigafab-<id>@<K>`; '@' never occurs in a job id, so the name reads back unambiguously.
 */
export function slurmJobName(jobId: string, attempt: number): string {
  return attempt === 1 ? `gigafab-${jobId}` : `gigafab-${jobId}@${attempt}`;
}

export function parseSlurmJobName(name: string): { id: string; attempt: number } {
  const rest = name.slice('gigafab-'.length);
  const m = /^(.*)@([1-9]\d{0,8})$/.exec(rest);
  return m ? { id: m[1]!, attempt: Number(m[2]) } : { id: rest, attempt: 1 };
}

/**
 * shareGres: the gres of a GPU share. A MIG instance is Slurm's MIG gres type, named by its profile
 * (`gpu:1g.23gb:1`, as gres.conf AutoDetect=nvml names MIG devices); a time-sliced share is shards
 * of one GPU (`shard:N`, N = the share of the site's shards per GPU, at least 1). Whole GPUs: undefined.
 */
export function shareGres(alloc: NodeAllocation | undefined, shardsPerGpu: number): string | undefined {
  if (!alloc || alloc.milli === undefined) return undefined;
  if (alloc.migProfile !== undefined) return `gpu:${alloc.migProfile}:1`;
  return `shard:${Math.max(1, Math.ceil((alloc.milli * shardsPerGpu) / 1000))}`;
}
