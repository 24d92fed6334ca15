/**
 * ExecutionDriver: carries out start/stop decisions on an execution engine (simulated, local
 * processes, Slurm, Kubernetes) and reports what it observes. gigafab stays the scheduler of record:
 * the driver never chooses placement.
 */
import type { JobSpec } from '../api/schemas.js';
import type { Placement } from '../model/job.js';

export interface DriverJob {
  id: string;
  spec: JobSpec;
  placement: Placement;
  /** Epoch ms when the control plane committed the start. */
  startedAt: number;
}

export type ExitOutcome = 'completed' | 'timed-out' | 'cancelled' | 'lost';

export type Observation =
  | { type: 'started'; jobId: string; at: number; message: string }
  | {
      type: 'exited';
      jobId: string;
      at: number;
      outcome: ExitOutcome;
      exitCode: number | null;
      message: string;
    };

export interface ExecutionDriver {
  readonly name: string;
  /** start launches a job on exactly the placement given. */
  start(job: DriverJob): Promise<void>;
  /** stop signals the job (SIGTERM-like), waits up to graceSeconds, then kills it. Reports `exited`. */
  stop(jobId: string, graceSeconds: number): Promise<void>;
  /** reattach finds jobs that were running before a control-plane restart; reports lost ones. */
  reattach(jobs: DriverJob[]): Promise<void>;
  onObservation(listener: (o: Observation) => void): void;
  close(): Promise<void>;
}
