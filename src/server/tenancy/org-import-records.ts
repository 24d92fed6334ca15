/** The archive's records as the import reads them (org-import.ts): each section's schema, checked record by record. */
import { z } from 'zod';
import { invalid } from '../../model/errors.js';
import { JobSpecSchema, ORG_KINDS, ORG_ROLES } from '../../model/schemas.js';

export const ENDED = new Set(['succeeded', 'failed', 'cancelled', 'timed-out']);

export const OrgRec = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  name: z.string(),
  kind: z.enum(ORG_KINDS),
  createdAt: z.string(),
});
export const ProjectRec = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  org: z.string(),
  name: z.string(),
  createdAt: z.string(),
  quotas: z.array(z.object({ gpuType: z.string(), gpus: z.number().int().min(0) })),
});
export const UserRec = z.object({
  id: z.string().min(1).max(64),
  org: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  role: z.enum(ORG_ROLES),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  disabledAt: z.string().nullable(),
});
export const EventRec = z.object({
  at: z.string(),
  type: z.string(),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).nullable(),
});
export const JobRec = z.object({
  job: z.object({
    id: z.string(),
    org: z.string(),
    project: z.string(),
    state: z.string(),
    spec: JobSpecSchema,
    placement: z.unknown().nullable(),
    exitCode: z.number().int().nullable(),
    submittedBy: z.string(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    attempt: z.number().int().min(0).optional(),
  }),
  events: z.array(EventRec),
});
export const DatasetRec = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  org: z.string(),
  project: z.string(),
  name: z.string().min(1),
  classification: z.string(),
  homeSite: z.string(),
  sizeBytes: z.number().int().min(0),
  checksum: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  hasManifest: z.boolean(),
});
/** A usage or residency record: kept as it came (with the origin of an earlier import, if any). */
export const KeptRec = z.record(z.string(), z.unknown());
export const AuditHeadRec = z.looseObject({ head: z.object({ id: z.number(), hash: z.string() }).nullable().optional() });

/** A dataset as the archive holds it (the API's view of it, without its manifest). */
export type ImportedDataset = z.infer<typeof DatasetRec>;

export const archiveInvalid = (detail: string, path = 'archive') =>
  invalid('archive_invalid', detail, [{ path, message: detail.slice(0, 300) }]);

export function parseSection<T>(schema: z.ZodType<T>, section: string, records: unknown[]): T[] {
  return records.map((r, i) => {
    const parsed = schema.safeParse(r);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw archiveInvalid(
        `record ${i + 1} of section ${section} cannot be imported: ${issue?.path.join('.') || 'record'}: ${issue?.message ?? 'invalid'} — first bad record: ${section} ${i + 1}`,
        `${section}[${i + 1}]`,
      );
    }
    return parsed.data;
  });
}
