/** API schemas of keys, secrets, restriction and erasure (kept apart from the shared schemas.ts). */
import { z } from '@hono/zod-openapi';

export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const secretName = z.string().regex(SECRET_NAME, 'letters, digits, dots, dashes and underscores, up to 128 characters');
/** 64 KiB: registry credentials and keys, not files. */
const secretValue = z.string().min(1).max(65_536).openapi({ description: 'Write-only: stored encrypted, never returned' });

export const SecretCreateSchema = z
  .strictObject({
    name: secretName.openapi({ example: 'registry-token' }),
    value: secretValue,
    description: z.string().max(500).optional(),
  })
  .openapi('SecretCreate');
export const SecretPutSchema = z
  .strictObject({ value: secretValue, description: z.string().max(500).optional() })
  .openapi('SecretPut');
export const SecretMetaSchema = z
  .object({
    name: z.string(),
    org: z.string(),
    description: z.string().nullable(),
    version: z.number().int(),
    dataKeyId: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedBy: z.string(),
    updatedAt: z.string(),
  })
  .openapi('SecretMetadata');

export const KekSchema = z
  .object({
    version: z.number().int(),
    provider: z.string(),
    providerKind: z.string(),
    keyId: z.string(),
    state: z.enum(['active', 'retiring', 'destroyed']),
    createdAt: z.string(),
    destroyedAt: z.string().nullable(),
  })
  .openapi('KeyEncryptionKey');
export const KeysStatusSchema = z
  .object({ org: z.string(), providers: z.array(z.string()), keks: z.array(KekSchema) })
  .openapi('OrgKeys');
export const RotateSchema = z
  .strictObject({
    provider: z
      .string()
      .min(1)
      .max(31)
      .optional()
      .openapi({ description: 'Move the KEK to this configured provider (e.g. the customer KMS); default: the current one' }),
  })
  .openapi('KeyRotate');
export const RotateResultSchema = z
  .object({
    org: z.string(),
    version: z.number().int(),
    provider: z.string(),
    keyId: z.string(),
    rewrappedDataKeys: z.number().int(),
    destroyedVersions: z.array(z.number().int()),
  })
  .openapi('KeyRotation');

export const RestrictSchema = z.strictObject({ reason: z.string().min(1).max(500) }).openapi('RestrictProcessing');
export const RestrictionSchema = z
  .object({
    org: z.string(),
    restricted: z.boolean(),
    reason: z.string().nullable(),
    since: z.string().nullable(),
    restrictedBy: z.string().nullable(),
    heldJobs: z.array(z.string()).optional(),
  })
  .openapi('Restriction');

export const ErasureRequestSchema = z
  .strictObject({
    confirm: z.string().openapi({ description: 'The organisation id again: erasure cannot be undone' }),
    reason: z.string().min(1).max(500),
  })
  .openapi('ErasureRequest');
export const ErasureCertificateSchema = z
  .object({
    type: z.literal('gigafab-erasure-certificate-v1'),
    id: z.string(),
    org: z.string(),
    requestedBy: z.string(),
    reason: z.string(),
    erasedAt: z.string(),
    method: z.string(),
    keysDestroyed: z.array(
      z.object({ version: z.number().int(), provider: z.string(), keyId: z.string(), stillHeldByProvider: z.boolean() }),
    ),
    dataKeysUnreadable: z.number().int(),
    secretsUnreadable: z.number().int(),
    usersPseudonymised: z.number().int(),
    tokensRevoked: z.number().int(),
    jobsStopped: z.array(z.string()),
    auditChain: z.string(),
    tenantData: z
      .object({ fields: z.array(z.string()), jobs: z.number().int(), checkpointLabels: z.number().int(), how: z.string() })
      .optional()
      .openapi({ description: 'Tenant-written text that was sealed under the organisation data key and is now unreadable' }),
    remains: z.array(z.string()).optional().openapi({ description: 'What stays readable after the erasure, and why' }),
    jobOutput: z.string().optional().openapi({ description: "What happened to job output on the drivers' disks" }),
    stateDirectories: z.array(z.string()).optional().openapi({
      description:
        "Datasets that were sessions' state datasets: their state directories on the local driver's disks are removed (audited as dataset.state-removed; a session still stopping first ends)",
    }),
  })
  .openapi('ErasureCertificate');

export type SecretMeta = z.infer<typeof SecretMetaSchema>;
export type KeysStatus = z.infer<typeof KeysStatusSchema>;
export type RotateResult = z.infer<typeof RotateResultSchema>;
export type Restriction = z.infer<typeof RestrictionSchema>;
export type ErasureCertificateBody = z.infer<typeof ErasureCertificateSchema>;
