/** Projects of an organisation and their GPU quotas (set by operators, enforced by the control plane). */
import type { Selectable } from 'kysely';
import { canSeeOrg, enforce, isOperator, operatorOnly } from '../../model/authz.js';
import { conflict, invalid, notFound } from '../../model/errors.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import type { Project } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { ProjectsTable } from '../../store/schema.js';
import type { Orgs } from './orgs.js';
import { uniqueOr } from './user-views.js';

/** What projects need of the control plane: the fleet's GPU types and the in-memory quota ledger. */
export interface QuotaLedger {
  readonly fleet: { readonly gpuTypes: readonly string[] };
  quotaUsage(project: string, gpuType: string): number;
  setQuotaInMemory(project: string, gpuType: string, gpus: number): void;
}

export class Projects {
  constructor(
    private readonly store: Store,
    private readonly orgs: Orgs,
    private readonly quotas: QuotaLedger,
    private readonly now: () => number,
  ) {}

  async create(ctx: RequestContext, org: string, input: { id: string; name?: string }): Promise<Project> {
    const { principal: p, requestId } = ctx;
    await this.orgs.requireAdmin(p, org, 'create projects');
    const at = new Date(this.now()).toISOString();
    const name = input.name ?? input.id;
    await uniqueOr(
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

  async list(p: Principal): Promise<Project[]> {
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

  async get(p: Principal, id: string): Promise<Project> {
    const r = await this.visible(p, id);
    const quotas = await this.store.db.selectFrom('quotas').selectAll().where('project_id', '=', id).execute();
    return this.toProject(r, quotas);
  }

  async setQuota(ctx: RequestContext, project: string, gpuType: string, gpus: number) {
    const { principal: p, requestId } = ctx;
    const proj = await this.visible(p, project);
    enforce(operatorOnly(p), 'only platform operators can set quotas');
    const types = this.quotas.fleet.gpuTypes;
    if (!types.includes(gpuType)) {
      throw invalid('unknown_gpu_type', `the fleet has no GPU type ${gpuType} (it has ${types.join(', ')})`, [
        { path: 'gpuType', message: 'unknown GPU type' },
      ]);
    }
    const at = new Date(this.now()).toISOString();
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
    this.quotas.setQuotaInMemory(project, gpuType, gpus);
    return { gpuType, gpus, used: this.quotas.quotaUsage(project, gpuType) };
  }

  private async visible(p: Principal, id: string): Promise<Selectable<ProjectsTable>> {
    const r = await this.store.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r || !canSeeOrg(p, r.org_id).allowed) throw notFound('project', id);
    return r;
  }

  private toProject(r: Selectable<ProjectsTable>, quotas: { gpu_type: string; gpus: number }[]): Project {
    return {
      id: r.id,
      org: r.org_id,
      name: r.name,
      createdAt: r.created_at,
      quotas: quotas
        .map((q) => ({ gpuType: q.gpu_type, gpus: q.gpus, used: this.quotas.quotaUsage(r.id, q.gpu_type) }))
        .sort((a, b) => a.gpuType.localeCompare(b.gpuType)),
    };
  }
}
