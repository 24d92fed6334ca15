/**
 * Tenancy: organisations, projects, users, API tokens and quotas, with authorisation.
 * Objects of other tenants are reported as not found (404), never as forbidden.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Selectable } from 'kysely';
import { conflict, DomainError, forbidden, invalid, notFound } from '../model/errors.js';
import type { AuditRecord, Org, OrgKind, Project, Role, TokenInfo, User } from '../model/schemas.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import type { ProjectsTable, UsersTable } from '../store/schema.js';
import { forOperator } from './audit-privacy.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { isJwtShaped } from './oidc.js';
import type { QuotaBook } from './ports.js';
import { hashToken, isOperator, newId, newToken, type Principal } from './principal.js';
import { noticeToTenant } from './tenant-notices.js';
import { DEFAULT_TOKEN_POLICY, expiryOf, insertToken, type TokenPolicy, toTokenInfo } from './tokens.js';

type UserRow = Selectable<UsersTable>;

/** How finely a token's last use is recorded. */
const LAST_USE_RESOLUTION_MS = 60_000;

const userDisabled = (id: string) =>
  new DomainError('unauthenticated', 'user_disabled', `user ${id} is disabled; an admin of its organisation can enable it again`);

export interface TenancyOptions {
  tokenPolicy?: TokenPolicy;
  oidc?: { authenticate(token: string): Promise<Principal> } | null;
  now?: () => number;
}

export class Tenancy {
  private readonly tokenCache = new Map<string, { principal: Principal; expiresAt: number | null; lastUsed: number }>();
  /** Lifetime of new tokens (`gigafab server --token-days/--token-max-days`). */
  readonly tokenPolicy: TokenPolicy;
  /** OIDC login (oidc.ts), when the server is configured for it: JWT-shaped bearer tokens go there. */
  readonly oidc: { authenticate(token: string): Promise<Principal> } | null;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly cp: QuotaBook,
    opts: TenancyOptions = {},
  ) {
    this.tokenPolicy = opts.tokenPolicy ?? DEFAULT_TOKEN_POLICY;
    this.oidc = opts.oidc ?? null;
    this.now = opts.now ?? (() => Date.now());
  }

  private at(): string {
    return new Date(this.now()).toISOString();
  }

  /** authenticate maps a bearer token to its principal, or null (an OIDC token may also throw a problem saying why). */
  async authenticate(token: string): Promise<Principal | null> {
    if (this.oidc && isJwtShaped(token)) {
      const p = await this.oidc.authenticate(token);
      const u = await this.store.db.selectFrom('users').select('disabled_at').where('id', '=', p.userId).executeTakeFirst();
      if (u?.disabled_at) throw userDisabled(p.userId);
      return p;
    }
    const hash = hashToken(token);
    const now = this.now();
    let hit = this.tokenCache.get(hash);
    if (!hit) {
      const row = await this.store.db
        .selectFrom('tokens')
        .innerJoin('users', 'users.id', 'tokens.user_id')
        .select([
          'users.id',
          'users.role',
          'users.org_id',
          'users.disabled_at',
          'tokens.id as token_id',
          'tokens.expires_at',
          'tokens.revoked_at',
          'tokens.last_used_at',
        ])
        .where('tokens.hash', '=', hash)
        .executeTakeFirst();
      if (!row || row.revoked_at || row.disabled_at) return null;
      hit = {
        principal: { userId: row.id, role: row.role as Role, org: row.org_id, tokenId: row.token_id },
        expiresAt: row.expires_at ? Date.parse(row.expires_at) : null,
        lastUsed: row.last_used_at ? Date.parse(row.last_used_at) : 0,
      };
      if (this.tokenCache.size >= 10_000) this.tokenCache.delete(this.tokenCache.keys().next().value as string);
      this.tokenCache.set(hash, hit);
    }
    if (hit.expiresAt !== null && hit.expiresAt <= now) {
      throw new DomainError(
        'unauthenticated',
        'token_expired',
        `this API token expired at ${new Date(hit.expiresAt).toISOString()}; ask an admin of your organisation for a new one`,
      );
    }
    // Last use is kept to the minute: one write per token and minute, not one per request.
    if (now - hit.lastUsed >= LAST_USE_RESOLUTION_MS) {
      hit.lastUsed = now;
      const at = new Date(now).toISOString();
      const tokenId = hit.principal.tokenId!;
      await this.store.write((trx) => trx.updateTable('tokens').set({ last_used_at: at }).where('id', '=', tokenId).execute());
    }
    return hit.principal;
  }

  /** forgetTokens empties the token cache (tokens were revoked, e.g. by an erasure). */
  forgetTokens(): void {
    this.tokenCache.clear();
  }

  /** bootstrapOperator creates the platform operator on first start and returns its one-time token. */
  async bootstrapOperator(dataDir: string): Promise<{ token: string | null; path: string }> {
    const path = join(dataDir, 'operator-token');
    const existing = await this.store.db.selectFrom('users').select('id').where('role', '=', 'operator').executeTakeFirst();
    if (existing) return { token: null, path };
    const token = newToken();
    const at = this.at();
    await this.store.write(async (trx) => {
      await trx
        .insertInto('users')
        .values({
          id: 'operator',
          org_id: null,
          name: 'Platform operator',
          email: null,
          role: 'operator',
          created_at: at,
          created_by: 'system:bootstrap',
          disabled_at: null,
          operator_known: 0,
        })
        .execute();
      // The bootstrap token does not expire: it is how the platform is reached at all. Rotate it with
      // `gigafab token create operator` and `gigafab token revoke`.
      await insertToken(trx, {
        hash: hashToken(token),
        userId: 'operator',
        name: 'bootstrap',
        at,
        expiresAt: null,
        createdBy: 'system:bootstrap',
      });
      await appendAudit(trx, {
        at,
        actor: 'system:bootstrap',
        org: null,
        action: 'user.create',
        objectType: 'user',
        objectId: 'operator',
        after: { role: 'operator' },
      });
    });
    if (!existsSync(path)) {
      writeFileSync(path, `${token}\n`, { mode: 0o600 });
      chmodSync(path, 0o600);
    }
    return { token, path };
  }

  // ------------------------------------------------------------ organisations

  async createOrg(p: Principal, input: { id: string; name: string; kind: OrgKind }, requestId: string): Promise<Org> {
    if (!isOperator(p)) throw forbidden('only platform operators can create organisations');
    const at = this.at();
    await this.uniqueOr(
      () =>
        this.store.write(async (trx) => {
          await trx.insertInto('orgs').values({ id: input.id, name: input.name, kind: input.kind, created_at: at }).execute();
          await appendAudit(trx, {
            at,
            actor: p.userId,
            org: input.id,
            action: 'org.create',
            objectType: 'org',
            objectId: input.id,
            after: input,
            requestId,
          });
        }),
      conflict('org_exists', `organisation ${input.id} already exists`),
    );
    return { ...input, createdAt: at };
  }

  async listOrgs(p: Principal): Promise<Org[]> {
    let q = this.store.db.selectFrom('orgs').selectAll().orderBy('id');
    if (!isOperator(p)) q = q.where('id', '=', p.org ?? '');
    return (await q.execute()).map((r) => ({
      id: r.id,
      name: r.name,
      kind: r.kind as OrgKind,
      createdAt: r.created_at,
    }));
  }

  async getOrg(p: Principal, id: string): Promise<Org> {
    if (!isOperator(p) && p.org !== id) throw notFound('org', id);
    const r = await this.store.db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('org', id);
    return { id: r.id, name: r.name, kind: r.kind as OrgKind, createdAt: r.created_at };
  }

  /** requireOrgAdmin: operators and the org's admins; other tenants get 404. */
  private async requireOrgAdmin(p: Principal, org: string, what: string): Promise<void> {
    await this.getOrg(p, org);
    if (!isOperator(p) && p.role !== 'admin') throw forbidden(`only organisation admins can ${what}`);
  }

  // ------------------------------------------------------------ projects

  async createProject(p: Principal, org: string, input: { id: string; name?: string }, requestId: string): Promise<Project> {
    await this.requireOrgAdmin(p, org, 'create projects');
    const at = this.at();
    const name = input.name ?? input.id;
    await this.uniqueOr(
      () =>
        this.store.write(async (trx) => {
          await trx.insertInto('projects').values({ id: input.id, org_id: org, name, created_at: at }).execute();
          await appendAudit(trx, {
            at,
            actor: p.userId,
            org,
            action: 'project.create',
            objectType: 'project',
            objectId: input.id,
            after: { org, name },
            requestId,
          });
        }),
      conflict('project_exists', `project ${input.id} already exists`),
    );
    return { id: input.id, org, name, createdAt: at, quotas: [] };
  }

  async listProjects(p: Principal): Promise<Project[]> {
    let q = this.store.db.selectFrom('projects').selectAll().orderBy('id');
    if (!isOperator(p)) q = q.where('org_id', '=', p.org ?? '');
    const rows = await q.execute();
    const quotas = await this.store.db.selectFrom('quotas').selectAll().execute();
    return rows.map((r) =>
      this.toProject(
        r,
        quotas.filter((x) => x.project_id === r.id),
      ),
    );
  }

  async getProject(p: Principal, id: string): Promise<Project> {
    const r = await this.visibleProject(p, id);
    const quotas = await this.store.db.selectFrom('quotas').selectAll().where('project_id', '=', id).execute();
    return this.toProject(r, quotas);
  }

  private async visibleProject(p: Principal, id: string): Promise<Selectable<ProjectsTable>> {
    const r = await this.store.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r || (!isOperator(p) && r.org_id !== p.org)) throw notFound('project', id);
    return r;
  }

  private toProject(r: Selectable<ProjectsTable>, quotas: { gpu_type: string; gpus: number }[]): Project {
    return {
      id: r.id,
      org: r.org_id,
      name: r.name,
      createdAt: r.created_at,
      quotas: quotas
        .map((q) => ({ gpuType: q.gpu_type, gpus: q.gpus, used: this.cp.quotaUsage(r.id, q.gpu_type) }))
        .sort((a, b) => a.gpuType.localeCompare(b.gpuType)),
    };
  }

  async setQuota(p: Principal, project: string, gpuType: string, gpus: number, requestId: string) {
    const proj = await this.visibleProject(p, project);
    if (!isOperator(p)) throw forbidden('only platform operators can set quotas');
    if (!this.cp.fleet.gpuTypes.includes(gpuType)) {
      throw invalid('unknown_gpu_type', `the fleet has no GPU type ${gpuType} (it has ${this.cp.fleet.gpuTypes.join(', ')})`, [
        { path: 'gpuType', message: 'unknown GPU type' },
      ]);
    }
    const at = this.at();
    await this.store.write(async (trx) => {
      const before = await trx
        .selectFrom('quotas')
        .select('gpus')
        .where('project_id', '=', project)
        .where('gpu_type', '=', gpuType)
        .executeTakeFirst();
      await trx
        .insertInto('quotas')
        .values({ project_id: project, gpu_type: gpuType, gpus })
        .onConflict((oc) => oc.columns(['project_id', 'gpu_type']).doUpdateSet({ gpus }))
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: proj.org_id,
        action: 'quota.set',
        objectType: 'quota',
        objectId: `${project}/${gpuType}`,
        before: before ?? null,
        after: { gpus },
        requestId,
      });
    });
    this.cp.setQuotaInMemory(project, gpuType, gpus);
    return { gpuType, gpus, used: this.cp.quotaUsage(project, gpuType) };
  }

  // ------------------------------------------------------------ users and tokens
  //
  // An operator never acts as a tenant principal and never creates one, with one exception shown
  // to the tenant: onboarding an organisation's first admin, whose token the future admin generated
  // (the operator passes only its SHA-256). After that an organisation's users and tokens come only
  // from its admins or its identity provider (OIDC). Operator actions on tenant identities (disabling
  // a user) are audited in the tenant's chain, noticed to the tenant, and never yield a credential.

  async createUser(
    p: Principal,
    org: string,
    input: { name: string; email?: string; role: 'admin' | 'member' | 'viewer'; tokenSha256?: string },
    requestId: string,
  ): Promise<{ token?: string; tokenInfo: TokenInfo; user: User }> {
    await this.getOrg(p, org);
    if (isOperator(p)) return this.onboardFirstAdmin(p, org, input, requestId);
    if (p.role !== 'admin') throw forbidden('only organisation admins can create users');
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
        requestId,
      });
      return t;
    });
    return { token, tokenInfo: toTokenInfo(row, org, now), user: toUser(user) };
  }

  /** onboardFirstAdmin: the one user an operator may create in an organisation, holding a token the tenant generated. */
  private async onboardFirstAdmin(
    p: Principal,
    org: string,
    input: { name: string; email?: string; role: string; tokenSha256?: string },
    requestId: string,
  ): Promise<{ tokenInfo: TokenInfo; user: User }> {
    if (input.role !== 'admin') {
      throw new DomainError(
        'forbidden',
        'operator_cannot_create_tenant_users',
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
    const now = this.now();
    const at = new Date(now).toISOString();
    const expiresAt = expiryOf(this.tokenPolicy, now);
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
    const row = await this.store.write(async (trx) => {
      // Checked inside the transaction: two racing onboardings cannot both succeed.
      const any = await trx.selectFrom('users').select('id').where('org_id', '=', org).limit(1).executeTakeFirst();
      if (any) {
        throw new DomainError(
          'forbidden',
          'operator_cannot_create_tenant_users',
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

  async listUsers(p: Principal, org: string): Promise<User[]> {
    await this.getOrg(p, org);
    const rows = await this.store.db.selectFrom('users').selectAll().where('org_id', '=', org).orderBy('created_at').execute();
    if (!isOperator(p)) return rows.map(toUser);
    const operators = await this.operatorIds();
    return rows.map((r) => userForOperator(r, operators));
  }

  /** visibleUser: operators see every user, tenants their organisation's (others: 404). */
  private async visibleUser(p: Principal, userId: string): Promise<UserRow> {
    const u = await this.store.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!u || (!isOperator(p) && u.org_id !== p.org)) throw notFound('user', userId);
    return u;
  }

  async createToken(
    p: Principal,
    userId: string,
    input: { name?: string; expiresInDays?: number; expiresAt?: string },
    requestId: string,
  ) {
    const u = await this.visibleUser(p, userId);
    if (isOperator(p) && u.role !== 'operator') {
      throw new DomainError(
        'forbidden',
        'operator_cannot_act_as_tenant',
        `operators cannot obtain a credential of a tenant user; tokens of ${u.org_id} users are issued by its admins (to look inside, file an access request)`,
      );
    }
    if (!isOperator(p) && p.role !== 'admin' && p.userId !== userId)
      throw forbidden('only admins can issue tokens for other users');
    if (u.disabled_at) throw conflict('user_disabled', `user ${userId} is disabled; an admin of ${u.org_id} can enable it again`);
    const token = newToken();
    const now = this.now();
    const at = new Date(now).toISOString();
    const expiresAt = expiryOf(this.tokenPolicy, now, { days: input.expiresInDays, at: input.expiresAt });
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
        requestId,
      });
      return t;
    });
    return { token, tokenInfo: toTokenInfo(row, u.org_id, now), user: toUser(u) };
  }

  /**
   * listTokens: metadata only, never a hash. Members and viewers see their own tokens, admins their
   * organisation's, operators the operators' (tenant tokens are none of their business).
   */
  async listTokens(p: Principal, q: { user?: string }): Promise<TokenInfo[]> {
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

  /** revokeToken: by the token's owner or an admin of its organisation; revoking twice is harmless. */
  async revokeToken(p: Principal, tokenId: string, requestId: string): Promise<TokenInfo> {
    const r = await this.store.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .select(['users.org_id', 'users.role'])
      .where('tokens.id', '=', tokenId)
      .executeTakeFirst();
    const visible = r && (isOperator(p) ? r.role === 'operator' : r.org_id === p.org);
    if (!r || !visible) throw notFound('token', tokenId);
    if (!isOperator(p) && p.role !== 'admin' && r.user_id !== p.userId)
      throw forbidden("only the token's owner and the organisation's admins can revoke it");
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
        requestId,
      });
    });
    this.forgetTokens();
    return toTokenInfo({ ...r, revoked_at: at, revoked_by: p.userId }, r.org_id, now);
  }

  /**
   * disableUser revokes every token of a user and refuses its logins until an admin enables it.
   * An organisation admin may disable others of its organisation; an operator may disable any
   * tenant user (a compromised account), which is a lockbox-class action: audited in the tenant's
   * chain with the operator's reason and noticed to the tenant.
   */
  async disableUser(p: Principal, userId: string, reason: string, requestId: string): Promise<User> {
    const u = await this.visibleUser(p, userId);
    if (!isOperator(p) && p.role !== 'admin') throw forbidden('only organisation admins can disable users');
    if (u.id === p.userId) throw conflict('cannot_disable_self', 'you cannot disable yourself; ask another admin');
    if (u.id === 'operator') throw conflict('cannot_disable_bootstrap_operator', 'the bootstrap operator cannot be disabled');
    const at = this.at();
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
          after: { reason, tokensRevoked: Number(revoked.numUpdatedRows), byOperator: isOperator(p) },
          requestId,
        });
        if (isOperator(p) && u.org_id) {
          await noticeToTenant(trx, {
            org: u.org_id,
            kind: 'identity',
            at,
            message: `operator ${p.userId} disabled user ${userId} and revoked its tokens; reason: ${reason}`,
          });
        }
      });
      this.forgetTokens();
    }
    const disabled = { ...u, disabled_at: u.disabled_at ?? at };
    return isOperator(p) ? userForOperator(disabled, await this.operatorIds()) : toUser(disabled);
  }

  /** enableUser: an organisation's admins only; the user's old tokens stay revoked. */
  async enableUser(p: Principal, userId: string, requestId: string): Promise<User> {
    const u = await this.visibleUser(p, userId);
    if (isOperator(p)) throw forbidden(`only admins of ${u.org_id} can enable its users again`);
    if (p.role !== 'admin') throw forbidden('only organisation admins can enable users');
    if (u.disabled_at) {
      const at = this.at();
      await this.store.write(async (trx) => {
        await trx.updateTable('users').set({ disabled_at: null }).where('id', '=', userId).execute();
        await appendAudit(trx, {
          at,
          actor: p.userId,
          org: u.org_id,
          action: 'user.enable',
          objectType: 'user',
          objectId: userId,
          requestId,
        });
      });
    }
    return toUser({ ...u, disabled_at: null });
  }

  async whoami(p: Principal): Promise<User> {
    const u = await this.store.db.selectFrom('users').selectAll().where('id', '=', p.userId).executeTakeFirstOrThrow();
    return toUser(u);
  }

  // ------------------------------------------------------------ audit

  async listAudit(p: Principal, limit: number, cursor?: string): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    if (!isOperator(p) && p.role !== 'admin') throw forbidden('only operators and organisation admins can read the audit log');
    let q = this.store.db
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
      before: r.before ? JSON.parse(r.before) : null,
      after: r.after ? JSON.parse(r.after) : null,
      requestId: r.request_id,
    }));
    const last = items.at(-1);
    const operators = isOperator(p) ? await this.operatorIds() : null;
    return {
      items: operators ? items.map((r) => forOperator(r, operators)) : items,
      nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
    };
  }

  /** operatorIds: the users who are platform operators (their audit records are operator-written). */
  async operatorIds(): Promise<Set<string>> {
    const rows = await this.store.db.selectFrom('users').select('id').where('role', '=', 'operator').execute();
    return new Set(rows.map((r) => r.id));
  }

  private async uniqueOr(fn: () => Promise<void>, problem: Error): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (/UNIQUE|duplicate key|PRIMARY KEY/i.test(String(err))) throw problem;
      throw err;
    }
  }
}

/**
 * userForOperator: a user as an operator sees it. Names and e-mails of tenant users are written by
 * the tenant's admins or come from its identity provider, so operators get the id, role and state;
 * only the onboarding admin's, which an operator typed in, stay visible.
 */
function userForOperator(u: UserRow, operators: ReadonlySet<string>): User & { redacted?: string[] } {
  if (u.org_id === null || (u.created_by !== null && operators.has(u.created_by))) return toUser(u);
  return { ...toUser(u), name: 'withheld', email: null, redacted: ['name', 'email'] };
}

function toUser(u: UserRow): User {
  return {
    id: u.id,
    org: u.org_id,
    name: u.name,
    email: u.email,
    role: u.role as Role,
    createdAt: u.created_at,
    createdBy: u.created_by,
    disabledAt: u.disabled_at,
  };
}
