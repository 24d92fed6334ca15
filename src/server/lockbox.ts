/**
 * Lockbox: operators cannot read a tenant's data (job specs and logs, secrets, datasets) unless an
 * admin of the tenant approved a scoped, time-limited access request, or the operator used
 * break-glass, which the tenant is told about afterwards. Every use is an audit record in the
 * tenant's slice. `requireTenantDataAccess` is the one guard every tenant-data read goes through.
 *
 * Expiry needs no writes: a request's state (pending → expired, active → ended) follows from the
 * clock, so nothing can "forget" to expire an access.
 */
import type { Selectable } from 'kysely';
import { conflict, DomainError, forbidden, invalid, notFound } from '../model/errors.js';
import {
  type AccessNotification,
  type AccessObjectKind,
  type AccessRequest,
  type AccessRequestCreate,
  type AccessScope,
  type AccessState,
  type AccessUse,
  type AccessVerb,
  type BreakGlassCreate,
  OBJECT_REF,
} from '../model/lockbox-schemas.js';
import type { Job } from '../model/schemas.js';
import { appendAudit } from '../store/audit.js';
import type { AccessRequestsTable, AccessUsesTable } from '../store/lockbox-schema.js';
import type { Store } from '../store/open-store.js';
import { isOperator, newId, type Principal } from './principal.js';

type RequestRow = Selectable<AccessRequestsTable>;

/** Latest approval deadline an operator may set: 30 days ahead. */
const MAX_DEADLINE_MS = 30 * 86400_000;

/** Fields of a job spec that are tenant data; the rest (resources, project, name) is operational metadata. */
export const REDACTED_JOB_FIELDS = [
  'name',
  'spec.name',
  'spec.command',
  'spec.image',
  'spec.env',
  'spec.secretEnv',
  'spec.labels',
] as const;

/** parseObjectRef splits `job:812` / `jobs:*` into a normalised kind and id. */
export function parseObjectRef(ref: string): { kind: AccessObjectKind; id: string } {
  const m = OBJECT_REF.exec(ref);
  if (!m) throw invalid('invalid_object_ref', `${ref} is not an object reference like job:812, job:* or dataset:weights`);
  return { kind: m[1] as AccessObjectKind, id: m[2]! };
}

/** scopeCovers: does a granted scope include this object and verb? */
export function scopeCovers(scope: AccessScope, object: string, verb: AccessVerb): boolean {
  if (!scope.verbs.includes(verb)) return false;
  const want = parseObjectRef(object);
  return scope.objects.some((o) => {
    const have = parseObjectRef(o);
    return have.kind === want.kind && (have.id === '*' || have.id === want.id);
  });
}

export function lockboxRequired(org: string, object: string, verb: AccessVerb): DomainError {
  return new DomainError(
    'forbidden',
    'lockbox_approval_required',
    `operators cannot ${verb} ${object} of organisation ${org} without the tenant's consent: file a request with ` +
      `\`gigafab access request --org ${org} --object ${object} --verb ${verb} --cause "..." --country DE\` ` +
      `(POST /v1/access-requests) and ask an admin of ${org} to approve it; in an emergency use \`gigafab access break-glass\` (the tenant is notified)`,
  );
}

export class Lockbox {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private at(): string {
    return new Date(this.now()).toISOString();
  }

  // ------------------------------------------------------------ the guard

  /**
   * requireTenantDataAccess lets `p` perform `verb` on `object` (e.g. `job:812`) of organisation
   * `org`, or throws. Tenants may touch their own organisation's data (other orgs: 404). Operators
   * need an active approved or break-glass request of their own covering the object and verb;
   * each allowed use is recorded (access_uses + an audit record in the tenant's slice).
   */
  async requireTenantDataAccess(
    p: Principal,
    org: string,
    object: string,
    verb: AccessVerb,
    requestId: string | null = null,
  ): Promise<void> {
    const ref = parseObjectRef(object);
    if (!isOperator(p)) {
      if (p.org !== org) throw notFound(ref.kind, ref.id);
      return;
    }
    const grant = await this.activeGrant(p, org, object, verb);
    if (!grant) throw lockboxRequired(org, object, verb);
    const at = this.at();
    await this.store.write(async (trx) => {
      await trx
        .insertInto('access_uses')
        .values({
          id: newId('use'),
          access_request_id: grant.id,
          org_id: org,
          actor: p.userId,
          object,
          verb,
          at,
          request_id: requestId,
        })
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: 'lockbox.access',
        objectType: ref.kind,
        objectId: ref.id,
        after: { verb, accessRequest: grant.id, kind: grant.kind },
        requestId,
      });
    });
  }

  /**
   * grants: requireTenantDataAccess as a yes/no for views that withhold instead of refusing: true
   * (the use recorded and audited as above) or false where the answer would be 403 lockbox_approval_required.
   */
  async grants(p: Principal, org: string, object: string, verb: AccessVerb, requestId: string | null): Promise<boolean> {
    try {
      await this.requireTenantDataAccess(p, org, object, verb, requestId);
      return true;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'lockbox_approval_required') return false;
      throw err;
    }
  }

  /** jobView: the job as `p` may see it: full for its tenant and for operators with read-spec access, else redacted. */
  async jobView(p: Principal, job: Job, requestId: string | null): Promise<Job & { redacted?: string[] }> {
    return (await this.grants(p, job.org, `job:${job.id}`, 'read-spec', requestId)) ? job : redactJob(job);
  }

  /**
   * jobListView: a page of jobs as `p` may see it. An operator sees an organisation's jobs in full
   * only under an approved read-spec access to `job:*` of that organisation (one audited use per
   * organisation and request, not per job); a grant for single jobs does not open the list.
   */
  async jobListView(p: Principal, jobs: readonly Job[], requestId: string | null): Promise<(Job & { redacted?: string[] })[]> {
    if (!isOperator(p)) return [...jobs];
    const open = new Set<string>();
    for (const org of new Set(jobs.map((j) => j.org))) {
      if (await this.grants(p, org, 'job:*', 'read-spec', requestId)) open.add(org);
    }
    return jobs.map((j) => (open.has(j.org) ? j : redactJob(j)));
  }

  private async activeGrant(p: Principal, org: string, object: string, verb: AccessVerb): Promise<RequestRow | null> {
    const rows = await this.store.db
      .selectFrom('access_requests')
      .selectAll()
      .where('requester', '=', p.userId)
      .where('org_id', '=', org)
      .where('decision', '=', 'approved')
      .where('access_ends_at', '>', this.at())
      .execute();
    return rows.find((r) => scopeCovers(JSON.parse(r.scope) as AccessScope, object, verb)) ?? null;
  }

  // ------------------------------------------------------------ requests and decisions

  async createRequest(p: Principal, input: AccessRequestCreate, requestId: string): Promise<AccessRequest> {
    this.requireOperator(p, 'file access requests');
    await this.requireOrg(input.org);
    const now = this.now();
    const deadline = Date.parse(input.approvalDeadline);
    if (!(deadline > now) || deadline - now > MAX_DEADLINE_MS) {
      throw invalid('invalid_deadline', 'approvalDeadline must lie in the future and at most 30 days ahead', [
        { path: 'approvalDeadline', message: 'not in (now, now + 30 days]' },
      ]);
    }
    const row: RequestRow = {
      ...this.baseRow(p, input.org, input.scope, input),
      kind: 'request',
      cause: input.cause,
      reason_code: input.reasonCode,
      approval_deadline: new Date(deadline).toISOString(),
      decision: null,
      decided_by: null,
      decided_at: null,
      access_ends_at: null,
    };
    await this.store.write(async (trx) => {
      await trx.insertInto('access_requests').values(row).execute();
      await appendAudit(trx, {
        at: row.created_at,
        actor: p.userId,
        org: row.org_id,
        action: 'lockbox.request',
        objectType: 'access_request',
        objectId: row.id,
        after: auditView(row),
        requestId,
      });
    });
    return toAccessRequest(row, now);
  }

  async breakGlass(p: Principal, input: BreakGlassCreate, requestId: string): Promise<AccessRequest> {
    this.requireOperator(p, 'use break-glass access');
    await this.requireOrg(input.org);
    const now = this.now();
    const base = this.baseRow(p, input.org, input.scope, input);
    const row: RequestRow = {
      ...base,
      kind: 'break-glass',
      cause: input.justification,
      reason_code: 'incident',
      approval_deadline: null,
      decision: 'approved',
      decided_by: 'system:break-glass',
      decided_at: base.created_at,
      access_ends_at: new Date(now + input.durationSeconds * 1000).toISOString(),
    };
    const message =
      `operator ${p.userId} used break-glass access to ${input.scope.objects.join(', ')} (${input.scope.verbs.join(', ')}) ` +
      `from ${input.requesterCountry} until ${row.access_ends_at}; justification: ${input.justification}`;
    await this.store.write(async (trx) => {
      await trx.insertInto('access_requests').values(row).execute();
      await trx
        .insertInto('access_notifications')
        .values({
          id: newId('ntf'),
          org_id: row.org_id,
          access_request_id: row.id,
          kind: 'break-glass',
          message,
          created_at: row.created_at,
        })
        .execute();
      await appendAudit(trx, {
        at: row.created_at,
        actor: p.userId,
        org: row.org_id,
        action: 'lockbox.break-glass',
        objectType: 'access_request',
        objectId: row.id,
        after: auditView(row),
        requestId,
      });
    });
    return toAccessRequest(row, now);
  }

  approve(p: Principal, id: string, comment: string | undefined, requestId: string): Promise<AccessRequest> {
    return this.decide(p, id, 'approved', comment, requestId);
  }

  deny(p: Principal, id: string, comment: string | undefined, requestId: string): Promise<AccessRequest> {
    return this.decide(p, id, 'denied', comment, requestId);
  }

  private async decide(
    p: Principal,
    id: string,
    decision: 'approved' | 'denied',
    comment: string | undefined,
    requestId: string,
  ): Promise<AccessRequest> {
    const verb = decision === 'approved' ? 'approve' : 'deny';
    const row = await this.visibleRow(p, id);
    if (isOperator(p))
      throw forbidden(`operators cannot ${verb} access requests: an admin of organisation ${row.org_id} decides`);
    if (p.role !== 'admin') throw forbidden(`only admins of organisation ${row.org_id} can ${verb} access requests`);
    if (decision === 'approved') await this.requireIndependentApprover(p, row);
    const now = this.now();
    const state = stateOf(row, now);
    if (state === 'expired') {
      throw conflict('access_request_expired', `access request ${id} expired unanswered at ${row.approval_deadline}`);
    }
    if (state !== 'pending') throw conflict('access_request_decided', `access request ${id} was already decided (${state})`);
    const at = new Date(now).toISOString();
    const updated: RequestRow = {
      ...row,
      decision,
      decided_by: p.userId,
      decided_at: at,
      decision_comment: comment ?? null,
      access_ends_at: decision === 'approved' ? new Date(now + row.duration_seconds * 1000).toISOString() : null,
    };
    await this.store.write(async (trx) => {
      // Conditional on still being undecided: two admins racing cannot both decide.
      const res = await trx
        .updateTable('access_requests')
        .set({
          decision: updated.decision,
          decided_by: updated.decided_by,
          decided_at: updated.decided_at,
          decision_comment: updated.decision_comment,
          access_ends_at: updated.access_ends_at,
        })
        .where('id', '=', id)
        .where('decision', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw conflict('access_request_decided', `access request ${id} was already decided`);
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: row.org_id,
        action: `lockbox.${verb}`,
        objectType: 'access_request',
        objectId: id,
        before: { state },
        after: { state: stateOf(updated, now), accessEndsAt: updated.access_ends_at, comment: comment ?? null },
        requestId,
      });
    });
    return toAccessRequest(updated, now);
  }

  /**
   * An approval counts only from an admin whose credential only the tenant ever held: never the
   * requester, never a user an operator created or minted a token for (possible before this version;
   * such users carry `operator_known`), nor one made by such a user. The onboarding admin counts: the
   * operator passed only the SHA-256 of a token the tenant generated (tenancy.ts).
   */
  private async requireIndependentApprover(p: Principal, row: RequestRow): Promise<void> {
    const notIndependent = (why: string) =>
      new DomainError(
        'forbidden',
        'approver_not_independent',
        `${p.userId} cannot approve access request ${row.id}: ${why}; an admin of ${row.org_id} created by another admin of ${row.org_id} or logging in through its identity provider must decide`,
      );
    if (p.userId === row.requester) throw notIndependent('the requester cannot approve its own request');
    const u = await this.store.db.selectFrom('users').select('operator_known').where('id', '=', p.userId).executeTakeFirst();
    if (!u) throw notIndependent('the approver is not a registered user');
    if (u.operator_known)
      throw notIndependent('an operator created this user or issued one of its tokens, so an operator may hold its credential');
  }

  // ------------------------------------------------------------ reading (operators: all; tenants: their org)

  async list(p: Principal, q: { org?: string; state?: AccessState; limit: number }): Promise<AccessRequest[]> {
    let query = this.store.db.selectFrom('access_requests').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc');
    const org = this.orgFilter(p, q.org);
    if (org !== null) query = query.where('org_id', '=', org);
    const now = this.now();
    const items = (await query.execute()).map((r) => toAccessRequest(r, now));
    return (q.state ? items.filter((r) => r.state === q.state) : items).slice(0, q.limit);
  }

  async get(p: Principal, id: string): Promise<AccessRequest & { uses: AccessUse[] }> {
    const row = await this.visibleRow(p, id);
    const uses = await this.store.db
      .selectFrom('access_uses')
      .selectAll()
      .where('access_request_id', '=', id)
      .orderBy('at')
      .execute();
    return { ...toAccessRequest(row, this.now()), uses: uses.map(toUse) };
  }

  async listUses(p: Principal, q: { org?: string; accessRequest?: string; limit: number }): Promise<AccessUse[]> {
    let query = this.store.db.selectFrom('access_uses').selectAll().orderBy('at', 'desc').limit(q.limit);
    const org = this.orgFilter(p, q.org);
    if (org !== null) query = query.where('org_id', '=', org);
    if (q.accessRequest) query = query.where('access_request_id', '=', q.accessRequest);
    return (await query.execute()).map(toUse);
  }

  async listNotifications(p: Principal, q: { org?: string; limit: number }): Promise<AccessNotification[]> {
    let query = this.store.db.selectFrom('access_notifications').selectAll().orderBy('created_at', 'desc').limit(q.limit);
    const org = this.orgFilter(p, q.org);
    if (org !== null) query = query.where('org_id', '=', org);
    return (await query.execute()).map((r) => ({
      id: r.id,
      org: r.org_id,
      accessRequest: r.access_request_id ?? null,
      kind: r.kind,
      message: r.message,
      createdAt: r.created_at,
    }));
  }

  /** The organisation a listing is limited to: a tenant's own (whatever it asked), an operator's choice, or null (all). */
  private orgFilter(p: Principal, asked: string | undefined): string | null {
    if (!isOperator(p)) return p.org ?? '';
    return asked ?? null;
  }

  private async visibleRow(p: Principal, id: string): Promise<RequestRow> {
    const row = await this.store.db.selectFrom('access_requests').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || (!isOperator(p) && row.org_id !== p.org)) throw notFound('access_request', id);
    return row;
  }

  private requireOperator(p: Principal, what: string): void {
    if (!isOperator(p)) throw forbidden(`only platform operators ${what}; tenants already have access to their own data`);
  }

  private async requireOrg(org: string): Promise<void> {
    const r = await this.store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
    if (!r) throw notFound('org', org);
  }

  private baseRow(
    p: Principal,
    org: string,
    scope: AccessScope,
    input: { durationSeconds: number; requesterCountry: string; derivedDataRetentionDays: number },
  ) {
    // Store the normalised form (`jobs:*` → `job:*`) so that what the tenant sees is what is enforced.
    const objects = [...new Set(scope.objects.map((o) => parseObjectRef(o)).map((r) => `${r.kind}:${r.id}`))];
    return {
      id: newId('acr'),
      org_id: org,
      requester: p.userId,
      scope: JSON.stringify({ objects, verbs: [...new Set(scope.verbs)] }),
      duration_seconds: input.durationSeconds,
      requester_country: input.requesterCountry,
      derived_retention_days: input.derivedDataRetentionDays,
      decision_comment: null,
      created_at: this.at(),
    };
  }
}

export function stateOf(r: RequestRow, now: number): AccessState {
  if (r.decision === null) return r.approval_deadline && now >= Date.parse(r.approval_deadline) ? 'expired' : 'pending';
  if (r.decision === 'denied') return 'denied';
  return r.access_ends_at && now < Date.parse(r.access_ends_at) ? 'active' : 'ended';
}

function toAccessRequest(r: RequestRow, now: number): AccessRequest {
  return {
    id: r.id,
    org: r.org_id,
    requester: r.requester,
    kind: r.kind as AccessRequest['kind'],
    cause: r.cause,
    reasonCode: r.reason_code,
    scope: JSON.parse(r.scope) as AccessScope,
    durationSeconds: r.duration_seconds,
    requesterCountry: r.requester_country,
    derivedDataRetentionDays: r.derived_retention_days,
    approvalDeadline: r.approval_deadline,
    state: stateOf(r, now),
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    decisionComment: r.decision_comment,
    accessEndsAt: r.access_ends_at,
    createdAt: r.created_at,
  };
}

/** What the audit record keeps of a request: everything the tenant must be able to review. */
function auditView(r: RequestRow) {
  return {
    kind: r.kind,
    cause: r.cause,
    reasonCode: r.reason_code,
    scope: JSON.parse(r.scope) as AccessScope,
    durationSeconds: r.duration_seconds,
    requesterCountry: r.requester_country,
    derivedDataRetentionDays: r.derived_retention_days,
    approvalDeadline: r.approval_deadline,
    accessEndsAt: r.access_ends_at,
  };
}

function toUse(r: Selectable<AccessUsesTable>): AccessUse {
  return {
    id: r.id,
    accessRequest: r.access_request_id,
    org: r.org_id,
    actor: r.actor,
    object: r.object,
    verb: r.verb,
    at: r.at,
    requestId: r.request_id,
  };
}

/** redactJob withholds the tenant-data fields of a job spec, keeping what operations need. */
export function redactJob(job: Job): Job & { redacted: string[] } {
  const { command: _c, image: _i, env: _e, secretEnv: _s, ...rest } = job.spec;
  // The name is tenant-written too; operators see a neutral stand-in.
  const name = `job ${job.id}`;
  return { ...job, name, spec: { ...rest, name, labels: {} }, redacted: [...REDACTED_JOB_FIELDS] };
}
