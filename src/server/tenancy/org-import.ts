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
 * are per installation); the answer maps old to new, in the same order.
 *
 * Datasets are registered again with their ids, classes, home sites, sizes and checksums (a home site
 * this fleet lacks: skipped and listed); their manifests were never exported (write-only, the API
 * never returns them), so the answer lists those awaiting one: the tenant sets each from its own copy
 * (`PATCH /v1/datasets/{id}`). The `usage` and `residency` sections are kept record by record
 * (org_import_records, migration 029), marked with their origin: the old provider's metering and
 * evidence, shown by `GET /v1/orgs/{org}/imported-records` and exported again with `importedFrom`,
 * never billed here (invoices and budgets read this installation's own usage records only).
 */
import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { enforce, operatorOnly } from '../../model/authz.js';
import { conflict, invalid } from '../../model/errors.js';
import { PRIORITY_CLASSES } from '../../model/job.js';
import type { RequestContext } from '../../model/principal.js';
import { appendAudit } from '../../store/audit.js';
import { insertReturningId } from '../../store/fast-insert.js';
import type { OrgImportTables } from '../../store/migration-025-org-imports.js';
import type { OrgImportRecordTables } from '../../store/migration-029-org-import-records.js';
import type { Store } from '../../store/open-store.js';
import type { Database } from '../../store/schema.js';
import { sealJobColumns } from '../../store/sealed-fields.js';
import { insertDriverEvent } from '../job-events.js';
import { type ArchiveReport, ORG_ARCHIVE_SECTIONS, verifyOrgArchive } from './org-archive.js';
import {
  AuditHeadRec,
  archiveInvalid,
  DatasetRec,
  ENDED,
  type ImportedDataset,
  JobRec,
  KeptRec,
  OrgRec,
  ProjectRec,
  parseSection,
  UserRec,
} from './org-import-records.js';
import type { QuotaLedger } from './projects.js';
import { expiryOf, insertToken, type TokenPolicy } from './token-records.js';

export type { ImportedDataset };

/** Where imported datasets are registered (the residency service: its table and its in-memory registry). */
export interface DatasetImportPort {
  /** Why `d` cannot be registered here (a home site this fleet lacks, an unknown data class), or null. */
  refusal(d: ImportedDataset): string | null;
  /** Writes the datasets in the import's transaction; the returned function adopts them once it committed. */
  write(trx: Transaction<Database>, org: string, datasets: ImportedDataset[]): Promise<() => void>;
}

/** Where an imported record came from: added to it when it is shown or exported again. */
export interface ImportedFrom {
  source: string;
  importId: number;
  exportedAt: string;
}

/** The sections kept record by record, marked with their origin (never billed here). */
export const KEPT_SECTIONS = ['usage', 'residency'] as const;
export type KeptSection = (typeof KEPT_SECTIONS)[number];

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
  /** Datasets named in the archive and not registered here (see `datasets.skipped`). */
  datasetsNotImported: number;
  /** Datasets registered with their ids; those whose manifest the tenant must set again; those skipped (`id: why`). */
  datasets: { imported: number; awaitingManifest: string[]; skipped: string[] };
  /** Usage and residency records kept with their origin (never billed here). */
  kept: { usage: number; residency: number };
  /** The old installation's audit chain head for the organisation, as the archive's signed slice pins it. */
  importedAuditHead: { id: number; hash: string } | null;
}

export class OrgImports {
  constructor(
    private readonly store: Store,
    private readonly quotas: QuotaLedger,
    private readonly tokenPolicy: TokenPolicy,
    private readonly now: () => number,
    private readonly datasetPort: DatasetImportPort | null = null,
  ) {}

  /**
   * keptRecords: an organisation's imported usage or residency records, each with `importedFrom`
   * (the installation, import and export it came from). Who may read them is the route's to check.
   */
  async keptRecords(org: string, section: KeptSection): Promise<Record<string, unknown>[]> {
    const db = this.store.db.withTables<OrgImportRecordTables & OrgImportTables>();
    const rows = await db
      .selectFrom('org_import_records as r')
      .innerJoin('org_imports as i', 'i.id', 'r.import_id')
      .select(['r.record', 'r.import_id', 'i.source', 'i.exported_at'])
      .where('r.org_id', '=', org)
      .where('r.section', '=', section)
      .orderBy('r.import_id')
      .orderBy('r.seq')
      .execute();
    return rows.map((r) => {
      const rec = JSON.parse(this.store.fields.open(org, 'org_imports.record', r.record) ?? '{}') as Record<string, unknown>;
      // A record imported twice (A → B → C) keeps its first origin: the installation that metered it.
      const from: ImportedFrom = { source: r.source, importId: Number(r.import_id), exportedAt: r.exported_at };
      return { ...rec, importedFrom: rec.importedFrom ?? from };
    });
  }

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
    const datasets = parseSection(DatasetRec, 'datasets', sections.get('datasets') ?? []);
    const kept = Object.fromEntries(
      KEPT_SECTIONS.map((sec) => [sec, parseSection(KeptRec, sec, sections.get(sec) ?? [])]),
    ) as Record<KeptSection, Record<string, unknown>[]>;
    for (const [i, x] of [...projects, ...users, ...datasets].entries())
      if (x.org !== org.id) throw archiveInvalid(`record ${i + 1} belongs to organisation ${x.org}, not ${org.id}`);
    const projectIds = new Set(projects.map((x) => x.id));
    for (const [i, j] of jobs.entries())
      if (j.job.org !== org.id || !projectIds.has(j.job.project))
        throw archiveInvalid(
          `job ${j.job.id} names a project the archive does not hold — first bad record: jobs ${i + 1}`,
          `jobs[${i + 1}]`,
        );
    for (const [i, d] of datasets.entries())
      if (!projectIds.has(d.project))
        throw archiveInvalid(
          `dataset ${d.id} names a project the archive does not hold — first bad record: datasets ${i + 1}`,
          `datasets[${i + 1}]`,
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
      const dids = datasets.map((d) => d.id);
      const d2 = dids.length
        ? await db.selectFrom('datasets').select('id').where('id', 'in', dids).executeTakeFirst()
        : undefined;
      if (d2) throw conflict('dataset_exists', `dataset ${d2.id} already exists here (dataset ids are unique per installation)`);
    };
    await exists(this.store.db);
    const known = new Set(this.quotas.fleet.gpuTypes);
    const quotas = projects.flatMap((pr) => pr.quotas.map((q) => ({ project: pr.id, ...q })));
    const quotasSkipped = quotas.filter((q) => !known.has(q.gpuType)).map((q) => `${q.project}/${q.gpuType}`);
    const port = this.datasetPort;
    const datasetsSkipped = datasets.flatMap((d) => {
      const why = port ? port.refusal(d) : 'datasets are not registered by this server';
      return why ? [`${d.id}: ${why}`] : [];
    });
    const toRegister = datasets.filter((d) => !datasetsSkipped.some((x) => x.startsWith(`${d.id}:`)));
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
      const adopt = port && toRegister.length ? await port.write(trx, org.id, toRegister) : () => {};
      const keptRows = KEPT_SECTIONS.flatMap((section) =>
        kept[section].map((rec, i) => ({
          import_id: importId,
          org_id: org.id,
          section,
          seq: i + 1,
          record: this.store.fields.seal(org.id, 'org_imports.record', JSON.stringify(rec)),
        })),
      );
      for (let i = 0; i < keptRows.length; i += 500)
        await trx
          .withTables<OrgImportRecordTables>()
          .insertInto('org_import_records')
          .values(keptRows.slice(i, i + 500) as never)
          .execute();
      const counts = {
        projects: projects.length,
        users: users.length,
        jobs: jobs.length,
        stoppedAtImport: stopped,
        datasets: toRegister.length,
        usageRecords: kept.usage.length,
        residencyRecords: kept.residency.length,
      };
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
      return { importId, ids, stopped, adopt };
    });
    result.adopt();
    for (const q of quotas.filter((x) => known.has(x.gpuType))) this.quotas.setQuotaInMemory(q.project, q.gpuType, q.gpus);
    return {
      org: org.id,
      importId: result.importId,
      archiveSha256,
      projects: projects.length,
      users: users.length,
      jobs: { imported: jobs.length, stoppedAtImport: result.stopped, ids: result.ids },
      quotasSkipped,
      datasetsNotImported: datasetsSkipped.length,
      datasets: {
        imported: toRegister.length,
        awaitingManifest: toRegister.filter((d) => d.hasManifest).map((d) => d.id),
        skipped: datasetsSkipped,
      },
      kept: { usage: kept.usage.length, residency: kept.residency.length },
      importedAuditHead,
    };
  }
}
