/**
 * Tenant-facing residency reports, generated from live state: the residency report (where every job
 * of a period ran, under which policy versions and attestations, from the placement evidence) and
 * the record of processing (GDPR Art. 30(2) style) per organisation.
 */

import { canSeeOrg } from '../model/authz.js';
import { invalid, notFound } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import type { Principal } from '../model/principal.js';
import type { Store } from '../store/open-store.js';
import { ERASED } from '../store/sealed-fields.js';
import { countryInfo } from './countries.js';
import type { ResidencyReportRow } from './report-csv.js';
import { DATA_CLASSES, type DataClass, type SiteFacts } from './residency.js';
import type { ResidencyService } from './service.js';
import { ReportEvidenceSchema } from './stored-json.js';

export { type ResidencyReportRow, reportCsv } from './report-csv.js';

async function requireOrgReader(store: Store, p: Principal, org: string): Promise<void> {
  const row = await store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
  if (!row || !canSeeOrg(p, org).allowed) throw notFound('org', org);
}

/** Job events that end a run: a requeue (back to the queue) or the job's end. */
const RUN_ENDS = ['queued', 'succeeded', 'failed', 'cancelled', 'timed-out'];

/**
 * residencyReport: one row per placement of a job of `org` that ran during [from, to): started
 * before `to` and still running at `from` or later ("where was my data processed in this period"
 * includes jobs that started earlier). finishedAt is when that placement ended (null: running).
 */
export async function residencyReport(
  store: Store,
  p: Principal,
  org: string,
  from: string,
  to: string,
): Promise<{ org: string; from: string; to: string; generatedAt: string; items: ResidencyReportRow[] }> {
  await requireOrgReader(store, p, org);
  for (const [k, v] of [
    ['from', from],
    ['to', to],
  ] as const)
    if (Number.isNaN(Date.parse(v))) throw invalid('invalid_period', `${k} is not an ISO 8601 date or date-time: ${v}`);
  const fromIso = new Date(Date.parse(from)).toISOString();
  const toIso = new Date(Date.parse(to)).toISOString();
  if (fromIso >= toIso) throw invalid('invalid_period', `from (${fromIso}) must be before to (${toIso})`);
  // Candidates: started before the end, of jobs that had not ended before the start of the period.
  const candidates = await store.db
    .selectFrom('placement_evidence')
    .innerJoin('jobs', 'jobs.id', 'placement_evidence.job_id')
    .select([
      'placement_evidence.job_id',
      'placement_evidence.at',
      'placement_evidence.evidence',
      'placement_evidence.project_id',
      'jobs.name',
      'jobs.state',
    ])
    .where('placement_evidence.org_id', '=', org)
    .where('placement_evidence.at', '<', toIso)
    .where((eb) => eb.or([eb('jobs.finished_at', 'is', null), eb('jobs.finished_at', '>=', fromIso)]))
    .orderBy('placement_evidence.id')
    .execute();
  const ends = await runEnds(
    store,
    candidates.map((r) => r.job_id),
  );
  const rows = candidates
    .map((r) => ({ ...r, finished_at: ends.get(`${r.job_id}\u0000${r.at}`) ?? null }))
    .filter((r) => r.at >= fromIso || r.finished_at === null || r.finished_at > fromIso);
  const items = rows.map((r) => {
    const e = parseJson(r.evidence, ReportEvidenceSchema, 'placement evidence');
    const attestations = e.site.currentAttestations.map((a) => a.name);
    const pv = (x: { name: string; version: number } | null) => (x ? `${x.name} v${x.version}` : null);
    const policies = [pv(e.policyVersions.org), pv(e.policyVersions.project)].filter((x) => x !== null);
    const country = countryInfo(e.site.country);
    const summary =
      `job ${r.job_id} ran in ${e.site.city}, ${e.site.country}` +
      (attestations.length ? `, ${attestations.join(' + ')}` : ', no current attestation') +
      (policies.length ? `, under policy ${policies.join(' and ')}` : ', under no residency policy') +
      (e.dataClasses.length ? `, data classes ${e.dataClasses.join(', ')}` : '') +
      (country.eea ? '' : ' (outside the EU/EEA)');
    return {
      jobId: String(r.job_id),
      jobName: store.fields.open(org, 'job.name', r.name) ?? ERASED,
      project: r.project_id,
      startedAt: r.at,
      finishedAt: r.finished_at,
      state: r.state,
      site: e.site.id,
      city: e.site.city,
      country: e.site.country,
      eu: e.site.eu,
      eea: e.site.eea,
      operator: e.site.operator ? `${e.site.operator.name} (${e.site.operator.establishment})` : null,
      attestations,
      dataClasses: e.dataClasses,
      orgPolicy: pv(e.policyVersions.org),
      projectPolicy: pv(e.policyVersions.project),
      rulesEvaluated: e.rules.length,
      summary,
    };
  });
  return { org, from: fromIso, to: toIso, generatedAt: new Date().toISOString(), items };
}

/**
 * runEnds: when each run (keyed `job\0start`, the start being its `running` event's time, the same
 * as its evidence) ended: the first requeue or end event after it. Runs still going are absent.
 */
async function runEnds(store: Store, jobIds: readonly number[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ids = [...new Set(jobIds)];
  for (let i = 0; i < ids.length; i += 500) {
    const events = await store.db
      .selectFrom('job_events')
      .select(['job_id', 'at', 'type'])
      .where('job_id', 'in', ids.slice(i, i + 500))
      .where('type', 'in', ['running', ...RUN_ENDS])
      .orderBy('job_id')
      .orderBy('id')
      .execute();
    let open: string | null = null;
    let job = -1;
    for (const e of events) {
      if (e.job_id !== job) {
        job = e.job_id;
        open = null;
      }
      if (e.type === 'running') open = `${e.job_id}\u0000${e.at}`;
      else if (open) {
        out.set(open, e.at);
        open = null;
      }
    }
  }
  return out;
}

function siteEntry(s: SiteFacts, now: number) {
  const c = countryInfo(s.country);
  return {
    id: s.id,
    name: s.name,
    city: s.city,
    country: s.country,
    eu: c.eu,
    eea: c.eea,
    operator: s.operator,
    attestations: s.attestations.filter((a) => Date.parse(a.validFrom) <= now).map((a) => ({ ...a })),
  };
}

/**
 * processingRecord: the processor's record of processing for one organisation (GDPR Art. 30(2)):
 * the controller, the processor (site operators), categories of processing, data classes, the sites
 * used (by placements and dataset homes), transfers outside the EU/EEA, retention, and measures.
 */
export async function processingRecord(store: Store, residency: ResidencyService, p: Principal, org: string) {
  await requireOrgReader(store, p, org);
  const now = Date.now();
  const o = await store.db.selectFrom('orgs').selectAll().where('id', '=', org).executeTakeFirstOrThrow();
  const placed = await store.db
    .selectFrom('placement_evidence')
    .select((eb) => ['site', eb.fn.count<number>('id').as('placements'), eb.fn.min('at').as('first'), eb.fn.max('at').as('last')])
    .where('org_id', '=', org)
    .groupBy('site')
    .execute();
  const datasets = residency.datasetsOfOrg(org);
  const live = datasets.filter((d) => !d.deletedAt);
  const siteIds = new Set([...placed.map((x) => x.site), ...live.map((d) => d.homeSite)]);
  const sites = residency.sites.filter((s) => siteIds.has(s.id));
  const policies = residency.policiesOfOrg(org);
  const declared = new Set<DataClass>(policies.flatMap((x) => x.dataClasses));
  for (const d of live) declared.add(d.classification);
  const transfers = sites
    .filter((s) => !countryInfo(s.country).eea)
    .map((s) => ({
      site: s.id,
      country: s.country,
      safeguard: countryInfo(s.country).adequacy ? 'adequacy decision (GDPR Art. 45)' : 'none recorded',
    }));
  const operators = new Map<string, { name: string; establishment: string }>();
  for (const s of residency.sites) if (s.operator) operators.set(s.operator.name, s.operator);
  return {
    generatedAt: new Date(now).toISOString(),
    controller: { org: o.id, name: o.name, kind: o.kind },
    processors: [...operators.values()],
    categoriesOfProcessing: [
      'GPU compute jobs (training, fine-tuning, inference, simulation) on data the controller provides',
      'storage of registered datasets at their home site',
      'job logs, events and audit records about the processing',
    ],
    dataClasses: DATA_CLASSES.filter((c) => declared.has(c)),
    residencyPolicies: policies.map((x) => ({
      scope: x.scope,
      scopeId: x.scopeId,
      name: x.name,
      version: x.version,
      rules: x.rules,
    })),
    sitesUsed: sites.map((s) => {
      const pl = placed.find((x) => x.site === s.id);
      return {
        ...siteEntry(s, now),
        placements: Number(pl?.placements ?? 0),
        firstPlacement: pl?.first ?? null,
        lastPlacement: pl?.last ?? null,
        datasets: live.filter((d) => d.homeSite === s.id).length,
      };
    }),
    transfersOutsideEea: transfers,
    retention: [
      { what: 'datasets', period: 'until the controller deletes them (DELETE /v1/datasets/{id})' },
      {
        what: 'job records, events and placement evidence',
        period: 'for the life of the organisation (evidence for the controller)',
      },
      { what: 'audit log', period: 'append-only and hash-chained; kept for the life of the platform' },
    ],
    technicalAndOrganisationalMeasures: [
      'placement only at sites every residency rule in force allows (organisation, project, data classes), checked again in the start transaction',
      'dated site attestations; expired attestations stop new placements and flag running jobs',
      'tenant isolation: objects of other organisations are not visible (404)',
      'tamper-evident audit log (hash chain, signed checkpoints)',
    ],
  };
}
