/** Audit records are appended inside the same transaction as the change they describe. */
import type { Transaction } from 'kysely';
import { insertReturningId } from './fast-insert.js';
import type { Database } from './schema.js';

export interface AuditEntry {
  actor: string;
  org: string | null;
  action: string;
  objectType: string;
  objectId: string;
  before?: unknown;
  after?: unknown;
  requestId?: string | null;
  at: string;
}

export async function appendAudit(trx: Transaction<Database>, e: AuditEntry): Promise<void> {
  await insertReturningId(trx, 'audit', {
    at: e.at,
    actor: e.actor,
    org_id: e.org,
    action: e.action,
    object_type: e.objectType,
    object_id: e.objectId,
    before: e.before === undefined ? null : JSON.stringify(e.before),
    after: e.after === undefined ? null : JSON.stringify(e.after),
    request_id: e.requestId ?? null,
  });
}
