/**
 * Deciding an access request: only the tenant's admins decide, never an operator, and an approval
 * counts only from an admin independent of the platform (see requireIndependentApprover).
 */
import { canAdminAsTenant } from '../../model/authz.js';
import { conflict, DomainError, forbidden } from '../../model/errors.js';
import type { AccessRequest } from '../../model/lockbox-schemas.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { type RequestRow, stateOf, toAccessRequest } from './rows.js';

export async function decideAccess(
  deps: { store: Store; now: () => number },
  ctx: RequestContext,
  row: RequestRow,
  decision: 'approved' | 'denied',
  comment: string | undefined,
): Promise<AccessRequest> {
  const { principal: p, requestId } = ctx;
  const { id } = row;
  const verb = decision === 'approved' ? 'approve' : 'deny';
  const d = canAdminAsTenant(p, row.org_id);
  if (!d.allowed) {
    throw forbidden(
      d.reason === 'operator_not_tenant'
        ? `operators cannot ${verb} access requests: an admin of organisation ${row.org_id} decides`
        : `only admins of organisation ${row.org_id} can ${verb} access requests`,
    );
  }
  if (decision === 'approved') await requireIndependentApprover(deps.store, p, row);
  const now = deps.now();
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
  await deps.store.write(async (trx) => {
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
 * operator passed only the SHA-256 of a token the tenant generated (tenancy/onboarding.ts).
 */
async function requireIndependentApprover(store: Store, p: Principal, row: RequestRow): Promise<void> {
  const notIndependent = (why: string) =>
    new DomainError(
      'forbidden',
      'approver_not_independent',
      `${p.userId} cannot approve access request ${row.id}: ${why}; an admin of ${row.org_id} created by another admin of ${row.org_id} or logging in through its identity provider must decide`,
    );
  if (p.userId === row.requester) throw notIndependent('the requester cannot approve its own request');
  const u = await store.db.selectFrom('users').select('operator_known').where('id', '=', p.userId).executeTakeFirst();
  if (!u) throw notIndependent('the approver is not a registered user');
  if (u.operator_known)
    throw notIndependent('an operator created this user or issued one of its tokens, so an operator may hold its credential');
}
