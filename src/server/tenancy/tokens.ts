/**
 * API tokens of users: issued by the user itself or an admin of its organisation, listed as metadata
 * only (never a hash), revoked by the owner or an admin. Operators manage operators' tokens only:
 * they never obtain a tenant user's credential.
 */
import { canActForUser, enforce, isOperator } from '../../model/authz.js';
import { conflict, DomainError, notFound } from '../../model/errors.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import type { TokenInfo, User } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { hashToken, newToken } from '../principal.js';
import type { Auth } from './auth.js';
import { expiryOf, insertToken, type TokenPolicy, toTokenInfo } from './token-records.js';
import { toUser } from './user-views.js';
import type { Users } from './users.js';

export class Tokens {
  constructor(
    private readonly store: Store,
    private readonly users: Users,
    private readonly auth: Auth,
    private readonly policy: TokenPolicy,
    private readonly now: () => number,
  ) {}

  async create(
    ctx: RequestContext,
    userId: string,
    input: { name?: string; expiresInDays?: number; expiresAt?: string },
  ): Promise<{ token: string; tokenInfo: TokenInfo; user: User }> {
    const p = ctx.principal;
    const u = await this.users.visible(p, userId);
    if (isOperator(p) && u.role !== 'operator') {
      throw new DomainError(
        'forbidden',
        'operator_cannot_act_as_tenant',
        `operators cannot obtain a credential of a tenant user; tokens of ${u.org_id} users are issued by its admins (to look inside, file an access request)`,
      );
    }
    enforce(canActForUser(p, { id: userId, org: u.org_id }), 'only admins can issue tokens for other users');
    if (u.disabled_at) throw conflict('user_disabled', `user ${userId} is disabled; an admin of ${u.org_id} can enable it again`);
    const token = newToken();
    const now = this.now();
    const at = new Date(now).toISOString();
    const expiresAt = expiryOf(this.policy, now, { days: input.expiresInDays, at: input.expiresAt });
    const row = await this.store.write(async (trx) => {
      // Whoever issues a token knows it: a token from a user an operator may impersonate taints its owner.
      if (p.userId !== userId && !u.operator_known) {
        const issuer = await trx.selectFrom('users').select('operator_known').where('id', '=', p.userId).executeTakeFirst();
        if (issuer?.operator_known) await trx.updateTable('users').set({ operator_known: 1 }).where('id', '=', userId).execute();
      }
      const t = await insertToken(trx, {
        hash: hashToken(token),
        userId,
        name: input.name ?? null,
        at,
        expiresAt,
        createdBy: p.userId,
      });
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: u.org_id,
        action: 'token.create',
        objectType: 'user',
        objectId: userId,
        after: { tokenId: t.id, expiresAt },
        requestId: ctx.requestId,
      });
      return t;
    });
    return { token, tokenInfo: toTokenInfo(row, u.org_id, now), user: toUser(u) };
  }

  /**
   * list: metadata only, never a hash. Members and viewers see their own tokens, admins their
   * organisation's, operators the operators' (tenant tokens are none of their business).
   */
  async list(p: Principal, q: { user?: string }): Promise<TokenInfo[]> {
    let query = this.store.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .select('users.org_id')
      .orderBy('tokens.created_at', 'desc')
      .orderBy('tokens.id');
    if (isOperator(p)) query = query.where('users.role', '=', 'operator');
    else if (p.role === 'admin') query = query.where('users.org_id', '=', p.org ?? '');
    else query = query.where('tokens.user_id', '=', p.userId);
    if (q.user) query = query.where('tokens.user_id', '=', q.user);
    const now = this.now();
    return (await query.execute()).map((r) => toTokenInfo(r, r.org_id, now));
  }

  /** revoke: by the token's owner or an admin of its organisation; revoking twice is harmless. */
  async revoke(ctx: RequestContext, tokenId: string): Promise<TokenInfo> {
    const p = ctx.principal;
    const r = await this.store.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .select(['users.org_id', 'users.role'])
      .where('tokens.id', '=', tokenId)
      .executeTakeFirst();
    // Operators see operators' tokens only; tenants their organisation's.
    const visible = r && (isOperator(p) ? r.role === 'operator' : r.org_id === p.org);
    if (!r || !visible) throw notFound('token', tokenId);
    enforce(
      canActForUser(p, { id: r.user_id, org: r.org_id }),
      "only the token's owner and the organisation's admins can revoke it",
    );
    const now = this.now();
    if (r.revoked_at) return toTokenInfo(r, r.org_id, now);
    const at = new Date(now).toISOString();
    await this.store.write(async (trx) => {
      await trx.updateTable('tokens').set({ revoked_at: at, revoked_by: p.userId }).where('id', '=', tokenId).execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: r.org_id,
        action: 'token.revoke',
        objectType: 'token',
        objectId: tokenId,
        after: { owner: r.user_id },
        requestId: ctx.requestId,
      });
    });
    this.auth.forgetTokens();
    return toTokenInfo({ ...r, revoked_at: at, revoked_by: p.userId }, r.org_id, now);
  }
}
