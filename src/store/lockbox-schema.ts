/** Table types of the lockbox (operator access with tenant consent, migration 006_lockbox). */

export interface AccessRequestsTable {
  id: string;
  org_id: string;
  /** Pseudonymous user id of the operator who asked. */
  requester: string;
  /** 'request' (needs an org admin's approval) or 'break-glass' (immediate, tenant notified). */
  kind: string;
  cause: string;
  /** customer-support | incident | maintenance | legal-request (lockbox-schemas.ts). */
  reason_code: string;
  /** JSON {objects: string[], verbs: string[]}. */
  scope: string;
  duration_seconds: number;
  /** ISO 3166-1 alpha-2 country the access is made from. */
  requester_country: string;
  derived_retention_days: number;
  /** Break-glass requests have none. */
  approval_deadline: string | null;
  /** null while undecided; 'approved' | 'denied'. Break-glass is 'approved' on creation. */
  decision: string | null;
  decided_by: string | null;
  decided_at: string | null;
  decision_comment: string | null;
  /** End of the access window (set when access is granted). */
  access_ends_at: string | null;
  created_at: string;
}

export interface AccessUsesTable {
  id: string;
  access_request_id: string;
  org_id: string;
  actor: string;
  object: string;
  verb: string;
  at: string;
  request_id: string | null;
}

export interface AccessNotificationsTable {
  id: string;
  org_id: string;
  /** null for notices of identity actions (onboarding, an operator disabling a user). */
  access_request_id: string | null;
  kind: string;
  message: string;
  created_at: string;
}
