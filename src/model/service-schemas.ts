/**
 * API schemas of inference services (issue #14): what a caller writes (ServiceCreate, ServiceUpdate)
 * and reads (Service). A service's replicas are jobs made from its `template` (a part of JobSpec)
 * plus the port and probes here; the replica controller (src/lifecycle/replicas.ts) decides how many.
 */
import { z } from '@hono/zod-openapi';
import { checkShareFields, JobSpecSchema } from './schemas.js';
import { SCALING_DEFAULTS } from './service.js';
import { SPREAD_LABEL_PATTERN } from './spread.js';

const slug = z
  .string()
  .min(2)
  .max(63)
  .regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, 'lower-case letters, digits and dashes, starting with a letter');

export const ProbeSchema = z
  .strictObject({
    path: z.string().max(1024).regex(/^\//, 'a path starting with /').default('/healthz'),
    periodSeconds: z.number().min(0.1).max(300).default(2),
    timeoutSeconds: z.number().min(0.1).max(60).default(1),
    failureThreshold: z.number().int().min(1).max(100).default(3),
  })
  .openapi('Probe');

/**
 * The job fields a replica is made of; name, project, nodes, kind and labels come from the service.
 * Built from JobSpec's field schemas (JobSpecSchema has cross-field refinements, which `pick` refuses).
 */
const job = JobSpecSchema.shape;
export const ReplicaTemplateSchema = z
  .strictObject({
    gpuType: job.gpuType,
    gpusPerNode: job.gpusPerNode,
    command: job.command,
    image: job.image,
    args: job.args,
    workingDir: job.workingDir,
    resources: job.resources,
    env: job.env,
    secretEnv: job.secretEnv,
    registryCredentials: job.registryCredentials,
    priorityClass: job.priorityClass,
    constraints: job.constraints,
    simulation: job.simulation,
    // A replica on part of one GPU (an inference server rarely needs a whole B200): gpusPerNode 1.
    gpuFraction: job.gpuFraction,
    gpuMemoryMiB: job.gpuMemoryMiB,
    migProfile: job.migProfile,
  })
  .superRefine(checkShareFields)
  .openapi('ReplicaTemplate');

const scalingFields = {
  replicas: z.number().int().min(0).max(64).optional().openapi({ description: 'A fixed count (sets min and max)' }),
  minReplicas: z.number().int().min(0).max(64).optional().openapi({ description: '0 allows scale to zero' }),
  maxReplicas: z.number().int().min(1).max(64).optional(),
  targetInFlightPerReplica: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .optional()
    .openapi({
      description: `In-flight requests per replica the autoscaler aims at (default ${SCALING_DEFAULTS.targetInFlightPerReplica})`,
    }),
  scaleDownDelaySeconds: z
    .number()
    .int()
    .min(0)
    .max(86_400)
    .optional()
    .openapi({
      description: `Load must stay low this long before a scale-down (default ${SCALING_DEFAULTS.scaleDownDelaySeconds})`,
    }),
  scaleToZeroAfterSeconds: z
    .number()
    .int()
    .min(1)
    .max(86_400)
    .optional()
    .openapi({
      description: `With minReplicas 0: idle time before the last replica stops (default ${SCALING_DEFAULTS.scaleToZeroAfterSeconds})`,
    }),
};

const boundsOk = (s: { replicas?: number; minReplicas?: number; maxReplicas?: number }) =>
  s.replicas === undefined || (s.minReplicas === undefined && s.maxReplicas === undefined);
const minBelowMax = (s: { minReplicas?: number; maxReplicas?: number }) =>
  s.minReplicas === undefined || s.maxReplicas === undefined || s.minReplicas <= s.maxReplicas;

export const SERVICE_VISIBILITIES = ['private', 'public'] as const;

/** How a service's replicas spread across nodes (the scheduler's spread groups). */
export const SERVICE_SPREADS = ['preferred', 'required', 'none'] as const;
const spreadField = z.enum(SERVICE_SPREADS).openapi({
  description:
    'Replicas on distinct nodes: `preferred` (default) shares a node only when no other node fits, `required` makes a replica wait (pending reason `spread`) instead, `none` packs them like any jobs. A change is a new revision (replicas are re-placed by a rolling update)',
});

/** The failure domain a service's replicas are kept apart in (the scheduler's SpreadDomain). */
export const SERVICE_SPREAD_DOMAINS = ['node', 'unit', 'site'] as const;
const spreadOverField = z
  .union([
    z.enum(SERVICE_SPREAD_DOMAINS),
    z.string().regex(SPREAD_LABEL_PATTERN, 'spreadOver must be node, unit, site or label:<node-label key>') as z.ZodType<
      `label:${string}`,
      string
    >,
  ])
  .openapi({
    description:
      'What `spread` keeps replicas apart by: `node` (default), `unit` (a scalable unit: rack / leaf-switch group — no two replicas under one leaf switch), `site` (no two replicas in one data centre; residency still applies) or `label:<key>` (no two replicas on nodes with the same value of a node label the fleet file declares, e.g. `label:power-domain`; a node without the label is a domain of its own). Absent: node. A change is a new revision',
    example: 'unit',
  });
const overNeedsSpread = (s: { spread?: string; spreadOver?: string }) =>
  s.spreadOver === undefined || s.spreadOver === 'node' || s.spread !== 'none';

export const ServiceCreateSchema = z
  .strictObject({
    name: slug.openapi({ example: 'llm-chat' }),
    project: slug,
    template: ReplicaTemplateSchema,
    port: z.number().int().min(1).max(65_535).optional().openapi({
      description: 'With an image: the port the replica listens on inside it. A host process listens on $GIGAFAB_PORT',
    }),
    readiness: ProbeSchema.default({ path: '/healthz', periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 1 }),
    liveness: ProbeSchema.default({ path: '/healthz', periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 }),
    visibility: z.enum(SERVICE_VISIBILITIES).default('private'),
    spread: spreadField.default('preferred'),
    spreadOver: spreadOverField.optional(),
    ...scalingFields,
  })
  .refine(boundsOk, { message: 'give replicas, or minReplicas/maxReplicas, not both', path: ['replicas'] })
  .refine(minBelowMax, { message: 'minReplicas must not exceed maxReplicas', path: ['minReplicas'] })
  .refine(overNeedsSpread, { message: 'spreadOver needs spread preferred or required, not none', path: ['spreadOver'] })
  .openapi('ServiceCreate');
export type ServiceCreate = z.infer<typeof ServiceCreateSchema>;

export const ServiceUpdateSchema = z
  .strictObject({
    template: ReplicaTemplateSchema.optional().openapi({ description: 'A new replica spec: a rolling update' }),
    port: z.number().int().min(1).max(65_535).optional(),
    readiness: ProbeSchema.optional(),
    liveness: ProbeSchema.optional(),
    visibility: z.enum(SERVICE_VISIBILITIES).optional(),
    spread: spreadField.optional(),
    spreadOver: spreadOverField.optional(),
    ...scalingFields,
  })
  .refine(boundsOk, { message: 'give replicas, or minReplicas/maxReplicas, not both', path: ['replicas'] })
  .refine(minBelowMax, { message: 'minReplicas must not exceed maxReplicas', path: ['minReplicas'] })
  .openapi('ServiceUpdate');
export type ServiceUpdate = z.infer<typeof ServiceUpdateSchema>;

export const ScalingSchema = z
  .object({
    minReplicas: z.number().int(),
    maxReplicas: z.number().int(),
    targetInFlightPerReplica: z.number().int(),
    scaleDownDelaySeconds: z.number().int(),
    scaleToZeroAfterSeconds: z.number().int(),
  })
  .openapi('ServiceScaling');

/** The stored spec of one revision: what a PATCH changes (a template, port or probe change makes a new revision). */
export const ServiceSpecSchema = z
  .object({
    template: ReplicaTemplateSchema,
    port: z.number().int().optional(),
    readiness: ProbeSchema,
    liveness: ProbeSchema,
    spread: spreadField.default('preferred'),
    spreadOver: z
      .union([z.enum(['unit', 'site']), z.string().regex(SPREAD_LABEL_PATTERN) as z.ZodType<`label:${string}`, string>])
      .optional()
      .openapi({ description: 'What replicas are kept apart by; absent: node' }),
  })
  .openapi('ServiceSpec');
export type ServiceSpec = z.infer<typeof ServiceSpecSchema>;

export const ReplicaSchema = z
  .object({
    jobId: z.string(),
    revision: z.number().int(),
    phase: z.enum(['starting', 'ready', 'unhealthy', 'draining']),
    endpoint: z.string().nullable().openapi({ description: 'host:port while running' }),
  })
  .openapi('Replica');

export const ServiceTrafficSchema = z
  .object({
    requests: z.number().int().openapi({ description: 'Requests proxied since the control plane started' }),
    errors: z.number().int().openapi({ description: 'Of those, answered 5xx or not at all' }),
    requestsPerSecond: z.number().openapi({ description: 'Over the last 10 s' }),
    latencyP50Ms: z.number().nullable(),
    latencyP99Ms: z.number().nullable(),
    inFlight: z.number().int(),
    queued: z.number().int().openapi({ description: 'Requests held in the cold-start queue' }),
  })
  .openapi('ServiceTraffic');

export const ServiceSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    project: z.string(),
    name: z.string(),
    visibility: z.enum(SERVICE_VISIBILITIES),
    revision: z.number().int().openapi({ description: 'Bumped by every spec change; replicas of older revisions are rolled' }),
    spec: ServiceSpecSchema,
    scaling: ScalingSchema,
    desiredReplicas: z.number().int(),
    replicas: z.array(ReplicaSchema),
    traffic: ServiceTrafficSchema,
    url: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: 'Where the service answers: its host on the workload proxy (null: the server runs no proxy)' }),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    redacted: z
      .array(z.string())
      .optional()
      .openapi({ description: "Fields withheld from a platform operator (the template's command, image, environment)" }),
  })
  .openapi('Service');
export type Service = z.infer<typeof ServiceSchema>;

export const ServiceListSchema = z.object({ items: z.array(ServiceSchema) }).openapi('ServiceList');

export const ServiceApiKeyCreateSchema = z
  .strictObject({ name: z.string().min(1).max(100).openapi({ example: 'partner-portal' }) })
  .openapi('ServiceApiKeyCreate');
export const ServiceApiKeySchema = z
  .object({
    id: z.string(),
    serviceId: z.string(),
    name: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .openapi('ServiceApiKey');
export const IssuedServiceApiKeySchema = ServiceApiKeySchema.extend({
  key: z.string().openapi({ description: 'Shown once; only its SHA-256 is stored. Send it as `Authorization: Bearer <key>`' }),
}).openapi('IssuedServiceApiKey');
export const ServiceApiKeyListSchema = z.object({ items: z.array(ServiceApiKeySchema) }).openapi('ServiceApiKeyList');
export type ServiceApiKey = z.infer<typeof ServiceApiKeySchema>;
