/**
 * Users of an organisation. An operator never acts as a tenant principal and never creates one,
 * with one exception shown to the tenant: onboarding an organisation's first admin (onboarding.ts).
 * After that an organisation's users come only from its admins or its identity provider (OIDC).
 * Operator actions on tenant identities (disabling a user) are audited in the tenant's chain,
 * noticed to the tenant, and never yield a credential.
 */
import { canAdminAsTenant, canAdminOrg, canSeeOrg, enforce, isOperator } from '../../model/authz.js';
import { conflict, forbidden, invalid, notFound } from '../../model/errors.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import type { TokenInfo, User } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { hashToken, newId, newToken } from '../principal.js';
import { noticeToTenant } from '../tenant-notices.js';
import type { Auth } from './auth.js';
import { onboardFirstAdmin } from './onboarding.js';
import type { Orgs } from './orgs.js';
import { expiryOf, insertToken, type TokenPolicy, toTokenInfo } from './token-records.js';
import { operatorIds, toUser, type UserRow, userForOperator } from './user-views.js';

export class Users {
  constructor(
    private readonly store: Store,
    private readonly orgs: Orgs,
    private readonly auth: Auth,
    private readonly tokenPolicy: TokenPolicy,
    private readonly now: () => number,
  ) {}

  async create(
    ctx: RequestContext,
    org: string,
    input: { name: string; email?: string; role: 'admin' | 'member' | 'viewer'; tokenSha256?: string },
  ): Promise<{ token?: string; tokenInfo: TokenInfo; user: User }> {
    const p = ctx.principal;
    await this.orgs.get(p, org);
    const d = canAdminAsTenant(p, org);
    if (!d.allowed && d.reason === 'operator_not_tenant') {
      return onboardFirstAdmin({ store: this.store, tokenPolicy: this.tokenPolicy, now: this.now }, ctx, org, input);
    }
    enforce(d, 'only organisation admins can create users');
    if (input.tokenSha256) {
      throw invalid(
        'token_hash_onboarding_only',
        'tokenSha256 is only for onboarding an organisation; new users get a fresh token',
        [{ path: 'tokenSha256', message: 'onboarding only' }],
      );
    }
    const id = newId('u');
    const token = newToken();
    const now = this.now();
    const at = new Date(now).toISOString();
    const expiresAt = expiryOf(this.tokenPolicy, now);
    const user: UserRow = {
      id,
      org_id: org,
      name: input.name,
      email: input.email ?? null,
      role: input.role,
      created_at: at,
      created_by: p.userId,
      disabled_at: null,
      operator_known: 0,
    };
    const row = await this.store.write(async (trx) => {
      // A user made by a user whose credential an operator may have held is no more the tenant's own.
      const creator = await trx.selectFrom('users').select('operator_known').where('id', '=', p.userId).executeTakeFirst();
      user.operator_known = creator?.operator_known ? 1 : 0;
      await trx.insertInto('users').values(user).execute();
      const t = await insertToken(trx, { hash: hashToken(token), userId: id, name: null, at, expiresAt, createdBy: p.userId });
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: 'user.create',
        objectType: 'user',
        objectId: id,
        after: { role: input.role, tokenId: t.id, expiresAt },
        requestId: ctx.requestId,
      });
      return t;
    });
    return { token, tokenInfo: toTokenInfo(row, org, now), user: toUser(user) };
  }

  async list(p: Principal, org: string): Promise<User[]> {
    await this.orgs.get(p, org);
    const rows = await this.store.db.selectFrom('users').selectAll().where('org_id', '=', org).orderBy('created_at').execute();
    if (!isOperator(p)) return rows.map(toUser);
    const operators = await operatorIds(this.store);
    return rows.map((r) => userForOperator(r, operators));
  }

  /** visible: operators see every user, tenants their organisation's (others: 404). */
  async visible(p: Principal, userId: string): Promise<UserRow> {
    const u = await this.store.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!u || !canSeeOrg(p, u.org_id).allowed) throw notFound('user', userId);
    return u;
  }

  /**
   * disable revokes every token of a user and refuses its logins until an admin enables it. An
   * organisation admin may disable others of its organisation; an operator may disable any tenant
   * user (a compromised account), which is a lockbox-class action: audited in the tenant's chain
   * with the operator's reason and noticed to the tenant.
   */
  async disable(ctx: RequestContext, userId: string, reason: string): Promise<User> {
    const p = ctx.principal;
    const u = await this.visible(p, userId);
    enforce(canAdminOrg(p, u.org_id), 'only organisation admins can disable users');
    if (u.id === p.userId) throw conflict('cannot_disable_self', 'you cannot disable yourself; ask another admin');
    if (u.id === 'operator') throw conflict('cannot_disable_bootstrap_operator', 'the bootstrap operator cannot be disabled');
    const at = new Date(this.now()).toISOString();
    const byOperator = isOperator(p);
    if (!u.disabled_at) {
      await this.store.write(async (trx) => {
        await trx.updateTable('users').set({ disabled_at: at }).where('id', '=', userId).execute();
        const revoked = await trx
          .updateTable('tokens')
          .set({ revoked_at: at, revoked_by: p.userId })
          .where('user_id', '=', userId)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org: u.org_id,
          action: 'user.disable',
          objectType: 'user',
          objectId: userId,
          after: { reason, tokensRevoked: Number(revoked.numUpdatedRows), byOperator },
          requestId: ctx.requestId,
        });
        if (byOperator && u.org_id) {
          await noticeToTenant(trx, {
            org: u.org_id,
            kind: 'identity',
            at,
            message: `operator ${p.userId} disabled user ${userId} and revoked its tokens; reason: ${reason}`,
          });
        }
      });
      this.auth.forgetTokens();
    }
    const disabled = { ...u, disabled_at: u.disabled_at ?? at };
    return byOperator ? userForOperator(disabled, await operatorIds(this.store)) : toUser(disabled);
  }

  /** enable: an organisation's admins only; the user's old tokens stay revoked. */
  async enable(ctx: RequestContext, userId: string): Promise<User> {
    const p = ctx.principal;
    const u = await this.visible(p, userId);
    const d = canAdminAsTenant(p, u.org_id);
    if (!d.allowed) {
      throw forbidden(
        d.reason === 'operator_not_tenant'
          ? `only admins of ${u.org_id} can enable its users again`
          : 'only organisation admins can enable users',
      );
    }
    if (u.disabled_at) {
      const at = new Date(this.now()).toISOString();
      await this.store.write(async (trx) => {
        await trx.updateTable('users').set({ disabled_at: null }).where('id', '=', userId).execute();
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org: u.org_id,
          action: 'user.enable',
          objectType: 'user',
          objectId: userId,
          requestId: ctx.requestId,
        });
      });
    }
    return toUser({ ...u, disabled_at: null });
  }

  async whoami(p: Principal): Promise<User> {
    const u = await this.store.db.selectFrom('users').selectAll().where('id', '=', p.userId).executeTakeFirstOrThrow();
    return toUser(u);
  }
}
