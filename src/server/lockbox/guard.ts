/**
 * The lockbox guard: the one check every read of tenant data (job specs and logs, secrets,
 * datasets, reports) goes through. Tenants may touch their own organisation's data (other orgs:
 * 404). Operators need an active approved or break-glass request of their own covering the object
 * and verb; each allowed use is recorded (access_uses + an audit record in the tenant's slice).
 * Expiry needs no writes: a request's state follows from the clock.
 */
import { canSeeOrg, isOperator } from '../../model/authz.js';
import { DomainError, notFound } from '../../model/errors.js';
import type { AccessVerb } from '../../model/lockbox-schemas.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { newId } from '../principal.js';
import { type RequestRow, scopeOf } from './rows.js';
import { lockboxRequired, parseObjectRef, scopeCovers } from './scope.js';

export class LockboxGuard {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  /** check lets the caller perform `verb` on `object` (e.g. `job:812`) of organisation `org`, or throws. */
  async check(ctx: RequestContext, org: string, object: string, verb: AccessVerb): Promise<void> {
    const { principal: p, requestId } = ctx;
    const ref = parseObjectRef(object);
    if (!isOperator(p)) {
      if (!canSeeOrg(p, org).allowed) throw notFound(ref.kind, ref.id);
      return;
    }
    const grant = await this.activeGrant(p, org, object, verb);
    if (!grant) throw lockboxRequired(org, object, verb);
    const at = new Date(this.now()).toISOString();
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
   * grants: `check` as a yes/no for views that withhold instead of refusing: true (the use recorded
   * and audited as above) or false where the answer would be 403 lockbox_approval_required.
   */
  async grants(ctx: RequestContext, org: string, object: string, verb: AccessVerb): Promise<boolean> {
    try {
      await this.check(ctx, org, object, verb);
      return true;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'lockbox_approval_required') return false;
      throw err;
    }
  }

  private async activeGrant(p: Principal, org: string, object: string, verb: AccessVerb): Promise<RequestRow | null> {
    const rows = await this.store.db
      .selectFrom('access_requests')
      .selectAll()
      .where('requester', '=', p.userId)
      .where('org_id', '=', org)
      .where('decision', '=', 'approved')
      .where('access_ends_at', '>', new Date(this.now()).toISOString())
      .execute();
    return rows.find((r) => scopeCovers(scopeOf(r), object, verb)) ?? null;
  }
}
