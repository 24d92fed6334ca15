/**
 * Notices to a tenant about what an operator did to its identities (onboarding its first admin,
 * disabling one of its users): shown beside break-glass notices (`GET /v1/access-notifications`).
 */
import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import { newId } from './principal.js';

export type IdentityNoticeKind = 'onboarding' | 'identity';

export async function noticeToTenant(
  trx: Transaction<Database>,
  n: { org: string; kind: IdentityNoticeKind; message: string; at: string },
): Promise<void> {
  await trx
    .insertInto('access_notifications')
    .values({ id: newId('ntf'), org_id: n.org, access_request_id: null, kind: n.kind, message: n.message, created_at: n.at })
    .execute();
}
