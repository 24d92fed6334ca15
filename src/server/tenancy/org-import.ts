/**
 * Importing an organisation from another installation's archive (org-archive.ts): an operator
 * onboards the tenant that left elsewhere. The archive is verified first (a bad one is refused,
 * naming its first bad record, nothing written); then the organisation, its projects and quotas, its
 * users (without credentials) and its jobs with their events are written in one transaction, the
 * archive is kept byte for byte (org_imports, migration 025: the old installation's signed audit
 * slice stays verifiable offline) and one `org.import` audit record — with the archive's SHA-256 and
 * the old chain's head — joins this installation's chain.
 *
 * Jobs are history, never run again: ended ones keep their state; a job queued or running at the
 * export is written as `cancelled` with an event saying why (resubmit it here). Jobs get new ids (ids
 * are per installation); the answer maps old to new, in the same order. Datasets are not imported
 * (their manifests were never exported); usage and residency evidence stay in the kept archive.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { enforce, operatorOnly } from '../../model/authz.js';
import { conflict, invalid } from '../../model/errors.js';
import { PRIORITY_CLASSES } from '../../model/job.js';
import type { RequestContext } from '../../model/principal.js';
import { JobSpecSchema, ORG_KINDS, ORG_ROLES } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import { insertReturningId } from '../../store/fast-insert.js';
import type { OrgImportTables } from '../../store/migration-025-org-imports.js';
import type { Store } from '../../store/open-store.js';
import type { Database } from '../../store/schema.js';
import { sealJobColumns } from '../../store/sealed-fields.js';
import { insertDriverEvent } from '../job-events.js';
import { type ArchiveReport, ORG_ARCHIVE_SECTIONS, verifyOrgArchive } from './org-archive.js';
import type { QuotaLedger } from './projects.js';
import { expiryOf, insertToken, type TokenPolicy } from './token-records.js';

const ENDED = new Set(['succeeded', 'failed', 'cancelled', 'timed-out']);

const OrgRec = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  name: z.string(),
  kind: z.enum(ORG_KINDS),
  createdAt: z.string(),
});
const ProjectRec = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  org: z.string(),
  name: z.string(),
  createdAt: z.string(),
  quotas: z.array(z.object({ gpuType: z.string(), gpus: z.number().int().min(0) })),
});
const UserRec = z.object({
  id: z.string().min(1).max(64),
  org: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  role: z.enum(ORG_ROLES),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  disabledAt: z.string().nullable(),
});
const EventRec = z.object({
  at: z.string(),
  type: z.string(),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).nullable(),
});
const JobRec = z.object({
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
const AuditHeadRec = z.looseObject({ head: z.object({ id: z.number(), hash: z.string() }).nullable().optional() });

export interface ImportOptions {
  /** The key id the operator expects the archive's audit slice to be signed with (published by the old operator). */
  keyId?: string;
  /** An imported admin who gets a token at once, given by its SHA-256 (the operator never sees the token). */
  adminUser?: string;
  adminTokenSha256?: string;
}

export interface ImportResult {
  org: string;
  importId: number;
  archiveSha256: string;
  projects: number;
  users: number;
  /** Jobs imported: ended ones as they were; those queued or running at the export as cancelled. */
  jobs: { imported: number; stoppedAtImport: number; ids: Record<string, string> };
  /** Quotas for GPU types this fleet does not have (`project/gpuType`): not imported. */
  quotasSkipped: string[];
  /** Datasets named in the archive: not imported (re-register them; their manifests were never exported). */
  datasetsNotImported: number;
  /** The old installation's audit chain head for the organisation, as the archive's signed slice pins it. */
  importedAuditHead: { id: number; hash: string } | null;
}

const archiveInvalid = (detail: string, path = 'archive') =>
  invalid('archive_invalid', detail, [{ path, message: detail.slice(0, 300) }]);

function parseSection<T>(schema: z.ZodType<T>, section: string, records: unknown[]): T[] {
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

export class OrgImports {
  constructor(
    private readonly store: Store,
    private readonly quotas: QuotaLedger,
    private readonly tokenPolicy: TokenPolicy,
    private readonly now: () => number,
  ) {}

  async import(ctx: RequestContext, text: string, opts: ImportOptions = {}): Promise<ImportResult> {
    const { principal: p, requestId } = ctx;
    enforce(operatorOnly(p), 'only platform operators import organisations (onboarding is theirs)');
    const report: ArchiveReport = verifyOrgArchive(text, opts.keyId);
    if (!report.ok || !report.manifest) {
      const where = report.problem ? `${report.problem.section}[${report.problem.n}]` : 'archive';
      throw archiveInvalid(`the archive does not verify: ${report.message}`, where);
    }
    const sections = new Map<string, unknown[]>(ORG_ARCHIVE_SECTIONS.map((s) => [s, []]));
    for (const line of text.split('\n').slice(1)) {
      if (!line.trim()) continue;
      const l = JSON.parse(line) as { section: string; record: unknown };
      sections.get(l.section)?.push(l.record);
    }
    const [org] = parseSection(OrgRec, 'org', sections.get('org') ?? []);
    if (!org || org.id !== report.manifest.org)
      throw archiveInvalid('the org section does not name the archive’s organisation', 'org[1]');
    const projects = parseSection(ProjectRec, 'projects', sections.get('projects') ?? []);
    const users = parseSection(UserRec, 'users', sections.get('users') ?? []);
    const jobs = parseSection(JobRec, 'jobs', sections.get('jobs') ?? []);
    for (const [i, x] of [...projects, ...users].entries())
      if (x.org !== org.id) throw archiveInvalid(`record ${i + 1} belongs to organisation ${x.org}, not ${org.id}`);
    const projectIds = new Set(projects.map((x) => x.id));
    for (const [i, j] of jobs.entries())
      if (j.job.org !== org.id || !projectIds.has(j.job.project))
        throw archiveInvalid(
          `job ${j.job.id} names a project the archive does not hold — first bad record: jobs ${i + 1}`,
          `jobs[${i + 1}]`,
        );
    const head = AuditHeadRec.safeParse(sections.get('audit')?.[0]);
    const importedAuditHead = head.success ? (head.data.head ?? null) : null;

    if ((opts.adminUser === undefined) !== (opts.adminTokenSha256 === undefined))
      throw invalid('admin_token_incomplete', 'give adminUser and adminTokenSha256 together, or neither', [
        { path: opts.adminUser === undefined ? 'adminUser' : 'adminTokenSha256', message: 'required with the other' },
      ]);
    if (opts.adminTokenSha256 !== undefined && !/^[0-9a-f]{64}$/.test(opts.adminTokenSha256))
      throw invalid('invalid_token_hash', 'adminTokenSha256 is the hex SHA-256 of a token (64 characters 0-9a-f)', [
        { path: 'adminTokenSha256', message: 'not a SHA-256' },
      ]);
    if (opts.adminUser !== undefined && !users.some((u) => u.id === opts.adminUser && u.role === 'admin' && !u.disabledAt))
      throw invalid('admin_user_unknown', `${opts.adminUser} is not an enabled admin of ${org.id} in the archive`, [
        { path: 'adminUser', message: 'not an imported admin' },
      ]);

    const exists = async (db: Kysely<Database>) => {
      if (await db.selectFrom('orgs').select('id').where('id', '=', org.id).executeTakeFirst())
        throw conflict(
          'org_exists',
          `organisation ${org.id} already exists here: an archive is imported into an installation without it`,
        );
      const ids = [...projectIds];
      const p2 = ids.length ? await db.selectFrom('projects').select('id').where('id', 'in', ids).executeTakeFirst() : undefined;
      if (p2) throw conflict('project_exists', `project ${p2.id} already exists here (project ids are unique per installation)`);
      const uids = users.map((u) => u.id);
      const u2 = uids.length ? await db.selectFrom('users').select('id').where('id', 'in', uids).executeTakeFirst() : undefined;
      if (u2) throw conflict('user_exists', `user ${u2.id} already exists here (user ids are unique per installation)`);
    };
    await exists(this.store.db);
    const known = new Set(this.quotas.fleet.gpuTypes);
    const quotas = projects.flatMap((pr) => pr.quotas.map((q) => ({ project: pr.id, ...q })));
    const quotasSkipped = quotas.filter((q) => !known.has(q.gpuType)).map((q) => `${q.project}/${q.gpuType}`);
    const archiveSha256 = createHash('sha256').update(text).digest('hex');
    const now = this.now();
    const at = new Date(now).toISOString();
    const source = report.manifest.source;
    await this.store.fields.ready(org.id);
    const result = await this.store.write(async (trx) => {
      await exists(trx); // again inside the transaction: two racing imports cannot both write
      await trx.insertInto('orgs').values({ id: org.id, name: org.name, kind: org.kind, created_at: org.createdAt }).execute();
      for (const pr of projects)
        await trx.insertInto('projects').values({ id: pr.id, org_id: org.id, name: pr.name, created_at: pr.createdAt }).execute();
      for (const q of quotas.filter((x) => known.has(x.gpuType)))
        await trx.insertInto('quotas').values({ project_id: q.project, gpu_type: q.gpuType, gpus: q.gpus }).execute();
      for (const u of users)
        await trx
          .insertInto('users')
          .values({
            id: u.id,
            org_id: org.id,
            name: u.name,
            email: u.email,
            role: u.role,
            created_at: u.createdAt,
            created_by: u.createdBy,
            disabled_at: u.disabledAt,
            operator_known: 0,
          })
          .execute();
      if (opts.adminUser && opts.adminTokenSha256) {
        const taken = await trx.selectFrom('tokens').select('id').where('hash', '=', opts.adminTokenSha256).executeTakeFirst();
        if (taken) throw conflict('token_hash_in_use', 'that token hash is in use already; generate a fresh token');
        await insertToken(trx, {
          hash: opts.adminTokenSha256,
          userId: opts.adminUser,
          name: 'import',
          at,
          expiresAt: expiryOf(this.tokenPolicy, now),
          createdBy: p.userId,
        });
      }
      const ids: Record<string, string> = {};
      let stopped = 0;
      const ordered = [...jobs].sort((a, b) => Number(a.job.id) - Number(b.job.id) || a.job.id.localeCompare(b.job.id));
      for (const { job, events } of ordered) {
        const ended = ENDED.has(job.state);
        if (!ended) stopped++;
        const id = await insertReturningId(trx, 'jobs', {
          org_id: org.id,
          project_id: job.project,
          state: ended ? job.state : 'cancelled',
          priority: PRIORITY_CLASSES[job.spec.priorityClass],
          placement: job.placement === null || job.placement === undefined ? null : JSON.stringify(job.placement),
          exit_code: job.exitCode,
          submitted_by: job.submittedBy,
          idempotency_key: null,
          created_at: job.createdAt,
          started_at: job.startedAt,
          finished_at: ended ? job.finishedAt : at,
          borrowed: 0,
          attempt: job.attempt ?? 0,
          ...sealJobColumns(this.store.fields, org.id, job.spec),
        });
        ids[job.id] = String(id);
        const all = ended
          ? events
          : [
              ...events,
              {
                at,
                type: 'cancelled',
                message: `imported from ${source} while ${job.state}: not run on this installation; resubmit it to run it here`,
                data: { importedFrom: source, oldId: job.id, stateAtExport: job.state },
              },
            ];
        for (const e of all)
          await insertDriverEvent(trx, this.store.fields, org.id, {
            jobId: String(id),
            at: e.at,
            type: e.type,
            message: e.message,
            data: e.data,
          });
      }
      const row = await trx
        .withTables<OrgImportTables>()
        .insertInto('org_imports')
        .values({
          org_id: org.id,
          imported_at: at,
          imported_by: p.userId,
          source,
          exported_at: report.manifest!.exportedAt,
          archive_sha256: archiveSha256,
          // Tenant-written text throughout: sealed under the organisation's data key like the rest.
          archive: this.store.fields.seal(org.id, 'org_imports.archive', text),
        } as never)
        .returning('id')
        .executeTakeFirstOrThrow();
      const importId = Number(row.id);
      const counts = { projects: projects.length, users: users.length, jobs: jobs.length, stoppedAtImport: stopped };
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: org.id,
        action: 'org.import',
        objectType: 'org',
        objectId: org.id,
        after: {
          importId,
          archiveSha256,
          source,
          exportedAt: report.manifest!.exportedAt,
          formatVersion: report.manifest!.formatVersion,
          importedAuditHead,
          ...counts,
          adminTokenFor: opts.adminUser ?? null,
        },
        requestId,
      });
      return { importId, ids, stopped };
    });
    for (const q of quotas.filter((x) => known.has(x.gpuType))) this.quotas.setQuotaInMemory(q.project, q.gpuType, q.gpus);
    return {
      org: org.id,
      importId: result.importId,
      archiveSha256,
      projects: projects.length,
      users: users.length,
      jobs: { imported: jobs.length, stoppedAtImport: result.stopped, ids: result.ids },
      quotasSkipped,
      datasetsNotImported: sections.get('datasets')?.length ?? 0,
      importedAuditHead,
    };
  }
}
