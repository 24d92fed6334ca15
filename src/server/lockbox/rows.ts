/** Access requests and uses as stored rows and as callers see them; a request's state follows from the clock. */
import type { Selectable } from 'kysely';
import { parseJson } from '../../model/json.js';
import {
  type AccessRequest,
  type AccessScope,
  AccessScopeSchema,
  type AccessState,
  type AccessUse,
} from '../../model/lockbox-schemas.js';
import type { AccessRequestsTable, AccessUsesTable } from '../../store/lockbox-schema.js';

export type RequestRow = Selectable<AccessRequestsTable>;

export const scopeOf = (r: RequestRow): AccessScope => parseJson(r.scope, AccessScopeSchema, `access request ${r.id} scope`);

export function stateOf(r: RequestRow, now: number): AccessState {
  if (r.decision === null) return r.approval_deadline && now >= Date.parse(r.approval_deadline) ? 'expired' : 'pending';
  if (r.decision === 'denied') return 'denied';
  return r.access_ends_at && now < Date.parse(r.access_ends_at) ? 'active' : 'ended';
}

export function toAccessRequest(r: RequestRow, now: number): AccessRequest {
  return {
    id: r.id,
    org: r.org_id,
    requester: r.requester,
    kind: r.kind as AccessRequest['kind'],
    cause: r.cause,
    reasonCode: r.reason_code,
    scope: scopeOf(r),
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
export function auditView(r: RequestRow) {
  return {
    kind: r.kind,
    cause: r.cause,
    reasonCode: r.reason_code,
    scope: scopeOf(r),
    durationSeconds: r.duration_seconds,
    requesterCountry: r.requester_country,
    derivedDataRetentionDays: r.derived_retention_days,
    approvalDeadline: r.approval_deadline,
    accessEndsAt: r.access_ends_at,
  };
}

export function toUse(r: Selectable<AccessUsesTable>): AccessUse {
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
