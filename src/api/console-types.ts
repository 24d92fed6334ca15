/**
 * Schemas and types of the read-only routes the web console needs beyond the core API
 * (routes/console-data.ts), plus the derived types the console imports. Kept apart from
 * schemas.ts so the core API's schema file stays the CLI's contract.
 */
import { z } from '@hono/zod-openapi';
import type { FleetHistorySample as ServerHistorySample } from '../model/fleet.js';
import type { JobSchema, JobSpecSchema, QuotaSchema, SiteSummarySchema } from '../model/schemas.js';
import type { ProblemSchema } from './http-schemas.js';

/** Node states in the order of their numeric codes in FleetGpus.nodes.state. */
export const NODE_STATES = ['up', 'draining', 'down'] as const;

const ints = (description: string) => z.array(z.number().int()).openapi({ description });

export const FleetGpusSchema = z
  .object({
    at: z.string().openapi({ description: 'When the snapshot was taken (ISO 8601)' }),
    sites: z.array(z.string()),
    gpuTypes: z.array(z.string()),
    nodeTypes: z.array(z.string()),
    units: z.array(z.string()).openapi({ description: 'Scalable units (leaf-switch groups)' }),
    orgs: z.array(z.string()).openapi({ description: 'Organisations holding GPUs in this snapshot' }),
    nodeStates: z.array(z.enum(NODE_STATES)).openapi({ description: 'Meaning of the codes in nodes.state' }),
    nodes: z
      .object({
        id: z.array(z.string()),
        site: ints('Index into sites'),
        unit: ints('Index into units'),
        nodeType: ints('Index into nodeTypes'),
        gpuType: ints('Index into gpuTypes'),
        gpus: ints('GPUs of the node'),
        state: ints('Index into nodeStates'),
      })
      .openapi({ description: 'One entry per node, in fleet order (column arrays of equal length)' }),
    jobs: z
      .object({ id: z.array(z.string()), org: ints('Index into orgs, -1 when not known yet') })
      .openapi({ description: 'Jobs holding GPUs (column arrays)' }),
    gpuJob: ints('One entry per GPU, nodes in fleet order and GPUs by index within their node: index into jobs, or -1 when free'),
    gpuShareMilli: ints(
      'One entry per GPU, as gpuJob: milli-GPU held by fractional jobs (time-sliced shares, MIG instances), 0 for a free or whole-held GPU; gpuJob names one of its jobs',
    ).optional(),
    gpuMig: ints('One entry per GPU, as gpuJob: 1 when the GPU is in MIG mode (node state, also while idle), else 0').optional(),
  })
  .openapi('FleetGpus');

export const FleetHistorySampleSchema = z
  .object({
    at: z.number().int().openapi({ description: 'Epoch milliseconds' }),
    allocated: ints('Allocated GPUs per series, in the order of `series`'),
    queued: z.number().int(),
    running: z.number().int(),
  })
  .openapi('FleetHistorySample');

export const FleetHistorySchema = z
  .object({
    intervalSeconds: z.number(),
    series: z.array(z.object({ site: z.string(), gpuType: z.string(), total: z.number().int() })),
    samples: z.array(FleetHistorySampleSchema).openapi({ description: 'Stored samples after `since`, oldest first' }),
    current: FleetHistorySampleSchema.openapi({ description: 'A reading taken now (not stored)' }),
  })
  .openapi('FleetHistory');

export const FleetHistoryQuerySchema = z.object({
  since: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .openapi({ description: 'Only samples taken after this epoch-millisecond time' }),
});

export const QueuedJobBriefSchema = z.object({
  id: z.string(),
  org: z.string(),
  project: z.string(),
  gpuType: z.string().nullable(),
  gpus: z.number().openapi({ description: 'GPU-equivalents (a 250 milli-GPU share is 0.25)' }),
  message: z.string(),
});

export const QueueSummarySchema = z
  .object({
    total: z.number().int(),
    groups: z.array(
      z.object({
        code: z.string().openapi({ description: 'Pending reason code; `not_yet_scheduled` before the first cycle' }),
        count: z.number().int(),
        gpus: z.number().openapi({ description: 'GPU-equivalents the group asks for' }),
        jobs: z.array(QueuedJobBriefSchema).openapi({ description: 'The oldest jobs of the group (at most `limit`)' }),
      }),
    ),
  })
  .openapi('QueueSummary');

export type FleetGpus = z.infer<typeof FleetGpusSchema>;
export type FleetHistory = z.infer<typeof FleetHistorySchema>;
export type FleetHistorySample = z.infer<typeof FleetHistorySampleSchema>;
// The schema describes the server's sample type exactly (a compile error if either drifts).
type SameAs<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const historySampleMatches: SameAs<FleetHistorySample, ServerHistorySample> = true;
void historySampleMatches;
export type QueueSummary = z.infer<typeof QueueSummarySchema>;
export type QueuedJobBrief = z.infer<typeof QueuedJobBriefSchema>;
export type NodeStateName = (typeof NODE_STATES)[number];

// Derived from the core schemas for the console (never hand-copied).
export type JobState = z.infer<typeof JobSchema>['state'];
export type PriorityClass = z.infer<typeof JobSpecSchema>['priorityClass'];
export type Quota = z.infer<typeof QuotaSchema>;
export type SiteSummary = z.infer<typeof SiteSummarySchema>;
export type FieldError = NonNullable<z.infer<typeof ProblemSchema>['errors']>[number];
