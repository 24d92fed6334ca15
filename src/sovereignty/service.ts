/**
 * ResidencyService: the live side of data residency. It keeps the policies in force and the dataset
 * classes in memory (loaded from the store, updated in the same store transaction that changes
 * them), admits or rejects submissions, turns each queued job's evaluation into the scheduler's
 * residency constraint, records placement evidence in the start transaction, re-evaluates when an
 * attestation starts or ends, and flags running jobs whose site no longer qualifies.
 */
import type { Transaction } from 'kysely';
import { expandFleet } from '../fleet/load-fleet.js';
import { canAdminOrg, canReadJob, canSeeOrg, canSubmit, enforce, isOperator } from '../model/authz.js';
import { conflict, forbidden, invalid, notFound } from '../model/errors.js';
import type { Fleet } from '../model/fleet.js';
import type { Placement } from '../model/job.js';
import { declaredDatasetIds } from '../model/job-datasets.js';
import { parseJson } from '../model/json.js';
import type { JobEvent, JobSpec } from '../model/schemas.js';
import { type SchedJob, validateJobFitsFleet } from '../scheduler/index.js';
import { unsatisfiableConstraints } from '../server/job-constraints.js';
import { toJobEvent } from '../server/job-rows.js';
import type { ResidencyCycle, ResidencyGate, RunningForResidency } from '../server/ports.js';
import { newId, type Principal } from '../server/principal.js';
import { holderOf } from '../server/workloads/state-claims.js';
import type { StateDirRemovals } from '../server/workloads/state-dirs.js';
import { appendAudit } from '../store/audit.js';
import { insertLater } from '../store/deferred-insert.js';
import { insertReturningId } from '../store/fast-insert.js';
import type { Store } from '../store/open-store.js';
import type { DatasetsTable, ResidencyPoliciesTable } from '../store/residency-schema.js';
import type { Database } from '../store/schema.js';
import { ERASED, type FieldSealer, openSpec } from '../store/sealed-fields.js';
import { knownCountry } from './countries.js';
import { READ_ONLY_CLASSES } from './dataset-mounts.js';
import {
  allowedSitesOf,
  currentAttestations,
  DATA_CLASSES,
  type DataClass,
  type DatasetRef,
  evaluateResidency,
  looserThan,
  neverReason,
  nextValidityChange,
  type PolicyVersion,
  type ResidencyEvaluation,
  type ResidencyRules,
  rulesOf,
  type SiteFacts,
  siteFacts,
} from './residency.js';
import { DataClassesSchema, EvidenceDatasetsSchema, ResidencyRulesSchema, SiteIdsSchema } from './stored-json.js';

type Trx = Transaction<Database>;

export interface DatasetRecord {
  id: string;
  org: string;
  project: string;
  name: string;
  classification: DataClass;
  homeSite: string;
  sizeBytes: number;
  checksum: string;
  createdAt: string;
  createdBy: string;
  deletedAt: string | null;
}

export interface PolicyView extends PolicyVersion {
  createdAt: string | null;
  createdBy: string | null;
  sitesBefore: string[];
  sitesAfter: string[];
  sitesChanged: boolean;
}

export interface PolicyInput {
  name: string;
  rules: ResidencyRules;
  dataClasses: DataClass[];
}

export interface DatasetInput {
  name: string;
  classification: DataClass;
  homeSite: string;
  sizeBytes: number;
  checksum: string;
}

/** Extra writes in a dataset change's own transaction. */
export type DatasetTrxHook = (trx: Trx, rec: DatasetRecord) => Promise<void>;

/** A policy row as read back (callers may leave out the organisation). */
type PolicyRowLike = Omit<ResidencyPoliciesTable, 'org_id'>;

const ALL_CLASSES: DataClass[] = [...DATA_CLASSES];

export class ResidencyService implements ResidencyGate {
  readonly sites: SiteFacts[];
  private readonly orgPolicies = new Map<string, PolicyVersion>();
  private readonly projectPolicies = new Map<string, PolicyVersion>();
  /** Every dataset ever registered (deleted ones too: queued jobs and evidence keep their class). */
  private readonly datasets = new Map<string, DatasetRecord>();
  /** Dataset names being registered (project NUL name), so two concurrent registrations cannot both pass. */
  private readonly naming = new Set<string>();
  private readonly flagged = new Set<string>();
  private checkedAt: number | null = null;
  private nextChange: number | null = null;
  private cp: ResidencyCycle | null = null;
  private readonly subFleets = new Map<string, Fleet>();
  /** project -> organisation, for the projects that have a policy. */
  private readonly policyOrg = new Map<string, string>();

  constructor(
    readonly store: Store,
    private readonly fleet: Fleet,
    private readonly now: () => number = () => Date.now(),
    /** Removes a deleted dataset's session state directory (workloads/state-dirs.ts); absent: left pending. */
    private readonly stateDirs?: Pick<StateDirRemovals, 'finish'>,
  ) {
    this.sites = fleet.sites.map(siteFacts);
  }

  /** load reads policies, datasets and earlier flags from the store; call before the control plane recovers. */
  async load(cp: ResidencyCycle): Promise<void> {
    this.cp = cp;
    this.orgPolicies.clear();
    this.projectPolicies.clear();
    this.datasets.clear();
    const rows = await this.store.db.selectFrom('residency_policies').selectAll().orderBy('version').execute();
    for (const r of rows) {
      this.cachePolicy(toPolicyVersion(r));
      if (r.scope_type === 'project') this.policyOrg.set(r.scope_id, r.org_id);
    }
    for (const d of await this.store.db.selectFrom('datasets').selectAll().execute())
      this.datasets.set(d.id, toDataset(this.store.fields, d));
    const flags = await this.store.db
      .selectFrom('job_events')
      .innerJoin('jobs', 'jobs.id', 'job_events.job_id')
      .select('job_events.job_id')
      .where('job_events.type', '=', 'residency-flagged')
      .where('jobs.state', '=', 'running')
      .execute();
    for (const f of flags) this.flagged.add(String(f.job_id));
  }

  private cachePolicy(p: PolicyVersion): void {
    (p.scope === 'org' ? this.orgPolicies : this.projectPolicies).set(p.scopeId, p);
  }

  // ------------------------------------------------------------------ evaluation

  datasetRefs(spec: JobSpec): DatasetRef[] {
    const state = spec.session?.stateDataset;
    // A dataset missing from the registry can only come from outside the API: treat it as the strictest class.
    return declaredDatasetIds(spec).map((id) => {
      const d = this.datasets.get(id);
      const ref: DatasetRef = d
        ? { id, name: d.name, classification: d.classification }
        : { id, name: id, classification: 'health' as DataClass };
      // A session works in its state dataset in place: on the storage of the dataset's home site.
      if (id === state) ref.pinnedTo = d?.homeSite ?? `(unknown dataset ${id})`;
      return ref;
    });
  }

  evaluate(org: string, project: string, spec: JobSpec, now: number): ResidencyEvaluation {
    return evaluateResidency({
      sites: this.sites,
      org: this.orgPolicies.get(org) ?? null,
      project: this.projectPolicies.get(project) ?? null,
      projectId: project,
      datasets: this.datasetRefs(spec),
      now,
    });
  }

  /** unrestricted: no policy and no dataset, so no rule can apply (the submission hot path skips evaluating). */
  private unrestricted(org: string, project: string, spec: JobSpec): boolean {
    return (
      !this.orgPolicies.has(org) &&
      !this.projectPolicies.has(project) &&
      !spec.datasets?.reads.length &&
      !spec.datasets?.writes.length &&
      !spec.session?.stateDataset
    );
  }

  admit(org: string, project: string, spec: JobSpec, now: number): void {
    if (this.unrestricted(org, project, spec)) return;
    const state = spec.session?.stateDataset;
    if (state) this.admitStateDataset(org, project, state);
    for (const id of declaredDatasetIds(spec)) {
      const d = this.datasets.get(id);
      if (!d || d.org !== org || d.deletedAt) throw notFound('dataset', id);
      for (const pol of [this.orgPolicies.get(org), this.projectPolicies.get(project)]) {
        if (pol && !pol.dataClasses.includes(d.classification)) {
          throw invalid(
            'data_class_not_declared',
            `dataset ${id} (${d.name}) holds ${d.classification} data, which ${pol.scope === 'org' ? 'organisation' : 'project'} ${pol.scopeId} policy ${pol.name} v${pol.version} does not declare`,
            [{ path: 'datasets', message: id }],
          );
        }
      }
    }
    const ev = this.evaluate(org, project, spec, now);
    const never = neverReason(ev);
    if (never) throw invalid('residency_forbidden', never.message, [{ path: 'datasets', message: never.rule }]);
    if (ev.rules.length === 0) return;
    // The job's own site constraints narrow further: some site must pass both, ever.
    const c = spec.constraints;
    const constrained = !!(c?.requiredSites?.length || c?.forbiddenSites?.length || c?.requiredCertifications?.length);
    const byConstraints = this.fleet.sites
      .filter(
        (s) =>
          (!c?.requiredSites?.length || c.requiredSites.includes(s.id)) &&
          !(c?.forbiddenSites ?? []).includes(s.id) &&
          (c?.requiredCertifications ?? []).every((cert) => s.certifications.includes(cert)),
      )
      .map((s) => s.id);
    const candidates = ev.everAllowedSites.filter((s) => byConstraints.includes(s));
    if (constrained && candidates.length === 0) {
      const why = byConstraints.map((s) => {
        const e = ev.excluded.find((x) => x.site === s);
        return e ? `${e.reason} [${e.rule}]` : `${s} is excluded`;
      });
      throw invalid(
        'residency_forbidden',
        byConstraints.length === 0
          ? `the job's site constraints leave no site, and the residency rules allow only ${ev.everAllowedSites.join(', ')}`
          : `the sites the job's constraints allow (${byConstraints.join(', ')}) are all excluded by the residency rules, now and with every attestation renewed: ${why.join('; ')}; the rules allow ${ev.everAllowedSites.join(', ')}`,
        [
          {
            path: 'constraints',
            message: [...new Set(byConstraints.map((s) => ev.excluded.find((x) => x.site === s)?.rule ?? 'constraints'))].join(
              ', ',
            ),
          },
        ],
      );
    }
    // The sites left must also have the job's GPUs, in that number (and its node labels, if any).
    const sub = this.subFleet(candidates);
    const misfit = validateJobFitsFleet(sub, {
      gpuType: spec.gpuType === 'any' ? null : spec.gpuType,
      gpusPerNode: spec.gpusPerNode,
      nodes: spec.nodes,
    });
    const unfit =
      misfit?.message.replace(/^waiting: /, '') ??
      (sub.nodes.length > 0 && c ? unsatisfiableConstraints(sub, withoutSiteConstraints(spec))?.message : undefined);
    if (unfit) {
      throw invalid(
        'residency_forbidden',
        `the only sites the residency rules${constrained ? " and the job's constraints" : ''} allow (${candidates.join(', ')}) cannot run this job: ${unfit}`,
        [{ path: 'gpuType', message: ev.rules.map((r) => r.id).join(', ') }],
      );
    }
  }

  /**
   * admitStateDataset: a session's state dataset must be a live dataset of the session's own project
   * (another organisation's answers as unknown) whose class jobs may write.
   */
  private admitStateDataset(org: string, project: string, id: string): void {
    const d = this.datasets.get(id);
    if (!d || d.org !== org || d.deletedAt) throw notFound('dataset', id);
    if (d.project !== project) {
      throw invalid(
        'state_dataset_other_project',
        `dataset ${id} belongs to project ${d.project}, not ${project}: a session keeps its state only in a dataset of its own project`,
        [{ path: 'session.stateDataset', message: 'another project' }],
      );
    }
    if (READ_ONLY_CLASSES.includes(d.classification)) {
      throw invalid(
        'state_dataset_read_only',
        `dataset ${id} holds ${d.classification} data, which jobs never write: keep the session's state in a dataset of another class`,
        [{ path: 'session.stateDataset', message: d.classification }],
      );
    }
  }

  private subFleet(sites: readonly string[]): Fleet {
    const key = sites.join(',');
    let f = this.subFleets.get(key);
    if (!f) {
      const spec = this.fleet.spec;
      const keep = new Set(sites);
      const pools = spec.pools.filter((p) => keep.has(p.site));
      f =
        pools.length > 0
          ? expandFleet({ ...spec, sites: spec.sites.filter((s) => keep.has(s.id)), pools })
          : { ...this.fleet, nodes: [], gpuTypes: [], totalGpus: 0, nodeIndex: new Map() };
      this.subFleets.set(key, f);
    }
    return f;
  }

  constrain(job: SchedJob, spec: JobSpec, now: number): SchedJob {
    if (job.residency === undefined && this.unrestricted(job.org, job.project, spec)) return job;
    const ev = this.evaluate(job.org, job.project, spec, now);
    const { residency: _old, ...rest } = job;
    if (ev.rules.length === 0) return rest;
    return {
      ...rest,
      residency: {
        allowedSites: ev.allowedSites,
        reason: ev.waitingReason ?? '',
        // The rule that matters is one keeping out a site that could otherwise host the job.
        rule:
          ev.narrowingRule ?? ev.excluded.find((e) => ev.everAllowedSites.includes(e.site))?.rule ?? ev.excluded[0]?.rule ?? null,
        ...(ev.narrowing ? { excluded: ev.narrowing } : {}),
        ...(ev.excluded.length
          ? {
              excludedSites: ev.excluded.map((e) => ({
                site: e.site,
                rule: e.rule,
                reason: e.reason,
                renewable: ev.everAllowedSites.includes(e.site),
              })),
            }
          : {}),
      },
    };
  }

  orgPlacement(org: string, now: number): ResidencyEvaluation | null {
    const policy = this.orgPolicies.get(org);
    if (!policy) return null;
    return evaluateResidency({ sites: this.sites, org: policy, project: null, projectId: '', datasets: [], now });
  }

  async recordStart(
    trx: Trx,
    s: { jobId: string; org: string; project: string; spec: JobSpec; placement: Placement; at: string; now: number },
  ): Promise<boolean> {
    const ev = this.evaluate(s.org, s.project, s.spec, s.now);
    if (!ev.allowedSites.includes(s.placement.site)) return false;
    const site = this.sites.find((x) => x.id === s.placement.site)!;
    const evidence = {
      jobId: s.jobId,
      at: s.at,
      site: {
        id: site.id,
        name: site.name,
        city: site.city,
        country: site.country,
        countryName: site.countryName,
        eu: site.eu,
        eea: site.eea,
        operator: site.operator,
        currentAttestations: site.attestations.filter((a) => currentAttestations(site, s.now).includes(a.name)),
      },
      policyVersions: ev.policyVersions,
      dataClasses: ev.dataClasses,
      // Dataset names are tenant-written: sealed in the stored evidence (opened for readers in jobResidency).
      datasets: this.datasetRefs(s.spec).map((d) => ({ ...d, name: this.store.fields.seal(s.org, 'dataset.name', d.name) })),
      rules: ev.rules,
      allowedSites: ev.allowedSites,
      excluded: ev.excluded,
    };
    // Deferred on PostgreSQL: written with the batch's other evidence before COMMIT (deferred-insert.ts).
    await insertLater(trx, 'placement_evidence', {
      job_id: Number(s.jobId),
      org_id: s.org,
      project_id: s.project,
      at: s.at,
      site: site.id,
      evidence: JSON.stringify(evidence),
    });
    return true;
  }

  due(now: number): boolean {
    return this.checkedAt === null || (this.nextChange !== null && now >= this.nextChange);
  }

  async refresh(now: number): Promise<void> {
    this.checkedAt = now;
    this.nextChange = nextValidityChange(this.sites, now);
    this.cp?.reconstrainQueued();
    await this.flagRunning(now);
  }

  /** flagRunning records, once per job, that a running job's site no longer satisfies its rules. */
  private async flagRunning(now: number): Promise<void> {
    if (!this.cp) return;
    const at = new Date(now).toISOString();
    const toFlag: { r: RunningForResidency; ev: ResidencyEvaluation }[] = [];
    for (const r of this.cp.runningJobsForResidency()) {
      if (this.flagged.has(r.id)) continue;
      const ev = this.evaluate(r.org, r.project, r.spec, now);
      if (!ev.allowedSites.includes(r.site)) toFlag.push({ r, ev });
    }
    if (toFlag.length === 0) return;
    const events = await this.store.write(async (trx) => {
      const out: { org: string; event: JobEvent }[] = [];
      for (const { r, ev } of toFlag) {
        const why = ev.excluded.find((e) => e.site === r.site);
        const message = `residency: site ${r.site} no longer satisfies the rules in force (${why?.reason ?? 'excluded'}; rule ${why?.rule ?? '?'}); the job keeps running, review it`;
        const values = {
          job_id: Number(r.id),
          at,
          type: 'residency-flagged',
          message,
          data: JSON.stringify({ site: r.site, rule: why?.rule ?? null, reason: why?.reason ?? null }),
        };
        const id = await insertReturningId(trx, 'job_events', values);
        out.push({ org: r.org, event: toJobEvent({ ...values, id }) });
        await appendAudit(trx, {
          at,
          actor: 'system:residency',
          org: r.org,
          action: 'job.residency_flag',
          objectType: 'job',
          objectId: r.id,
          after: { site: r.site, rule: why?.rule ?? null, reason: why?.reason ?? null },
        });
      }
      return out;
    });
    for (const { r } of toFlag) this.flagged.add(r.id);
    for (const e of events) this.cp.announce(e.org, e.event);
  }

  /** flags: the residency flags of one job (from its events). */
  async flagsOf(jobId: string): Promise<{ at: string; message: string }[]> {
    const rows = await this.store.db
      .selectFrom('job_events')
      .select(['at', 'message'])
      .where('job_id', '=', Number(jobId))
      .where('type', '=', 'residency-flagged')
      .orderBy('id')
      .execute();
    return rows;
  }

  // ------------------------------------------------------------------ policies

  private async scopeOrg(p: Principal, scope: 'org' | 'project', id: string): Promise<string> {
    if (scope === 'org') {
      const org = await this.store.db.selectFrom('orgs').select('id').where('id', '=', id).executeTakeFirst();
      if (!org || !canSeeOrg(p, id).allowed) throw notFound('org', id);
      return id;
    }
    const proj = await this.store.db.selectFrom('projects').select(['id', 'org_id']).where('id', '=', id).executeTakeFirst();
    if (!proj || !canSeeOrg(p, proj.org_id).allowed) throw notFound('project', id);
    return proj.org_id;
  }

  currentPolicy(scope: 'org' | 'project', id: string): PolicyVersion | null {
    return (scope === 'org' ? this.orgPolicies : this.projectPolicies).get(id) ?? null;
  }

  /** effectiveSites: the sites a scope's policies allow now (a project: its organisation's and its own). */
  private effectiveSites(project: PolicyVersion | null, orgPolicy: PolicyVersion | null, now: number): string[] {
    const a = allowedSitesOf(orgPolicy, this.sites, now);
    const b = new Set(allowedSitesOf(project, this.sites, now));
    return a.filter((s) => b.has(s));
  }

  async getPolicy(p: Principal, scope: 'org' | 'project', id: string): Promise<PolicyView> {
    const org = await this.scopeOrg(p, scope, id);
    const cur = this.currentPolicy(scope, id);
    if (cur) {
      const row = await this.store.db
        .selectFrom('residency_policies')
        .selectAll()
        .where('scope_type', '=', scope)
        .where('scope_id', '=', id)
        .where('version', '=', cur.version)
        .executeTakeFirstOrThrow();
      return toView(row);
    }
    const sites = this.effectiveSites(null, scope === 'project' ? (this.orgPolicies.get(org) ?? null) : null, this.now());
    return {
      scope,
      scopeId: id,
      name: 'none',
      version: 0,
      rules: {},
      dataClasses: ALL_CLASSES,
      createdAt: null,
      createdBy: null,
      sitesBefore: sites,
      sitesAfter: sites,
      sitesChanged: false,
    };
  }

  async listPolicyVersions(p: Principal, scope: 'org' | 'project', id: string): Promise<PolicyView[]> {
    await this.scopeOrg(p, scope, id);
    const rows = await this.store.db
      .selectFrom('residency_policies')
      .selectAll()
      .where('scope_type', '=', scope)
      .where('scope_id', '=', id)
      .orderBy('version', 'desc')
      .execute();
    return rows.map(toView);
  }

  async setPolicy(
    p: Principal,
    scope: 'org' | 'project',
    id: string,
    input: PolicyInput,
    requestId: string,
  ): Promise<PolicyView> {
    const org = await this.scopeOrg(p, scope, id);
    enforce(canAdminOrg(p, org), 'only organisation admins can change residency policies');
    for (const c of [...(input.rules.countries ?? []), ...(input.rules.operatorEstablishment ?? [])]) {
      if (!knownCountry(c))
        throw invalid('unknown_country', `unknown country code ${c}`, [{ path: 'rules.countries', message: c }]);
    }
    const orgPolicy = this.orgPolicies.get(org) ?? null;
    if (scope === 'project') {
      const looser = looserThan({ scope, scopeId: id, ...input }, orgPolicy);
      if (looser) {
        throw invalid(
          'policy_looser_than_org',
          `a project's residency policy may only be stricter than its organisation's (${orgPolicy?.name} v${orgPolicy?.version}): ${looser}`,
          [{ path: looser.split(':')[0]!, message: looser }],
        );
      }
    }
    const inUse = [...this.datasets.values()].filter(
      (d) => !d.deletedAt && (scope === 'org' ? d.org === id : d.project === id) && !input.dataClasses.includes(d.classification),
    );
    if (inUse.length > 0) {
      throw conflict(
        'data_class_in_use',
        `the policy would drop data class ${inUse[0]!.classification}, still used by dataset ${inUse[0]!.id} (${inUse[0]!.name}); delete it first`,
      );
    }
    const now = this.now();
    const at = new Date(now).toISOString();
    const prev = this.currentPolicy(scope, id);
    const version = (prev?.version ?? 0) + 1;
    const next: PolicyVersion = {
      scope,
      scopeId: id,
      name: input.name,
      version,
      rules: input.rules,
      dataClasses: input.dataClasses,
    };
    const projPolicy = (v: PolicyVersion | null) => (scope === 'project' ? v : null);
    const before = this.effectiveSites(projPolicy(prev), scope === 'org' ? prev : orgPolicy, now);
    const after = this.effectiveSites(projPolicy(next), scope === 'org' ? next : orgPolicy, now);
    const changed = before.join(',') !== after.join(',');
    try {
      await this.store.write(async (trx) => {
        await trx
          .insertInto('residency_policies')
          .values({
            scope_type: scope,
            scope_id: id,
            version,
            org_id: org,
            name: input.name,
            rules: JSON.stringify(input.rules),
            data_classes: JSON.stringify(input.dataClasses),
            sites_before: JSON.stringify(before),
            sites_after: JSON.stringify(after),
            created_at: at,
            created_by: p.userId,
          })
          .execute();
        const audit = (action: string, was: unknown, becomes: unknown) =>
          appendAudit(trx, {
            at,
            actor: p.userId,
            org,
            action,
            objectType: `${scope}_residency_policy`,
            objectId: `${id}@${version}`,
            before: was,
            after: becomes,
            requestId,
          });
        await audit(
          'residency_policy.set',
          prev ? { name: prev.name, version: prev.version, rules: prev.rules, dataClasses: prev.dataClasses } : null,
          { name: input.name, version, rules: input.rules, dataClasses: input.dataClasses },
        );
        if (changed) await audit('residency.processing_location_change', { sites: before }, { sites: after });
        // In memory within the transaction: a start committed in the same batch already sees it.
        this.cachePolicy(next);
        if (scope === 'project') this.policyOrg.set(id, org);
      });
    } catch (err) {
      if (prev) this.cachePolicy(prev);
      else (scope === 'org' ? this.orgPolicies : this.projectPolicies).delete(id);
      if (/UNIQUE|duplicate key|PRIMARY KEY/i.test(String(err)))
        throw conflict('policy_changed', 'the policy changed concurrently; read it again and retry');
      throw err;
    }
    this.cp?.reconstrainQueued();
    await this.flagRunning(now);
    return {
      ...next,
      createdAt: at,
      createdBy: p.userId,
      sitesBefore: before,
      sitesAfter: after,
      sitesChanged: changed,
    };
  }

  // ------------------------------------------------------------------ datasets

  private visibleDataset(p: Principal, id: string): DatasetRecord {
    const d = this.datasets.get(id);
    if (!d || d.deletedAt || !canSeeOrg(p, d.org).allowed) throw notFound('dataset', id);
    return d;
  }

  /** `inTrx` adds writes to the same transaction (the encrypted manifest, dataset-manifests.ts). */
  async createDataset(
    p: Principal,
    project: string,
    input: DatasetInput,
    requestId: string,
    inTrx?: DatasetTrxHook,
  ): Promise<DatasetRecord> {
    const org = await this.scopeOrg(p, 'project', project);
    const submit = canSubmit(p, org);
    if (!submit.allowed && submit.reason === 'operator_not_tenant')
      throw forbidden('platform operators do not register tenant data; register it as a member of the organisation');
    enforce(submit, 'viewers cannot register datasets');
    if (!this.sites.some((s) => s.id === input.homeSite)) {
      throw invalid('unknown_site', `the fleet has no site ${input.homeSite}`, [{ path: 'homeSite', message: 'unknown site' }]);
    }
    for (const [scope, pol] of [
      ['organisation', this.orgPolicies.get(org)],
      ['project', this.projectPolicies.get(project)],
    ] as const) {
      if (pol && !pol.dataClasses.includes(input.classification)) {
        throw invalid(
          'data_class_not_declared',
          `${scope} ${pol.scopeId} policy ${pol.name} v${pol.version} does not declare data class ${input.classification} (it declares ${pol.dataClasses.join(', ') || 'none'})`,
          [{ path: 'classification', message: 'not declared' }],
        );
      }
    }
    // The dataset's home site stores the data: it must be a site its rules could ever allow.
    const probe = evaluateResidency({
      sites: this.sites,
      org: this.orgPolicies.get(org) ?? null,
      project: this.projectPolicies.get(project) ?? null,
      projectId: project,
      datasets: [{ id: 'new', name: input.name, classification: input.classification }],
      now: this.now(),
    });
    if (!probe.everAllowedSites.includes(input.homeSite)) {
      const why = probe.excluded.find((e) => e.site === input.homeSite);
      throw invalid(
        'residency_forbidden',
        `a ${input.classification} dataset of project ${project} may not be kept in ${input.homeSite}: ${why?.reason ?? 'excluded'} (rule ${why?.rule ?? '?'})`,
        [{ path: 'homeSite', message: why?.rule ?? 'excluded' }],
      );
    }
    const at = new Date(this.now()).toISOString();
    const rec: DatasetRecord = { id: newId('ds'), org, project, ...input, createdAt: at, createdBy: p.userId, deletedAt: null };
    // Names are stored sealed (random nonces), so the unique index cannot see duplicates: checked here.
    const nameKey = `${project}\u0000${input.name}`;
    const taken = [...this.datasets.values()].some((d) => d.project === project && !d.deletedAt && d.name === input.name);
    if (taken || this.naming.has(nameKey))
      throw conflict('dataset_exists', `project ${project} already has a dataset named ${input.name}`);
    this.naming.add(nameKey);
    await this.store.fields.ready(org).catch((err) => {
      this.naming.delete(nameKey);
      throw err;
    });
    try {
      await this.store.write(async (trx) => {
        await trx
          .insertInto('datasets')
          .values({
            id: rec.id,
            org_id: org,
            project_id: project,
            name: this.store.fields.seal(org, 'dataset.name', rec.name),
            classification: rec.classification,
            home_site: rec.homeSite,
            size_bytes: rec.sizeBytes,
            checksum: rec.checksum,
            created_at: at,
            created_by: p.userId,
            deleted_at: null,
          })
          .execute();
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org,
          action: 'dataset.create',
          objectType: 'dataset',
          objectId: rec.id,
          after: { project, classification: rec.classification, homeSite: rec.homeSite },
          requestId,
        });
        await inTrx?.(trx, rec);
      });
    } catch (err) {
      if (/UNIQUE|duplicate key/i.test(String(err)))
        throw conflict('dataset_exists', `project ${project} already has a dataset named ${input.name}`);
      throw err;
    } finally {
      this.naming.delete(nameKey);
    }
    this.datasets.set(rec.id, sealedName(this.store.fields, rec, this.store.fields.seal(org, 'dataset.name', rec.name)));
    return rec;
  }

  /**
   * importRefusal: why a dataset of an imported organisation cannot be registered here (its home site
   * is not in this fleet, or its class is unknown), or null. Residency policies are not imported.
   */
  importRefusal(d: { classification: string; homeSite: string }): string | null {
    if (!(DATA_CLASSES as readonly string[]).includes(d.classification)) return `unknown data class ${d.classification}`;
    if (!this.sites.some((s) => s.id === d.homeSite)) return `this fleet has no site ${d.homeSite}`;
    return null;
  }

  /**
   * writeImported registers an imported organisation's datasets with their ids (inside the import's
   * transaction; names sealed as at registration); the returned function adds them to the registry
   * once the transaction committed. Their manifests were never exported: none is stored.
   */
  async writeImported(
    trx: Transaction<Database>,
    org: string,
    ds: {
      id: string;
      project: string;
      name: string;
      classification: string;
      homeSite: string;
      sizeBytes: number;
      checksum: string;
      createdAt: string;
      createdBy: string;
    }[],
  ): Promise<() => void> {
    const rows = ds.map((d) => ({
      id: d.id,
      org_id: org,
      project_id: d.project,
      name: this.store.fields.seal(org, 'dataset.name', d.name),
      classification: d.classification,
      home_site: d.homeSite,
      size_bytes: d.sizeBytes,
      checksum: d.checksum,
      created_at: d.createdAt,
      created_by: d.createdBy,
      deleted_at: null,
    }));
    for (const row of rows) await trx.insertInto('datasets').values(row).execute();
    return () => {
      for (const row of rows) this.datasets.set(row.id, toDataset(this.store.fields, row));
    };
  }

  async listDatasets(p: Principal, project?: string): Promise<DatasetRecord[]> {
    if (project) await this.scopeOrg(p, 'project', project);
    return [...this.datasets.values()]
      .filter((d) => !d.deletedAt && (isOperator(p) || d.org === p.org) && (!project || d.project === project))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  getDataset(p: Principal, id: string): DatasetRecord {
    return this.visibleDataset(p, id);
  }

  async updateDataset(
    p: Principal,
    id: string,
    patch: { sizeBytes?: number; checksum?: string },
    requestId: string,
    inTrx?: DatasetTrxHook,
  ): Promise<DatasetRecord> {
    const d = this.visibleDataset(p, id);
    enforce(canSubmit(p, d.org), 'only members of the organisation can update datasets');
    const at = new Date(this.now()).toISOString();
    const next = patched(d, patch);
    await this.store.write(async (trx) => {
      await trx
        .updateTable('datasets')
        .set({ size_bytes: next.sizeBytes, checksum: next.checksum })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: d.org,
        action: 'dataset.update',
        objectType: 'dataset',
        objectId: id,
        before: { sizeBytes: d.sizeBytes, checksum: d.checksum },
        after: { sizeBytes: next.sizeBytes, checksum: next.checksum },
        requestId,
      });
      await inTrx?.(trx, next);
    });
    this.datasets.set(id, next);
    return next;
  }

  /**
   * deleteDataset: the registry entry goes (its class stays known to queued jobs and evidence). Refused
   * (409 dataset_in_use) while a session that has not ended keeps its state in it; a dataset that was
   * ever a session's state also has that directory removed by the drivers (state-dirs.ts), asked for
   * in this transaction and carried out after it.
   */
  async deleteDataset(p: Principal, id: string, requestId: string, inTrx?: DatasetTrxHook): Promise<void> {
    const d = this.visibleDataset(p, id);
    enforce(canAdminOrg(p, d.org), 'only organisation admins can delete datasets');
    const at = new Date(this.now()).toISOString();
    const stateDir = await this.store.write(async (trx) => {
      const holder = await holderOf(trx, id);
      if (holder) {
        throw conflict(
          'dataset_in_use',
          `dataset ${id} is the state dataset of session ${holder.jobId} (${holder.state}): stop session ${holder.jobId} before deleting the dataset`,
        );
      }
      await trx.updateTable('datasets').set({ deleted_at: at }).where('id', '=', id).where('deleted_at', 'is', null).execute();
      const kept = await trx.selectFrom('jobs').select('id').where('state_dataset', '=', id).limit(1).executeTakeFirst();
      if (kept) {
        await trx
          .insertInto('dataset_state_removals')
          .values({ dataset_id: id, org_id: d.org, requested_at: at })
          .onConflict((oc) => oc.column('dataset_id').doNothing())
          .execute();
      }
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: d.org,
        action: 'dataset.delete',
        objectType: 'dataset',
        objectId: id,
        before: { classification: d.classification },
        ...(kept ? { after: { stateDirectory: 'removal requested' } } : {}),
        requestId,
      });
      await inTrx?.(trx, d);
      return !!kept;
    });
    this.datasets.set(id, patched(d, { deletedAt: at }));
    // Not done here (a driver failed, or a crash comes first): pending, finished at the next start.
    if (stateDir) await this.stateDirs?.finish(id).catch(() => false);
  }

  /** datasetsOfOrg: live and deleted datasets of an organisation (for the record of processing). */
  datasetsOfOrg(org: string): DatasetRecord[] {
    return [...this.datasets.values()].filter((d) => d.org === org);
  }

  /** policiesOfOrg: the policies in force for an organisation and its projects. */
  policiesOfOrg(org: string): PolicyVersion[] {
    const out: PolicyVersion[] = [];
    const o = this.orgPolicies.get(org);
    if (o) out.push(o);
    for (const d of this.projectPolicies.values()) if (this.policyOrg.get(d.scopeId) === org) out.push(d);
    return out;
  }

  /** jobResidency: the live evaluation of a job, its evidence and flags. */
  async jobResidency(p: Principal, jobId: string) {
    const n = Number(jobId);
    const row = Number.isSafeInteger(n)
      ? await this.store.db.selectFrom('jobs').selectAll().where('id', '=', n).executeTakeFirst()
      : undefined;
    if (!row || !canReadJob(p, row.org_id).allowed) throw notFound('job', jobId);
    const spec = openSpec(this.store.fields, row.org_id, row.spec);
    const ev = this.evaluate(row.org_id, row.project_id, spec, this.now());
    const evidence = await this.store.db
      .selectFrom('placement_evidence')
      .select(['at', 'site', 'evidence'])
      .where('job_id', '=', n)
      .orderBy('id')
      .execute();
    return {
      jobId,
      state: row.state,
      evaluation: { ...ev, evaluatedAt: new Date(this.now()).toISOString() },
      placements: evidence.map((e) => openEvidence(this.store.fields, row.org_id, e.evidence)),
      flags: await this.flagsOf(jobId),
    };
  }

  /** siteViews: every site's jurisdiction, operator and attestations with their status now. */
  siteViews() {
    const now = this.now();
    return this.sites.map((s) => ({
      ...s,
      attestations: s.attestations.map((a) => ({
        ...a,
        current: currentAttestations({ ...s, attestations: [a] }, now).length > 0,
      })),
    }));
  }

  /** rules of a policy, for documentation views. */
  rulesOfPolicy(v: PolicyVersion) {
    return rulesOf(v).map((r) => ({ id: r.id, source: r.source, requirement: r.requirement }));
  }
}

/** withoutSiteConstraints: the spec with its site constraints already applied (for a sub-fleet check). */
function withoutSiteConstraints(spec: JobSpec): JobSpec {
  if (!spec.constraints) return spec;
  const { requiredSites: _r, forbiddenSites: _f, requiredCertifications: _c, ...rest } = spec.constraints;
  return { ...spec, constraints: rest };
}

function toPolicyVersion(r: PolicyRowLike): PolicyVersion {
  return {
    scope: r.scope_type as 'org' | 'project',
    scopeId: r.scope_id,
    name: r.name,
    version: r.version,
    rules: parseJson(r.rules, ResidencyRulesSchema, 'residency policy rules'),
    dataClasses: parseJson(r.data_classes, DataClassesSchema, 'residency policy data classes'),
  };
}

function toView(r: PolicyRowLike): PolicyView {
  const v = toPolicyVersion(r);
  const before = parseJson(r.sites_before, SiteIdsSchema, 'residency policy sites');
  const after = parseJson(r.sites_after, SiteIdsSchema, 'residency policy sites');
  return {
    ...v,
    createdAt: r.created_at,
    createdBy: r.created_by,
    sitesBefore: before,
    sitesAfter: after,
    sitesChanged: before.join(',') !== after.join(','),
  };
}

/**
 * sealedName: a dataset record whose name is opened from the sealed value on every read, so that once
 * the organisation is erased the name reads as erased without the registry being reloaded.
 */
function sealedName(f: FieldSealer, rec: DatasetRecord, sealed: string): DatasetRecord {
  const { name: _n, ...rest } = rec;
  return {
    ...rest,
    get name() {
      return f.open(rec.org, 'dataset.name', sealed) ?? ERASED;
    },
  };
}

/** patched: a dataset record with some fields changed, keeping its sealed name (a getter; a spread would copy the text). */
function patched(d: DatasetRecord, patch: Partial<Omit<DatasetRecord, 'name'>>): DatasetRecord {
  return Object.defineProperties(
    {},
    { ...Object.getOwnPropertyDescriptors(d), ...Object.getOwnPropertyDescriptors(patch) },
  ) as DatasetRecord;
}

/** openEvidence: stored placement evidence with its dataset names opened. */
function openEvidence(f: FieldSealer, org: string, json: string): Record<string, unknown> {
  const e = parseJson(json, EvidenceDatasetsSchema, 'placement evidence');
  if (Array.isArray(e.datasets))
    e.datasets = e.datasets.map((d) => ({ ...d, name: f.open(org, 'dataset.name', d.name) ?? ERASED }));
  return e;
}

function toDataset(f: FieldSealer, d: DatasetsTable): DatasetRecord {
  return sealedName(f, toDatasetRecord(d), d.name);
}

function toDatasetRecord(d: DatasetsTable): DatasetRecord {
  return {
    id: d.id,
    org: d.org_id,
    project: d.project_id,
    name: d.name,
    classification: d.classification as DataClass,
    homeSite: d.home_site,
    sizeBytes: d.size_bytes,
    checksum: d.checksum,
    createdAt: d.created_at,
    createdBy: d.created_by,
    deletedAt: d.deleted_at,
  };
}
