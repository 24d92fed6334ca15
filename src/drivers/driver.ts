/**
 * ExecutionDriver: carries out start/stop decisions on an execution engine (simulated, local
 * processes, Slurm, Kubernetes) and reports what it observes. gigafab stays the scheduler of record:
 * the driver never chooses placement.
 */

import type { NodeState } from '../model/fleet.js';
import type { GpuRepartition } from '../model/gpu-sharing.js';
import type { Placement } from '../model/job.js';
import type { JobDataset } from '../model/job-datasets.js';
import type { JobSpec } from '../model/schemas.js';
import type { Endpoint } from '../model/workloads.js';
import type { SiteRunPolicy } from './runnable.js';

export interface DriverJob {
  id: string;
  spec: JobSpec;
  placement: Placement;
  /**
   * Idle GPUs of the placement to re-partition (whole ↔ MIG) before the job runs: node-level
   * operations the control plane committed with the start. Drivers that manage MIG (local) carry
   * them out; the others leave MIG layouts to the site (README "MIG re-partitioning"). Absent: none.
   */
  repartitions?: GpuRepartition[];
  /** Epoch ms when the control plane committed the start. */
  startedAt: number;
  /**
   * Which start of the job this is (1 for the first; a requeued job is started again with the next
   * number). The control plane persists it, so a reattach names the run that is current; drivers
   * that keep files per job keep them per attempt. Absent: 1.
   */
  attempt?: number;
  /**
   * Secret environment variables for the job (tokens, keys), kept apart from spec.env so that no
   * driver ever writes them to a log, a state file or an observation message. Only start() reads it.
   */
  secrets?: Record<string, string>;
  /**
   * Key (256 bits) to seal this attempt's output at rest (AES-256-CTR), derived by the control plane
   * from the org's data key, so erasing the org makes the output unreadable. Drivers that write the
   * output to disk themselves (local) use it; never written anywhere, never given to the job.
   */
  logKey?: Buffer;
  /**
   * The job's declared datasets with the mode the control plane decided (class rules applied): drivers
   * with a `datasetRoot` mount `<datasetRoot>/<id>` at /datasets/<id> (see job-mounts.ts). Absent: none.
   */
  datasets?: JobDataset[];
}

export type ExitOutcome = 'completed' | 'timed-out' | 'cancelled' | 'lost';

export type Observation =
  /**
   * endpoint: where a session's or service's port is reached (model/workloads.ts), reported by
   * drivers that give such jobs a port; the control plane keeps it while the job runs (job_endpoints).
   */
  | { type: 'started'; jobId: string; at: number; message: string; endpoint?: Endpoint }
  /**
   * A step before the job's own process runs (`image-pull`: pulling its image), recorded as a job event
   * of that type; data: e.g. { image, bytes } once known.
   */
  | { type: 'phase'; jobId: string; at: number; phase: 'image-pull'; message: string; data?: Record<string, string | number> }
  | {
      type: 'exited';
      jobId: string;
      at: number;
      outcome: ExitOutcome;
      exitCode: number | null;
      message: string;
      /**
       * Energy the execution engine measured for this run, joules (Slurm's ConsumedEnergyRaw where
       * the cluster has an energy plugin); absent: not measured. Kept beside the power model's figure.
       */
      energyJoules?: number;
      /**
       * When the execution engine says this run really started and ended (epoch ms; Slurm's sacct
       * Start and End); absent: not reported. The control plane corrects the run's metered segment to
       * it (src/server/usage-reconcile.ts), so a run is billed for what the engine ran.
       */
      ran?: { start: number; end: number };
    };

/**
 * A node's state as the execution engine sees it (Slurm: down, drained, not responding). Drivers that
 * know about node health report these through onNodeState; the control plane decides how they combine
 * with operator-set states. Kept out of the Observation union so that code which handles only
 * `started`/`exited` keeps compiling; see DriverObservation.
 */
export interface NodeStateObservation {
  type: 'node-state';
  /** gigafab node id (already mapped back from the engine's own node name). */
  node: string;
  state: NodeState;
  reason: string;
  at: number;
}

/**
 * A checkpoint the job itself reported to its execution engine (the simulated fleet: every
 * `simulation.checkpointEverySeconds`). Kept out of the Observation union like node states.
 */
export interface CheckpointObservation {
  type: 'checkpoint';
  jobId: string;
  at: number;
  step?: number;
  label?: string;
}

/** Every kind of observation a driver can report. */
export type DriverObservation = Observation | NodeStateObservation;

/** A piece of a job's output log (stdout and stderr together), read from a byte offset. */
export interface LogChunk {
  /** Bytes from `offset` on; may end inside a multi-byte character, so decode with a streaming decoder. */
  data: Uint8Array;
  /** Byte offset of the chunk's first byte. */
  offset: number;
  /** Offset to ask for next. */
  nextOffset: number;
  /** The job has ended and nothing follows nextOffset: a follower can stop. */
  eof: boolean;
}

export interface ExecutionDriver {
  readonly name: string;
  /**
   * runtimeScale: how many seconds of a job's run pass per second of the control plane's clock on
   * a site (the simulated driver's `--time-scale`; real engines: 1, the default when absent).
   * Backfill plans expected ends with it, so wall-clock limits are read in the clock's time.
   */
  runtimeScale?(site: string): number;
  /**
   * Optional: what the driver of `site` can run (images, host processes, registries), for the
   * submission check (whyNotRunnable). Absent: anything (the simulated driver).
   */
  runPolicy?(site: string): SiteRunPolicy;
  /** start launches a job on exactly the placement given. */
  start(job: DriverJob): Promise<void>;
  /** stop signals the job (SIGTERM-like), waits up to graceSeconds, then kills it. Reports `exited`. */
  stop(jobId: string, graceSeconds: number): Promise<void>;
  /** reattach finds jobs that were running before a control-plane restart; reports lost ones. */
  reattach(jobs: DriverJob[]): Promise<void>;
  onObservation(listener: (o: Observation) => void): void;
  /** Optional: node states as the execution engine sees them (e.g. Slurm's down/drain). */
  onNodeState?(listener: (o: NodeStateObservation) => void): void;
  /** Optional: checkpoints jobs report through the engine; preemption then loses less work. */
  onCheckpoint?(listener: (o: CheckpointObservation) => void): void;
  /**
   * Optional: a job's output from byte `offset` on (at most maxBytes), for `gigafab job logs --follow`:
   * call again with nextOffset until eof. null: the driver has no log for this job (attempt).
   * attempt: which run's output (default: the latest this driver has). logKey: the key that run's
   * output was sealed with (DriverJob.logKey); a sealed log is not readable without it.
   */
  logs?(jobId: string, offset: number, maxBytes?: number, attempt?: number, logKey?: Buffer): Promise<LogChunk | null>;
  /**
   * Optional: delete what the driver keeps of an ended job on its own disks (output, state, every
   * attempt), for an organisation's erasure. A job still running is left alone (the caller asks again once it ended).
   */
  forget?(jobId: string): Promise<void>;
  /**
   * Optional: delete the directory the driver keeps for a session's state in a dataset that was
   * deleted (the `local` driver: `<datasetRoot>/<id>`, which it made on the session's first start).
   * Idempotent (nothing there: done); throws when it could not remove it, so the control plane asks
   * again. Resolves false where the driver keeps no such directories (no datasetRoot). Absent: the
   * driver leaves staged data to the site's storage lifecycle.
   */
  removeDatasetState?(datasetId: string): Promise<boolean>;
  close(): Promise<void>;
}
