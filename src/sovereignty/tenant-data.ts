/**
 * How tenant data about datasets and reports is served: the lockbox guard for operators, the
 * dataset view (operational metadata for operators without the tenant's consent, never the
 * manifest for anyone), and the audit record of each report export, so a tenant sees who exported
 * what. Used by the residency routes; the decisions are tabled in docs/sovereignty-access.md.
 */

import { isOperator } from '../model/authz.js';
import { DomainError } from '../model/errors.js';
import type { Principal } from '../model/principal.js';
import type { Lockbox } from '../server/lockbox/index.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import type { DatasetManifests } from './dataset-manifests.js';
import type { DatasetRecord } from './service.js';

/** Fields of a dataset that are tenant data: an operator sees them only with `read-dataset` access. */
export const REDACTED_DATASET_FIELDS = ['name', 'checksum'] as const;

export interface DatasetView {
  id: string;
  org: string;
  project: string;
  name?: string;
  classification: DatasetRecord['classification'];
  homeSite: string;
  sizeBytes: number;
  checksum?: string;
  createdAt: string;
  createdBy: string;
  hasManifest: boolean;
  redacted?: string[];
}

function fullView(d: DatasetRecord, manifests: DatasetManifests | undefined): DatasetView {
  return {
    id: d.id,
    org: d.org,
    project: d.project,
    name: d.name,
    classification: d.classification,
    homeSite: d.homeSite,
    sizeBytes: d.sizeBytes,
    checksum: d.checksum,
    createdAt: d.createdAt,
    createdBy: d.createdBy,
    hasManifest: manifests?.hasManifest(d.id) ?? false,
  };
}

/** redactedView: what operations need (class, home site, size), without the name and checksum. */
function redactedView(d: DatasetRecord, manifests: DatasetManifests | undefined): DatasetView {
  const { name: _n, checksum: _c, ...rest } = fullView(d, manifests);
  return { ...rest, redacted: [...REDACTED_DATASET_FIELDS] };
}

export class TenantData {
  constructor(
    private readonly store: Store,
    private readonly lockbox: Lockbox,
    private readonly manifests: DatasetManifests | undefined,
  ) {}

  /** datasetView: full for the tenant and for operators with read-dataset access (an audited use), else redacted. */
  async datasetView(p: Principal, d: DatasetRecord, requestId: string): Promise<DatasetView> {
    if (!isOperator(p)) return fullView(d, this.manifests);
    try {
      await this.lockbox.guard.check({ principal: p, requestId }, d.org, `dataset:${d.id}`, 'read-dataset');
      return fullView(d, this.manifests);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'lockbox_approval_required') return redactedView(d, this.manifests);
      throw err;
    }
  }

  /** listView: lists are always redacted for operators (read single datasets to use an access), like jobs. */
  listView(p: Principal, d: DatasetRecord): DatasetView {
    return isOperator(p) ? redactedView(d, this.manifests) : fullView(d, this.manifests);
  }

  /** A view right after a tenant's own write (operators cannot create or update datasets). */
  ownView(d: DatasetRecord): DatasetView {
    return fullView(d, this.manifests);
  }

  /** requireReport: operators need `read-report` access to the report of an organisation. */
  async requireReport(p: Principal, org: string, report: 'residency' | 'processing-record', requestId: string): Promise<void> {
    if (isOperator(p)) await this.lockbox.guard.check({ principal: p, requestId }, org, `report:${report}`, 'read-report');
  }

  /** requireJob: a job's residency evidence names its datasets: operators need `read-spec` access to the job. */
  async requireJob(p: Principal, jobId: string, requestId: string): Promise<void> {
    if (!isOperator(p)) return;
    const n = Number(jobId);
    const row = Number.isSafeInteger(n)
      ? await this.store.db.selectFrom('jobs').select('org_id').where('id', '=', n).executeTakeFirst()
      : undefined;
    if (row) await this.lockbox.guard.check({ principal: p, requestId }, row.org_id, `job:${jobId}`, 'read-spec');
  }

  /** auditExport appends who exported which report of an organisation (in the tenant's audit slice). */
  async auditExport(
    p: Principal,
    org: string,
    report: 'residency-report' | 'processing-record' | 'imported-records',
    detail: Record<string, string | number>,
    requestId: string,
  ): Promise<void> {
    const at = new Date().toISOString();
    await this.store.write((trx) =>
      appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: `${report}.export`,
        objectType: 'org',
        objectId: org,
        after: { report, ...detail },
        requestId,
      }),
    );
  }
}
