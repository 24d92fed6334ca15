/**
 * HTTP-only schemas: problem details (RFC 9457), pages and list queries. The domain's schemas live
 * in src/model/schemas.ts.
 */
import { z } from '@hono/zod-openapi';
import { JOB_STATES } from '../model/job.js';

/** RFC 9457 problem details. */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://gigafab.dev/problems/validation_failed' }),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: 'Stable machine-readable error code' }),
    detail: z.string().openapi({ description: 'Human sentence' }),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');
export type Problem = z.infer<typeof ProblemSchema>;

export const JobListQuerySchema = z.object({
  state: z.enum(JOB_STATES).optional(),
  project: z.string().optional(),
  label: z.string().optional().openapi({ description: 'key=value' }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().optional().openapi({ description: 'Opaque cursor from a previous page (nextCursor)' }),
});

export const page = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);

export const NodeStateChangeSchema = z.strictObject({ reason: z.string().min(1).max(500).optional() }).openapi('NodeStateChange');
