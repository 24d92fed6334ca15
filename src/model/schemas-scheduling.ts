/**
 * API schemas of scheduling operations: job placement constraints and node-failure policy,
 * advance reservations, maintenance windows, checkpoints and node states.
 */
import { z } from '@hono/zod-openapi';

const name = z.string().min(1).max(63);
const labelValue = z.string().max(63);

export const JobConstraintsSchema = z
  .strictObject({
    requiredSites: z.array(name).max(64).optional().openapi({ description: 'Run only in these sites' }),
    forbiddenSites: z.array(name).max(64).optional().openapi({ description: 'Never run in these sites' }),
    requiredCertifications: z
      .array(name)
      .max(32)
      .optional()
      .openapi({ description: 'Only sites holding every one of these certifications (e.g. BSI-C5)' }),
    nodeLabels: z
      .record(name, labelValue)
      .refine((o) => Object.keys(o).length <= 64, 'at most 64 node labels')
      .optional()
      .openapi({ description: 'Only nodes carrying these labels (every node of a site and GPU type must match)' }),
    requireSingleUnit: z
      .boolean()
      .optional()
      .openapi({ description: 'A gang must fit in one scalable unit (leaf switch), or wait' }),
  })
  .openapi('JobConstraints');

export const ON_NODE_FAILURE = ['requeue', 'fail'] as const;
export const OnNodeFailureSchema = z
  .enum(ON_NODE_FAILURE)
  .openapi({ description: 'When a node of the job goes down: requeue it (default) or fail it' });

const instant = z.iso.datetime({ offset: true }).openapi({ example: '2026-12-01T08:00:00Z' });

export const ReservationCreateSchema = z
  .strictObject({
    org: z.string().min(1).max(63).openapi({ example: 'bund-ki' }),
    gpuType: z.string().min(1).max(64).openapi({ example: 'B200' }),
    gpus: z.number().int().min(1).max(1_000_000).openapi({ description: 'GPUs; above one node, a multiple of the node size' }),
    site: z.string().min(1).max(63).optional().openapi({ description: 'Only in this site (default: any one site)' }),
    start: instant,
    end: instant,
    note: z.string().max(500).optional(),
  })
  .openapi('ReservationCreate');

export const ReservationSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    gpuType: z.string(),
    gpus: z.number().int(),
    nodes: z.number().int(),
    gpusPerNode: z.number().int(),
    site: z.string().nullable(),
    start: z.string(),
    end: z.string(),
    note: z.string().nullable(),
    createdBy: z.string(),
    createdAt: z.string(),
    status: z
      .enum(['scheduled', 'active', 'ended'])
      .openapi({ description: 'scheduled: starts later; active: between start and end; ended' }),
    held: z
      .object({ site: z.string(), nodes: z.array(z.string()) })
      .nullable()
      .openapi({ description: 'Where the last scheduling cycle placed it (null: not placeable right now, or ended)' }),
  })
  .openapi('Reservation');

export const MaintenanceCreateSchema = z
  .strictObject({
    nodes: z.array(z.string().min(1).max(128)).min(1).max(100_000).optional().openapi({ description: 'Node ids' }),
    site: z.string().min(1).max(63).optional().openapi({ description: 'Every node of this site' }),
    start: instant,
    end: instant,
    reason: z.string().min(1).max(500),
  })
  .openapi('MaintenanceCreate');

export const MaintenanceSchema = z
  .object({
    id: z.string(),
    site: z.string().nullable(),
    nodes: z.array(z.string()),
    start: z.string(),
    end: z.string(),
    reason: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
  })
  .openapi('MaintenanceWindow');

export const CheckpointCreateSchema = z
  .strictObject({
    step: z.number().int().min(0).optional().openapi({ description: 'Training step of the checkpoint' }),
    label: z.string().min(1).max(200).optional().openapi({ example: 's3://ckpt/run-7/step-1200' }),
  })
  .openapi('CheckpointCreate');

export const NodeStateSetSchema = z
  .strictObject({
    state: z.enum(['up', 'draining', 'down']),
    reason: z.string().min(1).max(500).optional(),
  })
  .openapi('NodeStateSet');

export type JobConstraints = z.infer<typeof JobConstraintsSchema>;
export type OnNodeFailure = z.infer<typeof OnNodeFailureSchema>;
export type ReservationCreate = z.infer<typeof ReservationCreateSchema>;
export type Reservation = z.infer<typeof ReservationSchema>;
export type MaintenanceCreate = z.infer<typeof MaintenanceCreateSchema>;
export type MaintenanceWindowView = z.infer<typeof MaintenanceSchema>;
export type CheckpointCreate = z.infer<typeof CheckpointCreateSchema>;
