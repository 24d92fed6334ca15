/**
 * Tenancy: organisations, projects, users, API tokens and quotas, with authorisation.
 * Objects of other tenants are reported as not found (404), never as forbidden.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Selectable } from 'kysely';
import { conflict, forbidden, invalid, notFound } from '../model/errors.js';
import type { AuditRecord, Org, OrgKind, Project, Role, User } from '../model/schemas.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import type { ProjectsTable, UsersTable } from '../store/schema.js';
import type { ControlPlane } from './control-plane.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { isJwtShaped } from './oidc.js';
import { hashToken, isOperator, newId, newToken, type Principal } from './principal.js';

type UserRow = Selectable<UsersTable>;

export class Tenancy {
  private readonly tokenCache = new Map<string, Principal>();

  constructor(
    private readonly store: Store,
    private readonly cp: ControlPlane,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private at(): string {
    return new Date(this.now()).toISOString();
  }

  /** OIDC login (oidc.ts), when the server is configured for it: JWT-shaped bearer tokens go there. */
  oidc: { authenticate(token: string): Promise<Principal> } | null = null;

  /** authenticate maps a bearer token to its principal, or null (an OIDC token may also throw a problem saying why). */
  async authenticate(token: string): Promise<Principal | null> {
    if (this.oidc && isJwtShaped(token)) return this.oidc.authenticate(token);
    const hash = hashToken(token);
    const cached = this.tokenCache.get(hash);
    if (cached) return cached;
    const row = await this.store.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .select(['users.id', 'users.role', 'users.org_id'])
      .where('tokens.hash', '=', hash)
      .executeTakeFirst();
    if (!row) return null;
    const p: Principal = { userId: row.id, role: row.role as Role, org: row.org_id };
    this.tokenCache.set(hash, p);
    return p;
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
        })
        .execute();
      await trx
        .insertInto('tokens')
        .values({ hash: hashToken(token), user_id: 'operator', created_at: at })
        .execute();
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

  async createUser(
    p: Principal,
    org: string,
    input: { name: string; email?: string; role: 'admin' | 'member' | 'viewer' },
    requestId: string,
  ) {
    await this.requireOrgAdmin(p, org, 'create users');
    const id = newId('u');
    const token = newToken();
    const at = this.at();
    await this.store.write(async (trx) => {
      await trx
        .insertInto('users')
        .values({
          id,
          org_id: org,
          name: input.name,
          email: input.email ?? null,
          role: input.role,
          created_at: at,
        })
        .execute();
      await trx
        .insertInto('tokens')
        .values({ hash: hashToken(token), user_id: id, created_at: at })
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: 'user.create',
        objectType: 'user',
        objectId: id,
        after: { role: input.role },
        requestId,
      });
    });
    return {
      token,
      user: toUser({
        id,
        org_id: org,
        name: input.name,
        email: input.email ?? null,
        role: input.role,
        created_at: at,
      }),
    };
  }

  async listUsers(p: Principal, org: string): Promise<User[]> {
    await this.getOrg(p, org);
    const rows = await this.store.db.selectFrom('users').selectAll().where('org_id', '=', org).orderBy('created_at').execute();
    return rows.map(toUser);
  }

  async createToken(p: Principal, userId: string, requestId: string) {
    const u = await this.store.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    const visible = u && (isOperator(p) || u.org_id === p.org);
    if (!u || !visible) throw notFound('user', userId);
    if (!isOperator(p) && p.role !== 'admin' && p.userId !== userId)
      throw forbidden('only admins can issue tokens for other users');
    const token = newToken();
    const at = this.at();
    await this.store.write(async (trx) => {
      await trx
        .insertInto('tokens')
        .values({ hash: hashToken(token), user_id: userId, created_at: at })
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: u.org_id,
        action: 'token.create',
        objectType: 'user',
        objectId: userId,
        requestId,
      });
    });
    return { token, user: toUser(u) };
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
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
    };
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

function toUser(u: UserRow): User {
  return {
    id: u.id,
    org: u.org_id,
    name: u.name,
    email: u.email,
    role: u.role as Role,
    createdAt: u.created_at,
  };
}
