/**
 * Schemas of the lockbox API: operator access requests to tenant data, their uses and the
 * after-the-fact notices of break-glass access. Fields follow BSI C5 IAM-07.03/.04 (cause, scope,
 * duration, country of access, retention of derived data, answer deadline).
 */
import { z } from '@hono/zod-openapi';

/** What an operator may do with tenant data once allowed. Other modules add their verbs here. */
export const ACCESS_VERBS = ['read-spec', 'read-logs', 'read-secret', 'read-dataset', 'read-report', 'open-session'] as const;
export type AccessVerb = (typeof ACCESS_VERBS)[number];
/** Kinds of tenant data objects an access request can name. */
export const ACCESS_OBJECT_KINDS = ['job', 'secret', 'dataset', 'report'] as const;
export type AccessObjectKind = (typeof ACCESS_OBJECT_KINDS)[number];

/** Why the operator needs access (after Google Access Transparency's reason codes). */
export const ACCESS_REASONS = ['customer-support', 'incident', 'maintenance', 'legal-request'] as const;

export const ACCESS_STATES = ['pending', 'expired', 'denied', 'active', 'ended'] as const;
export type AccessState = (typeof ACCESS_STATES)[number];

/**
 * `job:812`, `job:*` (every job of the organisation); plural kinds (`jobs:*`) are accepted too.
 * Reports: `report:residency`, `report:processing-record`.
 */
export const OBJECT_REF = /^(job|secret|dataset|report)s?:(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;

const org = z
  .string()
  .min(2)
  .max(63)
  .regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, 'an organisation id')
  .openapi({ example: 'acme' });

export const AccessScopeSchema = z
  .strictObject({
    objects: z
      .array(z.string().regex(OBJECT_REF, 'an object reference like job:812, job:* or dataset:weights'))
      .min(1)
      .max(100)
      .openapi({ example: ['job:812'] }),
    verbs: z
      .array(z.enum(ACCESS_VERBS))
      .min(1)
      .max(ACCESS_VERBS.length)
      .openapi({ example: ['read-logs'] }),
  })
  .openapi('AccessScope');

const country = z
  .string()
  .regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 country code, e.g. DE')
  .openapi({ description: 'Country the access is made from (ISO 3166-1 alpha-2)', example: 'DE' });
const retention = z
  .number()
  .int()
  .min(0)
  .max(3650)
  .openapi({ description: 'Days that derived copies (notes, log excerpts) are kept after the access', example: 30 });

/** Longest window an approval can open: a week. */
export const MAX_ACCESS_SECONDS = 7 * 86400;
/** Break-glass is for emergencies only: at most one hour. */
export const MAX_BREAK_GLASS_SECONDS = 3600;

export const AccessRequestCreateSchema = z
  .strictObject({
    org,
    cause: z.string().min(10).max(2000).openapi({ example: 'ticket 4711: job 812 fails with NCCL timeouts; need its logs' }),
    reasonCode: z.enum(ACCESS_REASONS).default('customer-support'),
    scope: AccessScopeSchema,
    durationSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_ACCESS_SECONDS)
      .openapi({ description: 'How long access lasts once approved', example: 3600 }),
    requesterCountry: country,
    derivedDataRetentionDays: retention,
    approvalDeadline: z.iso
      .datetime({ offset: true })
      .openapi({ description: 'The tenant must answer before this time; after it the request is expired' }),
  })
  .openapi('AccessRequestCreate');

export const BreakGlassCreateSchema = z
  .strictObject({
    org,
    justification: z.string().min(10).max(2000).openapi({ example: 'incident 99: node failure corrupts running jobs' }),
    scope: AccessScopeSchema,
    durationSeconds: z.number().int().min(1).max(MAX_BREAK_GLASS_SECONDS).openapi({ example: 900 }),
    requesterCountry: country,
    derivedDataRetentionDays: retention,
  })
  .openapi('BreakGlassCreate');

export const AccessDecisionSchema = z.strictObject({ comment: z.string().max(2000).optional() }).openapi('AccessDecision');

export const AccessRequestSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    requester: z.string().openapi({ description: 'Pseudonymous id of the operator' }),
    kind: z.enum(['request', 'break-glass']),
    cause: z.string(),
    reasonCode: z.string(),
    scope: AccessScopeSchema,
    durationSeconds: z.number().int(),
    requesterCountry: z.string(),
    derivedDataRetentionDays: z.number().int(),
    approvalDeadline: z.string().nullable(),
    state: z.enum(ACCESS_STATES).openapi({
      description:
        'pending (awaits an org admin), expired (deadline passed unanswered), denied, active (access allowed now), ended (access window over)',
    }),
    decidedBy: z.string().nullable(),
    decidedAt: z.string().nullable(),
    decisionComment: z.string().nullable(),
    accessEndsAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('AccessRequest');

export const AccessUseSchema = z
  .object({
    id: z.string(),
    accessRequest: z.string(),
    org: z.string(),
    actor: z.string(),
    object: z.string(),
    verb: z.string(),
    at: z.string(),
    requestId: z.string().nullable(),
  })
  .openapi('AccessUse');

export const AccessRequestDetailSchema = AccessRequestSchema.extend({ uses: z.array(AccessUseSchema) }).openapi(
  'AccessRequestDetail',
);

export const AccessNotificationSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    accessRequest: z
      .string()
      .nullable()
      .openapi({ description: 'null for identity notices (onboarding, a user disabled by an operator)' }),
    kind: z
      .string()
      .openapi({ description: 'break-glass, onboarding (the first admin was created), identity (an operator acted on a user)' }),
    message: z.string(),
    createdAt: z.string(),
  })
  .openapi('AccessNotification');

export const AccessListQuerySchema = z.object({
  org: z.string().optional(),
  state: z.enum(ACCESS_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export const AccessUseListQuerySchema = z.object({
  org: z.string().optional(),
  accessRequest: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export type AccessScope = z.infer<typeof AccessScopeSchema>;
export type AccessRequestCreate = z.infer<typeof AccessRequestCreateSchema>;
export type BreakGlassCreate = z.infer<typeof BreakGlassCreateSchema>;
export type AccessRequest = z.infer<typeof AccessRequestSchema>;
export type AccessUse = z.infer<typeof AccessUseSchema>;
export type AccessNotification = z.infer<typeof AccessNotificationSchema>;
