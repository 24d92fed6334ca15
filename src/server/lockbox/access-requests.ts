/**
 * Access requests: an operator files a scoped, time-limited request for a tenant's data and an admin
 * of the tenant decides (access-decisions.ts); break-glass opens access at once and notifies the
 * tenant. Operators read all requests, uses and notifications; tenants their organisation's.
 */
import { enforce, isOperator, operatorOnly } from '../../model/authz.js';
import { invalid, notFound } from '../../model/errors.js';
import type {
  AccessNotification,
  AccessRequest,
  AccessRequestCreate,
  AccessScope,
  AccessState,
  AccessUse,
  BreakGlassCreate,
} from '../../model/lockbox-schemas.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { newId } from '../principal.js';
import { decideAccess } from './access-decisions.js';
import { auditView, type RequestRow, toAccessRequest, toUse } from './rows.js';
import { normaliseScope } from './scope.js';

/** Latest approval deadline an operator may set: 30 days ahead. */
const MAX_DEADLINE_MS = 30 * 86400_000;

const operatorsOnly = (what: string) => `only platform operators ${what}; tenants already have access to their own data`;

export class AccessRequests {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  async create(ctx: RequestContext, input: AccessRequestCreate): Promise<AccessRequest> {
    const p = ctx.principal;
    enforce(operatorOnly(p), operatorsOnly('file access requests'));
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
        requestId: ctx.requestId,
      });
    });
    return toAccessRequest(row, now);
  }

  async breakGlass(ctx: RequestContext, input: BreakGlassCreate): Promise<AccessRequest> {
    const p = ctx.principal;
    enforce(operatorOnly(p), operatorsOnly('use break-glass access'));
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
        requestId: ctx.requestId,
      });
    });
    return toAccessRequest(row, now);
  }

  async approve(ctx: RequestContext, id: string, comment: string | undefined): Promise<AccessRequest> {
    const row = await this.visibleRow(ctx.principal, id);
    return decideAccess({ store: this.store, now: this.now }, ctx, row, 'approved', comment);
  }

  async deny(ctx: RequestContext, id: string, comment: string | undefined): Promise<AccessRequest> {
    const row = await this.visibleRow(ctx.principal, id);
    return decideAccess({ store: this.store, now: this.now }, ctx, row, 'denied', comment);
  }

  async list(p: Principal, q: { org?: string; state?: AccessState; limit: number }): Promise<AccessRequest[]> {
    let query = this.store.db.selectFrom('access_requests').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc');
    const org = orgFilter(p, q.org);
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
    const org = orgFilter(p, q.org);
    if (org !== null) query = query.where('org_id', '=', org);
    if (q.accessRequest) query = query.where('access_request_id', '=', q.accessRequest);
    return (await query.execute()).map(toUse);
  }

  async listNotifications(p: Principal, q: { org?: string; limit: number }): Promise<AccessNotification[]> {
    let query = this.store.db.selectFrom('access_notifications').selectAll().orderBy('created_at', 'desc').limit(q.limit);
    const org = orgFilter(p, q.org);
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

  private async visibleRow(p: Principal, id: string): Promise<RequestRow> {
    const row = await this.store.db.selectFrom('access_requests').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || (!isOperator(p) && row.org_id !== p.org)) throw notFound('access_request', id);
    return row;
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
    return {
      id: newId('acr'),
      org_id: org,
      requester: p.userId,
      // Stored normalised, so that what the tenant sees is what is enforced.
      scope: JSON.stringify(normaliseScope(scope)),
      duration_seconds: input.durationSeconds,
      requester_country: input.requesterCountry,
      derived_retention_days: input.derivedDataRetentionDays,
      decision_comment: null,
      created_at: new Date(this.now()).toISOString(),
    };
  }
}

/** The organisation a listing is limited to: a tenant's own (whatever it asked), an operator's choice, or null (all). */
function orgFilter(p: Principal, asked: string | undefined): string | null {
  if (!isOperator(p)) return p.org ?? '';
  return asked ?? null;
}
