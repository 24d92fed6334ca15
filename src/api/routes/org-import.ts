/**
 * POST /v1/orgs/import: an operator imports an organisation from another installation's archive
 * (`gigafab org export` there, `gigafab org import` here; src/server/tenancy/org-import.ts). The
 * archive travels as a string in a JSON body under its own, larger body limit
 * (`body.maxImportBytes`, default 64 MiB; app.ts) instead of the API's 1 MiB.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const OrgImportSchema = z
  .strictObject({
    archive: z.string().min(1).openapi({ description: 'The archive (JSON Lines, format gigafab-org-archive) as one string' }),
    keyId: z
      .string()
      .regex(/^[0-9a-f]{16}$/)
      .optional()
      .openapi({ description: 'The signing key id the archive’s audit slice must carry (published by the old operator)' }),
    adminUser: z.string().min(1).max(64).optional().openapi({ description: 'An imported admin who gets a token at once' }),
    adminTokenSha256: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: 'SHA-256 of that admin’s new token (`gigafab token generate` on the admin’s side)' }),
  })
  .openapi('OrgImport');

const OrgImportResultSchema = z
  .object({
    org: z.string(),
    importId: z.number(),
    archiveSha256: z.string(),
    projects: z.number(),
    users: z.number(),
    jobs: z.object({
      imported: z.number(),
      stoppedAtImport: z.number().openapi({ description: 'Queued or running at the export: imported as cancelled' }),
      ids: z.record(z.string(), z.string()).openapi({ description: 'Old job id → new job id' }),
    }),
    quotasSkipped: z.array(z.string()),
    datasetsNotImported: z
      .number()
      .openapi({ description: 'Datasets of the archive not registered here (listed in datasets.skipped)' }),
    datasets: z.object({
      imported: z.number(),
      awaitingManifest: z.array(z.string()).openapi({
        description: 'Dataset ids whose manifest the tenant sets again (PATCH /v1/datasets/{id}): archives never hold one',
      }),
      skipped: z.array(z.string()).openapi({ description: '`id: why` (a home site this fleet lacks, an unknown class)' }),
    }),
    kept: z.object({ usage: z.number(), residency: z.number() }).openapi({
      description: 'Usage and residency records kept with their origin (GET /v1/orgs/{org}/imported-records); never billed here',
    }),
    importedAuditHead: z.object({ id: z.number(), hash: z.string() }).nullable(),
  })
  .openapi('OrgImportResult');

export function orgImportRoutes({ tenancy }: Services) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/import',
      operationId: 'importOrg',
      tags: ['tenancy'],
      summary: 'Import an organisation from another installation’s archive (operators; the archive is verified first)',
      description:
        'Refused with 422 `archive_invalid`, naming the first bad record, when the archive does not verify; 409 when the organisation, a project or a user exists here. Jobs are imported as history: never run again (queued or running ones as cancelled). Body limit: `body.maxImportBytes` (default 64 MiB).',
      request: { body: { content: { 'application/json': { schema: OrgImportSchema } }, required: true } },
      responses: {
        201: json(OrgImportResultSchema, 'Imported'),
        ...commonProblems,
        ...conflictProblem,
        ...unprocessableProblem,
      },
    }),
    async (c) => {
      const { archive, ...opts } = c.req.valid('json');
      return c.json(await tenancy.imports.import(requestContext(c), archive, opts), 201);
    },
  );
  return r;
}
