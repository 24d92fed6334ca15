/**
 * Data residency: site jurisdictions and attestations, versioned residency policies of organisations
 * and projects, datasets, a job's residency evaluation and evidence, the residency report and the
 * record of processing (GDPR Art. 30(2)).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { canSeeOrg } from '../../model/authz.js';
import { notFound } from '../../model/errors.js';
import { MAX_MANIFEST_BYTES } from '../../sovereignty/dataset-manifests.js';
import { processingRecord, reportCsv, residencyReport } from '../../sovereignty/reports.js';
import { DATA_CLASSES, REGIONS } from '../../sovereignty/residency.js';
import { TenantData } from '../../sovereignty/tenant-data.js';
import { json, newRouter, type Services } from '../context.js';
import { page } from '../http-schemas.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const param = (name: string, example: string) => z.string().openapi({ param: { name, in: 'path' }, example });
const country = z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 country code');

const AttestationSchema = z
  .object({
    name: z.string(),
    validFrom: z.string(),
    validUntil: z.string(),
    issuer: z.string().optional(),
    current: z.boolean(),
  })
  .openapi('SiteAttestation');
const SiteResidencySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    city: z.string(),
    country: z.string(),
    countryName: z.string(),
    eu: z.boolean(),
    eea: z.boolean(),
    adequacy: z.boolean(),
    operator: z.object({ name: z.string(), establishment: z.string() }).nullable(),
    attestations: z.array(AttestationSchema),
  })
  .openapi('SiteResidency');

const RulesSchema = z
  .strictObject({
    countries: z.array(country).max(60).optional().openapi({ description: 'Allowed countries' }),
    regions: z.array(z.enum(REGIONS)).max(3).optional().openapi({ description: 'Allowed regions: EU, EEA, ADEQUATE' }),
    attestations: z
      .array(z.string().min(1).max(100))
      .max(10)
      .optional()
      .openapi({ description: 'Attestations a site must hold, current at placement', example: ['BSI C5 Type 2'] }),
    operatorEstablishment: z
      .array(country)
      .max(30)
      .optional()
      .openapi({ description: "Countries of the operator's establishment" }),
  })
  .openapi('ResidencyRules');
const PolicyInputSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes')
      .openapi({ example: 'eu-de-only' }),
    rules: RulesSchema,
    dataClasses: z.array(z.enum(DATA_CLASSES)).max(5).openapi({ description: 'Data classes this scope may process' }),
  })
  .openapi('ResidencyPolicyInput');
const PolicySchema = z
  .object({
    scope: z.enum(['org', 'project']),
    scopeId: z.string(),
    name: z.string(),
    version: z.number().int().openapi({ description: '0: no policy set yet' }),
    rules: RulesSchema,
    dataClasses: z.array(z.enum(DATA_CLASSES)),
    createdAt: z.string().nullable(),
    createdBy: z.string().nullable(),
    sitesBefore: z.array(z.string()).openapi({ description: 'Sites the scope allowed before this version' }),
    sitesAfter: z.array(z.string()).openapi({ description: 'Sites the scope allows with this version' }),
    sitesChanged: z.boolean().openapi({ description: 'This version moved where data may be processed' }),
  })
  .openapi('ResidencyPolicy');

const ManifestSchema = z
  .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a field name: letters, digits, underscores'), z.string().max(8192))
  .refine((m) => Object.keys(m).length <= 32, 'at most 32 fields')
  .openapi('DatasetManifest', {
    description: `How jobs reach the dataset (tenant data, at most ${MAX_MANIFEST_BYTES} bytes as JSON). Write-only: stored encrypted under the dataset's data key, never returned; delivered to jobs that declare the dataset as the environment variable GIGAFAB_DATASET_<NAME> (JSON).`,
    example: { uri: 's3://bucket/scans/', accessKeyId: 'AKIA...', secretAccessKey: '...' },
  });

const DatasetCreateSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'lower-case letters, digits, dots, dashes, underscores')
      .openapi({ example: 'patient-scans-2026' }),
    classification: z.enum(DATA_CLASSES),
    homeSite: z.string().min(1).max(63).openapi({ example: 'muc1' }),
    sizeBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    checksum: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits>')
      .openapi({ example: `sha256:${'0'.repeat(64)}` }),
    manifest: ManifestSchema.optional(),
  })
  .openapi('DatasetCreate');
const DatasetPatchSchema = z
  .strictObject({
    sizeBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    checksum: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits>')
      .optional(),
    manifest: ManifestSchema.optional().openapi({
      description: 'Replaces the manifest (a new data key; the old one is shredded)',
    }),
  })
  .openapi('DatasetPatch');
const DatasetSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    project: z.string(),
    name: z.string().optional().openapi({ description: 'Withheld from operators without read-dataset access' }),
    classification: z.enum(DATA_CLASSES),
    homeSite: z.string(),
    sizeBytes: z.number().int(),
    checksum: z.string().optional().openapi({ description: 'Withheld from operators without read-dataset access' }),
    createdAt: z.string(),
    createdBy: z.string(),
    hasManifest: z.boolean().openapi({ description: 'An encrypted manifest is stored (its content is never returned)' }),
    redacted: z.array(z.string()).optional().openapi({ description: 'Fields withheld from an operator (lockbox)' }),
  })
  .openapi('Dataset');

const ExclusionSchema = z.object({ site: z.string(), rule: z.string(), reason: z.string() });
const RuleSchema = z.object({ id: z.string(), source: z.string(), requirement: z.string() });
const JobResidencySchema = z
  .object({
    jobId: z.string(),
    state: z.string(),
    evaluation: z.object({
      allowedSites: z.array(z.string()),
      excluded: z.array(ExclusionSchema),
      everAllowedSites: z.array(z.string()),
      rules: z.array(RuleSchema),
      policyVersions: z.record(z.string(), z.unknown()),
      dataClasses: z.array(z.string()),
      waitingReason: z.string().nullable(),
      narrowingRule: z.string().nullable(),
      evaluatedAt: z.string(),
    }),
    placements: z.array(z.record(z.string(), z.unknown())).openapi({ description: 'Evidence recorded with each start' }),
    flags: z.array(z.object({ at: z.string(), message: z.string() })),
  })
  .openapi('JobResidency');

const ReportRowSchema = z
  .object({
    jobId: z.string(),
    jobName: z.string(),
    project: z.string(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    state: z.string(),
    site: z.string(),
    city: z.string(),
    country: z.string(),
    eu: z.boolean(),
    eea: z.boolean(),
    operator: z.string().nullable(),
    attestations: z.array(z.string()),
    dataClasses: z.array(z.string()),
    orgPolicy: z.string().nullable(),
    projectPolicy: z.string().nullable(),
    rulesEvaluated: z.number().int(),
    summary: z.string(),
  })
  .openapi('ResidencyReportRow');
const ReportSchema = z
  .object({ org: z.string(), from: z.string(), to: z.string(), generatedAt: z.string(), items: z.array(ReportRowSchema) })
  .openapi('ResidencyReport');
const RecordOfProcessingSchema = z.record(z.string(), z.unknown()).openapi('RecordOfProcessing', {
  description:
    'controller, processors, categoriesOfProcessing, dataClasses, residencyPolicies, sitesUsed, transfersOutsideEea, retention, technicalAndOrganisationalMeasures',
});

export function residencyRoutes({ residency, lockbox, datasetManifests, tenancy }: Services) {
  const r = newRouter();
  const store = residency.store;
  const tenantData = new TenantData(store, lockbox, datasetManifests);

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/residency/sites',
      operationId: 'listResidencySites',
      tags: ['residency'],
      summary: "Every site's jurisdiction (from the ISO country table), operator and attestations with their status now",
      responses: { 200: json(z.object({ items: z.array(SiteResidencySchema) }), 'Sites'), ...commonProblems },
    }),
    (c) => c.json({ items: residency.siteViews() }, 200),
  );

  for (const scope of ['org', 'project'] as const) {
    const base = scope === 'org' ? '/v1/orgs/{id}/residency-policy' : '/v1/projects/{id}/residency-policy';
    const example = scope === 'org' ? 'robotics-gmbh' : 'robotics';
    r.openapi(
      createRoute({
        method: 'get',
        path: base,
        operationId: `get${scope === 'org' ? 'Org' : 'Project'}ResidencyPolicy`,
        tags: ['residency'],
        summary: `The ${scope === 'org' ? "organisation's" : "project's"} residency policy in force (version 0: none)`,
        request: { params: z.object({ id: param('id', example) }) },
        responses: { 200: json(PolicySchema, 'The policy'), ...commonProblems },
      }),
      async (c) => c.json(await residency.getPolicy(c.get('principal'), scope, c.req.valid('param').id), 200),
    );
    r.openapi(
      createRoute({
        method: 'put',
        path: base,
        operationId: `set${scope === 'org' ? 'Org' : 'Project'}ResidencyPolicy`,
        tags: ['residency'],
        summary: `Set the ${scope === 'org' ? "organisation's" : "project's"} residency policy: a new version (org admin)`,
        description:
          scope === 'project'
            ? "A project's policy may only be stricter than its organisation's: 422 policy_looser_than_org names the rule."
            : 'Every version is kept; a version that changes the allowed sites is recorded in the audit log.',
        request: {
          params: z.object({ id: param('id', example) }),
          body: { content: { 'application/json': { schema: PolicyInputSchema } }, required: true },
        },
        responses: { 200: json(PolicySchema, 'The new version'), ...commonProblems, ...conflictProblem, ...unprocessableProblem },
      }),
      async (c) =>
        c.json(
          await residency.setPolicy(c.get('principal'), scope, c.req.valid('param').id, c.req.valid('json'), c.get('requestId')),
          200,
        ),
    );
    r.openapi(
      createRoute({
        method: 'get',
        path: `${base}/versions`,
        operationId: `list${scope === 'org' ? 'Org' : 'Project'}ResidencyPolicyVersions`,
        tags: ['residency'],
        summary: 'Every version of the policy, newest first, with the sites allowed before and after each',
        request: { params: z.object({ id: param('id', example) }) },
        responses: {
          200: json(page(PolicySchema, `${scope === 'org' ? 'Org' : 'Project'}ResidencyPolicyPage`), 'Versions'),
          ...commonProblems,
        },
      }),
      async (c) =>
        c.json(
          { items: await residency.listPolicyVersions(c.get('principal'), scope, c.req.valid('param').id), nextCursor: null },
          200,
        ),
    );
  }

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/projects/{project}/datasets',
      operationId: 'createDataset',
      tags: ['residency'],
      summary: 'Register a dataset (its class must be declared by the policies; its home site must be allowed)',
      request: {
        params: z.object({ project: param('project', 'robotics') }),
        body: { content: { 'application/json': { schema: DatasetCreateSchema } }, required: true },
      },
      responses: { 201: json(DatasetSchema, 'Registered'), ...commonProblems, ...conflictProblem, ...unprocessableProblem },
    }),
    async (c) => {
      const { manifest, ...input } = c.req.valid('json');
      const p = c.get('principal');
      const project = c.req.valid('param').project;
      const rec = datasetManifests
        ? await datasetManifests.create(p, project, input, manifest, c.get('requestId'))
        : await residency.createDataset(p, project, input, c.get('requestId'));
      return c.json(tenantData.ownView(rec), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/datasets',
      operationId: 'listDatasets',
      tags: ['residency'],
      summary: 'List visible datasets',
      request: { query: z.object({ project: z.string().optional() }) },
      responses: { 200: json(page(DatasetSchema, 'DatasetPage'), 'Datasets'), ...commonProblems },
    }),
    async (c) =>
      c.json(
        {
          items: (await residency.listDatasets(c.get('principal'), c.req.valid('query').project)).map((d) =>
            tenantData.listView(c.get('principal'), d),
          ),
          nextCursor: null,
        },
        200,
      ),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/datasets/{id}',
      operationId: 'getDataset',
      tags: ['residency'],
      summary: 'Show a dataset',
      description:
        'Operators see name and checksum only with an active lockbox access (read-dataset on dataset:{id}); the manifest is never returned.',
      request: { params: z.object({ id: param('id', 'ds_3f9a2b1c4d5e') }) },
      responses: { 200: json(DatasetSchema, 'The dataset'), ...commonProblems },
    }),
    async (c) => {
      const p = c.get('principal');
      return c.json(await tenantData.datasetView(p, residency.getDataset(p, c.req.valid('param').id), c.get('requestId')), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/datasets/{id}',
      operationId: 'updateDataset',
      tags: ['residency'],
      summary: "Update a dataset's size or checksum (its class and home site are fixed: register a new dataset)",
      request: {
        params: z.object({ id: param('id', 'ds_3f9a2b1c4d5e') }),
        body: { content: { 'application/json': { schema: DatasetPatchSchema } }, required: true },
      },
      responses: { 200: json(DatasetSchema, 'The dataset'), ...commonProblems },
    }),
    async (c) => {
      const { manifest, ...patch } = c.req.valid('json');
      const p = c.get('principal');
      const id = c.req.valid('param').id;
      const rec = datasetManifests
        ? await datasetManifests.update(p, id, patch, manifest, c.get('requestId'))
        : await residency.updateDataset(p, id, patch, c.get('requestId'));
      return c.json(tenantData.ownView(rec), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/datasets/{id}',
      operationId: 'deleteDataset',
      tags: ['residency'],
      summary: 'Delete (erase) a dataset: its manifest key is crypto-shredded, an erasure certificate goes to the audit log',
      description:
        "Refused with 409 `dataset_in_use` while a session that has not ended keeps its state in the dataset. A dataset that was a session's state dataset also has the state directory the `local` driver made for it removed (audited as `dataset.state-removed`).",
      request: { params: z.object({ id: param('id', 'ds_3f9a2b1c4d5e') }) },
      responses: { 204: { description: 'Deleted' }, ...commonProblems, ...conflictProblem },
    }),
    async (c) => {
      if (datasetManifests) await datasetManifests.erase(c.get('principal'), c.req.valid('param').id, c.get('requestId'));
      else await residency.deleteDataset(c.get('principal'), c.req.valid('param').id, c.get('requestId'));
      return c.body(null, 204);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/residency',
      operationId: 'getJobResidency',
      tags: ['residency'],
      summary: "A job's residency: allowed sites now, the rule excluding each other site, placement evidence, flags",
      request: { params: z.object({ id: param('id', '812') }) },
      responses: { 200: json(JobResidencySchema, 'Residency of the job'), ...commonProblems },
    }),
    async (c) => {
      await tenantData.requireJob(c.get('principal'), c.req.valid('param').id, c.get('requestId'));
      return c.json(await residency.jobResidency(c.get('principal'), c.req.valid('param').id), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/residency-report',
      operationId: 'getResidencyReport',
      tags: ['residency'],
      summary: 'Residency report: where each job that started in [from, to) ran, under which policies and attestations',
      request: {
        params: z.object({ org: param('org', 'robotics-gmbh') }),
        query: z.object({
          from: z.string().openapi({ example: '2026-11-01' }),
          to: z.string().openapi({ example: '2026-12-01' }),
          format: z.enum(['json', 'csv']).default('json'),
        }),
      },
      responses: {
        200: {
          description: 'The report',
          content: { 'application/json': { schema: ReportSchema }, 'text/csv': { schema: z.string() } },
        },
        ...commonProblems,
        ...unprocessableProblem,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal');
      const org = c.req.valid('param').org;
      await tenantData.requireReport(p, org, 'residency', c.get('requestId'));
      const report = await residencyReport(store, p, org, q.from, q.to);
      await tenantData.auditExport(
        p,
        org,
        'residency-report',
        { from: report.from, to: report.to, format: q.format, rows: report.items.length },
        c.get('requestId'),
      );
      if (q.format === 'csv') return c.body(reportCsv(report.items), 200, { 'content-type': 'text/csv; charset=utf-8' });
      return c.json(report, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/imported-records',
      operationId: 'listImportedRecords',
      tags: ['residency'],
      summary:
        'Usage or residency records an imported organisation brought from its old installation, each with `importedFrom` (never billed here)',
      request: {
        params: z.object({ org: param('org', 'robotics-gmbh') }),
        query: z.object({ section: z.enum(['usage', 'residency']).openapi({ example: 'usage' }) }),
      },
      responses: {
        200: json(
          z.object({ items: z.array(z.record(z.string(), z.unknown())) }).openapi('ImportedRecords'),
          'The records as the archive held them, with their origin',
        ),
        ...commonProblems,
      },
    }),
    async (c) => {
      const p = c.get('principal');
      const org = c.req.valid('param').org;
      const { section } = c.req.valid('query');
      if (
        !canSeeOrg(p, org).allowed ||
        !(await store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst())
      )
        throw notFound('org', org);
      // The old provider's residency evidence and metering: an operator needs the residency report's approval.
      await tenantData.requireReport(p, org, 'residency', c.get('requestId'));
      const items = await tenancy.imports.keptRecords(org, section);
      await tenantData.auditExport(p, org, 'imported-records', { section, rows: items.length }, c.get('requestId'));
      return c.json({ items }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/processing-record',
      operationId: 'getProcessingRecord',
      tags: ['residency'],
      summary: 'Record of processing (GDPR Art. 30(2) style), generated from live state',
      request: { params: z.object({ org: param('org', 'robotics-gmbh') }) },
      responses: { 200: json(RecordOfProcessingSchema, 'The record'), ...commonProblems },
    }),
    async (c) => {
      const p = c.get('principal');
      const org = c.req.valid('param').org;
      await tenantData.requireReport(p, org, 'processing-record', c.get('requestId'));
      const record = await processingRecord(store, residency, p, org);
      await tenantData.auditExport(p, org, 'processing-record', { generatedAt: record.generatedAt }, c.get('requestId'));
      return c.json(record, 200);
    },
  );

  return r;
}
