/**
 * The audit log as a page, newest first: operators read every record (tenant-written payloads
 * withheld, privacy.ts), an organisation's admins their organisation's slice.
 */
import { z } from 'zod';
import { canReadAudit, enforce, isOperator } from '../../model/authz.js';
import { parseJson } from '../../model/json.js';
import type { Principal } from '../../model/principal.js';
import type { AuditRecord } from '../../model/schemas.js';
import type { Store } from '../../store/open-store.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { operatorIds } from '../tenancy/user-views.js';
import { forOperator } from './privacy.js';

/** A record's payload is whatever JSON the action wrote. */
const Payload = z.unknown();

export async function auditListing(
  store: Store,
  p: Principal,
  limit: number,
  cursor?: string,
): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
  enforce(canReadAudit(p), 'only operators and organisation admins can read the audit log');
  let q = store.db
    .selectFrom('audit')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (!isOperator(p)) q = q.where('org_id', '=', p.org ?? '');
  if (cursor !== undefined) q = q.where('id', '<', decodeCursor(cursor));
  const rows = await q.execute();
  const items = rows.slice(0, limit).map((r) => ({
    id: r.id,
    at: r.at,
    actor: r.actor,
    org: r.org_id,
    action: r.action,
    objectType: r.object_type,
    objectId: r.object_id,
    before: r.before ? parseJson(r.before, Payload, `audit record ${r.id} before`) : null,
    after: r.after ? parseJson(r.after, Payload, `audit record ${r.id} after`) : null,
    requestId: r.request_id,
  }));
  const last = items.at(-1);
  const operators = isOperator(p) ? await operatorIds(store) : null;
  return {
    items: operators ? items.map((r) => forOperator(r, operators)) : items,
    nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
  };
}
