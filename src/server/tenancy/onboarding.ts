/**
 * Onboarding: the one user an operator may create in an organisation, its first admin, holding a
 * token the future admin generated (the operator passes only its SHA-256). The tenant is told.
 */
import { conflict, DomainError, invalid } from '../../model/errors.js';
import type { RequestContext } from '../../model/principal.js';
import type { TokenInfo, User } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { newId } from '../principal.js';
import { noticeToTenant } from '../tenant-notices.js';
import { expiryOf, insertToken, type TokenPolicy, toTokenInfo } from './token-records.js';
import { toUser, type UserRow } from './user-views.js';

const operatorCannotCreate = (detail: string) => new DomainError('forbidden', 'operator_cannot_create_tenant_users', detail);

export async function onboardFirstAdmin(
  deps: { store: Store; tokenPolicy: TokenPolicy; now: () => number },
  ctx: RequestContext,
  org: string,
  input: { name: string; email?: string; role: string; tokenSha256?: string },
): Promise<{ tokenInfo: TokenInfo; user: User }> {
  const { principal: p, requestId } = ctx;
  if (input.role !== 'admin') {
    throw operatorCannotCreate(
      `operators only onboard the first admin of an organisation; members and viewers of ${org} are created by its admins`,
    );
  }
  const hash = input.tokenSha256;
  if (!hash) {
    throw invalid(
      'token_hash_required',
      'operators never receive a tenant credential: the future admin runs `gigafab token generate`, keeps the token and sends you its SHA-256; pass it as tokenSha256',
      [{ path: 'tokenSha256', message: 'required when an operator onboards an admin' }],
    );
  }
  const now = deps.now();
  const at = new Date(now).toISOString();
  const expiresAt = expiryOf(deps.tokenPolicy, now);
  const id = newId('u');
  const user: UserRow = {
    id,
    org_id: org,
    name: input.name,
    email: input.email ?? null,
    role: 'admin',
    created_at: at,
    created_by: p.userId,
    disabled_at: null,
    operator_known: 0,
  };
  const row = await deps.store.write(async (trx) => {
    // Checked inside the transaction: two racing onboardings cannot both succeed.
    const any = await trx.selectFrom('users').select('id').where('org_id', '=', org).limit(1).executeTakeFirst();
    if (any) {
      throw operatorCannotCreate(
        `organisation ${org} was onboarded already: operators create only an organisation's first admin; further users come from its admins or its identity provider`,
      );
    }
    const taken = await trx.selectFrom('tokens').select('id').where('hash', '=', hash).executeTakeFirst();
    if (taken) throw conflict('token_hash_in_use', 'that token hash is in use already; generate a fresh token');
    await trx.insertInto('users').values(user).execute();
    const t = await insertToken(trx, { hash, userId: id, name: 'onboarding', at, expiresAt, createdBy: p.userId });
    const fingerprint = hash.slice(0, 16);
    await appendAudit(trx, {
      at,
      actor: p.userId,
      org,
      action: 'user.onboard',
      objectType: 'user',
      objectId: id,
      after: { role: 'admin', tokenId: t.id, tokenFingerprint: fingerprint, expiresAt },
      requestId,
    });
    await noticeToTenant(trx, {
      org,
      kind: 'onboarding',
      at,
      message:
        `operator ${p.userId} onboarded ${id} as the first admin of ${org}, with the token whose SHA-256 starts ${fingerprint}; ` +
        'if you did not generate that token, tell the platform: your organisation was onboarded with a credential that is not yours',
    });
    return t;
  });
  return { tokenInfo: toTokenInfo(row, org, now), user: toUser(user) };
}
