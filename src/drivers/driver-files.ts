/**
 * The JSON files drivers keep beside a job (state, result, Slurm job file, sealer, checkpoint
 * offset), as zod schemas: a file written by an older version or cut short by a crash is refused
 * as a whole (read as absent), never cast and trusted.
 */
import { z } from 'zod';

const ExitOutcomeSchema = z.enum(['completed', 'timed-out', 'cancelled', 'lost']);

/** A stop the driver asked for and is waiting out (grace, then kill). */
const StoppingSchema = z.object({
  outcome: z.enum(['cancelled', 'timed-out']),
  at: z.number(),
  graceSeconds: z.number(),
});

/** result.json: how a job's process ended (written by its wrapper or the driver). */
export const JobResultFileSchema = z.object({
  outcome: ExitOutcomeSchema,
  exitCode: z.number().nullable(),
  at: z.number(),
  message: z.string(),
  /** The run's sampled GPU energy (local driver with powerSampleSeconds); absent: not measured. */
  energyJoules: z.number().optional(),
});
export type JobResultFile = z.infer<typeof JobResultFileSchema>;

/** state.json of the local driver: the process it runs for a job. */
export const LocalJobStateSchema = z.object({
  version: z.literal(1),
  jobId: z.string(),
  pid: z.number(),
  pgid: z.number(),
  startTicks: z.number().nullable(),
  bootId: z.string().nullable(),
  /** Epoch ms the process was started. */
  startedAt: z.number(),
  /** Epoch ms of the wall-clock limit. */
  deadline: z.number(),
  gpus: z.array(z.number()),
  cudaVisibleDevices: z.string(),
  /** Container name when the job runs an image (podman). */
  container: z.string().optional(),
  /** A gang's rank count (local-gang.ts): its containers are `<container>-r<rank>`. */
  ranks: z.number().int().min(2).optional(),
  /** The image's memory limit, for the out-of-memory message. */
  memory: z.string().optional(),
  /** A session's or service's endpoint (workload-port.ts). */
  endpoint: z.object({ host: z.string(), port: z.number().int() }).optional(),
  stopping: StoppingSchema.optional(),
});
export type LocalJobState = z.infer<typeof LocalJobStateSchema>;

/** slurm.json of the Slurm driver: the Slurm job a gigafab job became. */
export const SlurmJobFileSchema = z.object({
  version: z.literal(1),
  jobId: z.string(),
  slurmJobId: z.string(),
  submittedAt: z.number(),
  maxRuntimeSeconds: z.number(),
  /** gigafab node → Slurm node, and the GPU indices gigafab placed. */
  nodes: z.array(z.object({ node: z.string(), slurmNode: z.string(), gpus: z.array(z.number()) })),
  startedReportedAt: z.number().optional(),
  stopping: StoppingSchema.optional(),
  /** A session's or service's endpoint: its node's address and the port the driver gave it. */
  endpoint: z.object({ host: z.string(), port: z.number() }).optional(),
});
export type SlurmJobFile = z.infer<typeof SlurmJobFileSchema>;

/** sealer.json: the log-sealer process of a run (alive while it drains the job's output). */
export const SealerFileSchema = z.object({ pid: z.number(), startTicks: z.number().nullable(), bootId: z.string().nullable() });

/** checkpoint.offset: how far the checkpoint file was read (a reattach reports no line twice). */
export const CheckpointOffsetSchema = z.object({ offset: z.number() });

/** container.json of the Slurm driver: what the exit message needs of a container job's spec. */
export const ContainerFileSchema = z.object({
  image: z.string().optional(),
  resources: z.looseObject({ memory: z.string().optional() }).nullish(),
});
