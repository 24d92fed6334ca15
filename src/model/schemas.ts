/**
 * The domain's schemas: tenancy, jobs (spec, job, event, explanation), fleet views and audit
 * records. One source: they validate input, type the services, and the API layer (src/api) builds
 * its OpenAPI 3.1 document and the CLI's client from them. Nothing HTTP-specific lives here.
 */
import { z } from '@hono/zod-openapi';
import { JOB_STATES, PRIORITY_CLASSES } from './job.js';
import { JobConstraintsSchema, OnNodeFailureSchema } from './schemas-scheduling.js';
import { checkWorkloadSpec, ServiceJobSchema, SessionSpecSchema, WorkloadKindSchema } from './schemas-workloads.js';

const slug = z
  .string()
  .min(2)
  .max(63)
  .regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, 'lower-case letters, digits and dashes, starting with a letter');

export const ORG_KINDS = ['enterprise', 'start-up', 'research', 'public-sector'] as const;
export const ORG_ROLES = ['admin', 'member', 'viewer'] as const;
export const ROLES = ['operator', ...ORG_ROLES] as const;

// ---------- tenancy ----------
export const OrgCreateSchema = z
  .strictObject({
    id: slug.openapi({ example: 'robotics-gmbh' }),
    name: z.string().min(1).max(200).openapi({ example: 'Robotics GmbH' }),
    kind: z.enum(ORG_KINDS),
  })
  .openapi('OrgCreate');
export const OrgSchema = z
  .object({ id: z.string(), name: z.string(), kind: z.enum(ORG_KINDS), createdAt: z.string() })
  .openapi('Org');

export const ProjectCreateSchema = z
  .strictObject({
    id: slug.openapi({ example: 'robotics', description: 'Globally unique project id' }),
    name: z.string().min(1).max(200).optional(),
  })
  .openapi('ProjectCreate');
export const QuotaSchema = z
  .object({
    gpuType: z.string(),
    gpus: z.number().int(),
    used: z.number().openapi({ description: 'GPU-equivalents in use: a 250 milli-GPU share counts 0.25' }),
  })
  .openapi('Quota');
export const ProjectSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    name: z.string(),
    createdAt: z.string(),
    quotas: z.array(QuotaSchema),
  })
  .openapi('Project');
export const QuotaSetSchema = z.strictObject({ gpus: z.number().int().min(0).max(1_000_000) }).openapi('QuotaSet');

export const UserCreateSchema = z
  .strictObject({
    name: z.string().min(1).max(200),
    email: z.email().optional(),
    role: z.enum(ORG_ROLES),
    tokenSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256')
      .optional()
      .openapi({
        description:
          'Onboarding only (an operator creating the first admin of an organisation): the SHA-256 of a token the future admin generated (`gigafab token generate`). The operator never receives a tenant credential.',
      }),
  })
  .openapi('UserCreate');
export const UserSchema = z
  .object({
    id: z.string(),
    org: z.string().nullable(),
    name: z.string(),
    email: z.string().nullable(),
    role: z.enum(ROLES),
    createdAt: z.string(),
    createdBy: z
      .string()
      .nullable()
      .openapi({ description: 'An org admin, system:oidc, or the operator who onboarded the first admin' }),
    disabledAt: z.string().nullable(),
    redacted: z
      .array(z.string())
      .optional()
      .openapi({ description: 'Operators: name and e-mail of users the tenant created are withheld' }),
  })
  .openapi('User');
export const TokenInfoSchema = z
  .object({
    id: z.string().openapi({ example: 'tok_3f9a2b1c4d5e6f70' }),
    name: z.string().nullable(),
    owner: z.string().openapi({ description: 'The user the token acts as' }),
    org: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string().nullable(),
    expiresAt: z.string().nullable().openapi({ description: 'null only for the bootstrap operator token' }),
    lastUsedAt: z.string().nullable().openapi({ description: 'Updated at most once a minute' }),
    revokedAt: z.string().nullable(),
    state: z.enum(['active', 'expired', 'revoked']),
  })
  .openapi('TokenInfo');
export const TokenSchema = z
  .object({
    token: z.string().optional().openapi({
      description:
        'Shown once; only its hash is stored. Absent on onboarding: the future admin generated it and the operator never sees it',
    }),
    tokenInfo: TokenInfoSchema,
    user: UserSchema,
  })
  .openapi('IssuedToken');
export const TokenCreateSchema = z
  .strictObject({
    name: z.string().min(1).max(100).optional().openapi({ example: 'ci-pipeline' }),
    expiresInDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .openapi({ description: "Lifetime in days; default and maximum are the server's token policy" }),
    expiresAt: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: 'Or an exact expiry (in the future, within the maximum lifetime); not with expiresInDays' }),
  })
  .refine((b) => b.expiresInDays === undefined || b.expiresAt === undefined, {
    message: 'give expiresInDays or expiresAt, not both',
    path: ['expiresAt'],
  })
  .openapi('TokenCreate');
export const UserDisableSchema = z
  .strictObject({
    reason: z.string().min(3).max(500).openapi({ example: 'credential leaked in a public repository (ticket 4711)' }),
  })
  .openapi('UserDisable');
export const WhoAmISchema = UserSchema.openapi('WhoAmI');

// ---------- jobs ----------
const envName = z
  .string()
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
/** maxEntries bounds a record (env, labels): a count keeps one job from carrying thousands of them. */
const maxEntries = (n: number) => (o: Record<string, unknown>) => Object.keys(o).length <= n;
/** A size in bytes with an optional unit: 512m, 8g, 8Gi (podman and Kubernetes spellings). */
const byteSize = z.string().regex(/^[1-9][0-9]{0,12}([kmgtKMGT]i?)?$/, 'a size such as 512m or 8Gi');
const labelKey = z.string().regex(/^[a-z0-9]([a-z0-9._/-]{0,62}[a-z0-9])?$/, 'a label key');

/**
 * checkShareFields: a GPU share (gpuFraction or migProfile, not both) is part of ONE GPU, and a GPU
 * memory limit goes with a fraction. Shared by job specs and service replica templates.
 */
export function checkShareFields(
  spec: { gpusPerNode: number; nodes?: number; gpuFraction?: number; migProfile?: string; gpuMemoryMiB?: number },
  ctx: z.RefinementCtx,
): void {
  const share = spec.gpuFraction !== undefined ? 'gpuFraction' : spec.migProfile !== undefined ? 'migProfile' : null;
  if (spec.gpuFraction !== undefined && spec.migProfile !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['migProfile'], message: 'ask for gpuFraction or migProfile, not both' });
  }
  const nodes = spec.nodes ?? 1;
  if (share && (spec.gpusPerNode !== 1 || nodes !== 1)) {
    ctx.addIssue({
      code: 'custom',
      path: [spec.gpusPerNode !== 1 ? 'gpusPerNode' : 'nodes'],
      message: `${share} is part of ONE GPU: gpusPerNode${spec.nodes === undefined ? '' : ' and nodes'} must be 1`,
    });
  }
  if (spec.gpuMemoryMiB !== undefined && spec.gpuFraction === undefined) {
    ctx.addIssue({ code: 'custom', path: ['gpuMemoryMiB'], message: 'gpuMemoryMiB limits a gpuFraction; set gpuFraction too' });
  }
}

export const JobSpecSchema = z
  .strictObject({
    name: z.string().min(1).max(200).openapi({ example: 'llama-pretrain' }),
    project: slug,
    gpuType: z
      .string()
      .min(1)
      .max(64)
      .default('any')
      .openapi({ description: 'GPU model, e.g. B200 or RTX-PRO-6000; `any` lets the scheduler choose' }),
    gpusPerNode: z.number().int().min(1).max(16).default(1),
    nodes: z.number().int().min(1).max(4096).default(1).openapi({ description: 'More than 1 makes a gang' }),
    command: z
      .array(z.string().max(4096))
      .max(256)
      .optional()
      .openapi({ description: "Host command; with `image`, replaces the image's entrypoint" }),
    image: z
      .string()
      .max(512)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/, 'an OCI image reference')
      .optional()
      .openapi({ description: 'OCI image reference (registry/name:tag or @digest); the job runs in it, never on the host' }),
    args: z
      .array(z.string().max(4096))
      .max(256)
      .optional()
      .openapi({ description: "With `image`: replaces the image's default arguments (CMD)" }),
    workingDir: z
      .string()
      .max(1024)
      .regex(/^\//, 'an absolute path')
      .optional()
      .openapi({ description: 'With `image`: working directory inside the container' }),
    resources: z
      .strictObject({
        memory: byteSize.optional().openapi({ description: 'Memory limit, e.g. 8g or 512Mi; the job fails (oom) above it' }),
        shmSize: byteSize.optional().openapi({ description: 'Size of /dev/shm (NCCL needs more than the default 64m)' }),
        cpus: z.number().min(0.01).max(1024).optional(),
      })
      .optional(),
    registryCredentials: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a secret name')
      .optional()
      .openapi({
        description: 'Organisation secret holding `user:password` for the image registry; given only to the driver that pulls',
      }),
    env: z
      .record(envName, z.string().max(32_768))
      .refine(maxEntries(256), 'at most 256 environment variables')
      .optional()
      .openapi({ description: 'At most 256 variables of up to 32 KiB each; the whole spec is bounded too (64 KiB by default)' }),
    secretEnv: z
      .record(envName, z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a secret name'))
      .refine(maxEntries(256), 'at most 256 secret environment variables')
      .optional()
      .openapi({
        description:
          'Environment variables filled from organisation secrets ({ENV_NAME: secret-name}); decrypted only when the job is handed to its driver',
      }),
    maxRuntimeSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86400)
      .default(86400)
      .openapi({ description: 'Wall-clock limit; the job is stopped as timed-out after it' }),
    priorityClass: z.enum(Object.keys(PRIORITY_CLASSES) as [keyof typeof PRIORITY_CLASSES]).default('normal'),
    labels: z
      .record(labelKey, z.string().max(63))
      .refine(maxEntries(64), 'at most 64 labels')
      .default({})
      .openapi({ description: 'At most 64 labels; keys up to 64 and values up to 63 characters' }),
    datasets: z
      .strictObject({
        reads: z.array(z.string().min(1).max(64)).max(64).default([]),
        writes: z.array(z.string().min(1).max(64)).max(64).default([]),
      })
      .optional()
      .openapi({ description: 'Registered datasets (ids) the job reads and writes; their classes decide where it may run' }),
    simulation: z
      .strictObject({
        durationSeconds: z
          .number()
          .int()
          .min(0)
          .max(365 * 86400)
          .default(600),
        exitCode: z.number().int().min(0).max(255).default(0),
        checkpointEverySeconds: z.number().int().min(1).max(86400).optional(),
        gpuUtilisation: z.number().min(0).max(1).optional().openapi({
          description:
            "The job's GPU utilisation, 0–1: the simulated fleet reports its energy by the power model at it (idle watts + (busy − idle) × utilisation) as the run's measured energy. Absent: not reported (the model counts full utilisation)",
          example: 0.6,
        }),
      })
      .optional()
      .openapi({ description: 'For the simulated fleet: how long the job runs and how it exits' }),
    constraints: JobConstraintsSchema.optional(),
    onNodeFailure: OnNodeFailureSchema.optional(),
    kind: WorkloadKindSchema.optional(),
    session: SessionSpecSchema.optional(),
    service: ServiceJobSchema.optional(),
    gpuFraction: z.number().int().min(1).max(999).optional().openapi({
      description: 'Part of one GPU in milli-GPU (250 = a quarter), time-sliced with jobs of the same organisation only',
    }),
    gpuMemoryMiB: z
      .number()
      .int()
      .min(256)
      .max(1_048_576)
      .optional()
      .openapi({ description: 'With gpuFraction: GPU memory limit in MiB (CUDA_MPS_PINNED_DEVICE_MEM_LIMIT)' }),
    migProfile: z
      .string()
      .regex(/^[1-9][0-9]?g\.[1-9][0-9]{0,3}gb(\+me)?$/, 'a MIG profile such as 1g.23gb')
      .optional()
      .openapi({ description: "A MIG instance of one GPU, one of the GPU type's profiles (e.g. 1g.23gb on B200)" }),
  })
  .superRefine(checkShareFields)
  .superRefine(checkWorkloadSpec)
  .openapi('JobSpec');

export const PendingReasonSchema = z
  .object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() })
  .openapi('PendingReason');
export const SchedulingCycleSchema = z
  .object({
    number: z.number().int().openapi({
      description:
        "The cycle's number: counts up by one per scheduling cycle of the scheduling server process, and starts again at 1 when that process restarts",
    }),
    term: z.number().int().optional().openapi({
      description:
        'Several replicas on PostgreSQL: the fencing token of the scheduler lease the leader held (grows at every change of leader; a number is unique within a term). Absent on SQLite (one process)',
    }),
    startedAt: z.string().openapi({ description: 'When the cycle ran' }),
  })
  // Not a named component: each use (nullable) carries its own description inline.
  .describe('Which scheduling cycle a reason or an explanation describes');
export const PlacementSchema = z
  .object({
    site: z.string(),
    gpuType: z.string(),
    nodes: z.array(
      z.object({
        node: z.string(),
        gpus: z.array(z.number().int()),
        milli: z.number().int().optional().openapi({ description: 'Part of the one GPU listed, in milli-GPU' }),
        migProfile: z.string().optional().openapi({ description: 'A MIG instance of this profile' }),
        memoryMiB: z.number().int().optional(),
      }),
    ),
  })
  .openapi('Placement');

export const JobSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    project: z.string(),
    name: z.string(),
    state: z.enum(JOB_STATES),
    spec: JobSpecSchema,
    placement: PlacementSchema.nullable(),
    pendingReason: PendingReasonSchema.nullable(),
    reasonCycle: SchedulingCycleSchema.nullable().openapi({
      description:
        'The scheduling cycle that gave `pendingReason` (reasons are rebuilt every cycle); null when the job is not queued or no cycle has considered it yet',
    }),
    exitCode: z.number().int().nullable(),
    submittedBy: z.string(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    attempt: z.number().int().openapi({
      description:
        'How many times the job was started (0: never). A requeued job runs again as the next attempt; `GET /v1/jobs/{id}/logs?attempt=K` reads an earlier run',
    }),
    redacted: z
      .array(z.string())
      .optional()
      .openapi({ description: 'Fields withheld from a platform operator without approved lockbox access (spec.command, …)' }),
  })
  .openapi('Job');

export const JobExplanationSchema = z
  .object({
    jobId: z.string(),
    state: z.enum(JOB_STATES),
    pendingReason: PendingReasonSchema.nullable(),
    position: z.number().int().nullable().openapi({ description: 'Place in the scheduling order (1 = next)' }),
    expectedStart: z.string().nullable().openapi({ description: 'From the backfill plan: running jobs’ wall-clock limits' }),
    blockedBy: z.array(z.string()).openapi({ description: 'Jobs whose reservation or run this job waits behind' }),
    counterfactual: z.array(z.string()).openapi({ description: 'What would make it start now' }),
    priority: z
      .object({ total: z.number(), factors: z.record(z.string(), z.number()) })
      .nullable()
      .openapi({ description: 'Multifactor priority and its factors (fair share, age, class, size)' }),
    computedAt: z.string().nullable().openapi({ description: 'When `cycle` ran (kept for compatibility: `cycle.startedAt`)' }),
    cycle: SchedulingCycleSchema.nullable().openapi({
      description:
        'The scheduling cycle that computed position, expectedStart, blockedBy, counterfactual and priority (rebuilt every `explainIntervalSeconds`, not every cycle); null before the first',
    }),
    reasonCycle: SchedulingCycleSchema.nullable().openapi({
      description:
        'The scheduling cycle that gave `pendingReason`: the newest one, so it may be newer than `cycle`; null when the job is not queued or no cycle has considered it yet',
    }),
    stale: z.boolean().openapi({
      description:
        'True when the explanation predates the newest pending reason (`reasonCycle` is newer than `cycle`): the position, expected start and blockers describe the older cycle',
    }),
  })
  .openapi('JobExplanation');

export const JobEventSchema = z
  .object({
    id: z.number().int(),
    jobId: z.string(),
    at: z.string(),
    type: z.string(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).nullable(),
    redacted: z.array(z.string()).optional().openapi({
      description:
        "Withheld from a platform operator without the tenant's consent (lockbox read-spec): message (replaced by a system sentence) and data",
    }),
  })
  .openapi('JobEvent');

// ---------- fleet ----------
export const SiteSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    city: z.string(),
    country: z.string(),
    certifications: z.array(z.string()),
    gpus: z.array(z.object({ gpuType: z.string(), total: z.number(), allocated: z.number(), free: z.number() })),
  })
  .openapi('SiteSummary');
export const FleetSummarySchema = z
  .object({
    name: z.string(),
    totalGpus: z.number(),
    allocatedGpus: z.number(),
    nodes: z.number(),
    gpuTypes: z.array(z.string()),
    sites: z.array(SiteSummarySchema),
  })
  .openapi('FleetSummary');
export const NodeSchema = z
  .object({
    id: z.string(),
    site: z.string(),
    unit: z.string(),
    nodeType: z.string(),
    gpuType: z.string(),
    gpus: z.number(),
    state: z.enum(['up', 'draining', 'down']),
    freeGpus: z.array(z.number()),
    jobs: z.array(z.string()),
    migGpus: z.array(z.number()).openapi({
      description: 'GPU indexes in MIG mode (node state: they stay in MIG mode until re-partitioned back to whole)',
    }),
  })
  .openapi('Node');
export const NodeEventSchema = z
  .object({
    id: z.number().int(),
    at: z.string(),
    type: z
      .string()
      .openapi({ description: '`gpu_repartitioned` (a GPU switched whole ↔ MIG) or `state_changed` (drain/undrain/down/up)' }),
    reason: z
      .string()
      .nullable()
      .openapi({ description: '`mig_repartition` for a re-partition; the given reason for a state change' }),
    message: z.string(),
    actor: z.string(),
    data: z.record(z.string(), z.unknown()).nullable().openapi({
      description: 'gpu_repartitioned: { gpu, from, to, job }; state_changed: { from, to, source }',
    }),
  })
  .openapi('NodeEvent');

// ---------- audit ----------
export const AuditRecordSchema = z
  .object({
    id: z.number().int(),
    at: z.string(),
    actor: z.string(),
    org: z.string().nullable(),
    action: z.string(),
    objectType: z.string(),
    objectId: z.string(),
    before: z.unknown().nullable(),
    after: z.unknown().nullable(),
    requestId: z.string().nullable(),
    redacted: z
      .array(z.string())
      .optional()
      .openapi({ description: 'Fields withheld from operators because the tenant wrote them (see docs/sovereignty-access.md)' }),
  })
  .openapi('AuditRecord');

export type JobSpec = z.infer<typeof JobSpecSchema>;
export type JobSpecInput = z.input<typeof JobSpecSchema>;
export type Job = z.infer<typeof JobSchema>;
export type JobEvent = z.infer<typeof JobEventSchema>;
export type JobExplanation = z.infer<typeof JobExplanationSchema>;
export type SchedulingCycleView = z.infer<typeof SchedulingCycleSchema>;
export type Org = z.infer<typeof OrgSchema>;
export type Project = z.infer<typeof ProjectSchema>;
export type User = z.infer<typeof UserSchema>;
export type TokenInfo = z.infer<typeof TokenInfoSchema>;
export type FleetSummary = z.infer<typeof FleetSummarySchema>;
export type NodeInfo = z.infer<typeof NodeSchema>;
export type NodeEventInfo = z.infer<typeof NodeEventSchema>;
export type AuditRecord = z.infer<typeof AuditRecordSchema>;
export type Role = (typeof ROLES)[number];
export type OrgKind = (typeof ORG_KINDS)[number];
