/**
 * ServiceRegistry: a caller's inference services — create, read, list, update, delete. Each change
 * is one store transaction with its audit record; the replica loop (replica-loop.ts) reads the
 * stored services and makes their replicas follow. Tenancy: members and admins of the owning
 * organisation change a service, its viewers read it, other organisations get 404.
 */
import { randomBytes } from 'node:crypto';
import { canSeeOrg, canSubmit, enforce } from '../../model/authz.js';
import { conflict, invalid, notFound } from '../../model/errors.js';
import type { Fleet } from '../../model/fleet.js';
import { isOperator, type Principal, type RequestContext } from '../../model/principal.js';
import type { Service, ServiceCreate, ServiceSpec, ServiceUpdate } from '../../model/service-schemas.js';
import { type SpreadDomain, spreadLabelKey } from '../../model/spread.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { ServicesTable } from '../../store/schema-services.js';
import { shareRefusal } from '../jobs/share-check.js';
import { openSpec, redactTemplate, scalingOf, scalingOfRow, sealSpec } from './service-rows.js';

/** What the replica loop knows of a service's replicas now, and its traffic. */
export interface ReplicaStatus {
  status(serviceId: string): Pick<Service, 'desiredReplicas' | 'replicas'>;
  traffic(serviceId: string): Service['traffic'];
  /** A service changed: reconcile it soon. */
  poke(): void;
}

export class ServiceRegistry {
  constructor(
    private readonly store: Store,
    private readonly replicas: ReplicaStatus,
    private readonly now: () => number,
    /** The node-label keys of the fleet (a `label:<key>` spread must name one). */
    private readonly labelKeys: () => ReadonlySet<string> = () => new Set(),
    /** The fleet (a template's GPU fraction or MIG profile must be one it can run), where known. */
    private readonly fleet?: () => Fleet,
  ) {}

  /** checkShare: a fractional or MIG template the fleet cannot run is refused as a job would be (422). */
  private checkShare(template: ServiceSpec['template']): void {
    const fleet = this.fleet?.();
    if (!fleet) return;
    const refusal = shareRefusal(fleet, template);
    if (refusal) throw refusal;
  }

  /** checkOver: a label domain names a label some node of the fleet carries, else 400 (it would spread over nothing). */
  private checkOver(over: SpreadDomain | undefined): void {
    const key = over === undefined ? undefined : spreadLabelKey(over);
    if (key !== undefined && !this.labelKeys().has(key))
      throw invalid(
        'unknown_spread_label',
        `spreadOver ${over}: no node of the fleet has a label ${key} (the fleet file's node labels: ${[...this.labelKeys()].sort().join(', ') || 'none'})`,
      );
  }

  async create(rc: RequestContext, input: ServiceCreate): Promise<Service> {
    const p = rc.principal;
    const project = await this.store.db
      .selectFrom('projects')
      .select(['id', 'org_id'])
      .where('id', '=', input.project)
      .executeTakeFirst();
    if (!project || !canSeeOrg(p, project.org_id).allowed) throw notFound('project', input.project);
    enforce(
      canSubmit(p, project.org_id),
      'only members and admins of the organisation run services (not operators, not viewers)',
    );
    const clash = await this.store.db
      .selectFrom('services')
      .select('id')
      .where('project_id', '=', project.id)
      .where('name', '=', input.name)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    this.checkOver(input.spreadOver);
    this.checkShare(input.template);
    if (clash) throw conflict('service_exists', `project ${project.id} already has a service named ${input.name} (${clash.id})`);
    const spec: ServiceSpec = {
      template: input.template,
      port: input.port,
      readiness: input.readiness,
      liveness: input.liveness,
      spread: input.spread,
      ...overOf(input.spreadOver),
    };
    const scaling = scalingOf(input, null);
    const at = new Date(this.now()).toISOString();
    const id = `svc-${randomBytes(5).toString('hex')}`;
    await this.store.fields.ready(project.org_id);
    const row: ServicesTable = {
      id,
      org_id: project.org_id,
      project_id: project.id,
      name: input.name,
      visibility: input.visibility,
      revision: 1,
      spec: sealSpec(this.store.fields, project.org_id, spec),
      scaling: JSON.stringify(scaling),
      created_by: p.userId,
      created_at: at,
      updated_at: at,
      deleted_at: null,
    };
    await this.store.write(async (trx) => {
      await trx.insertInto('services').values(row).execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: project.org_id,
        action: 'service.create',
        objectType: 'service',
        objectId: id,
        after: { project: project.id, name: input.name, revision: 1, visibility: input.visibility, ...scaling },
        requestId: rc.requestId,
      });
    });
    this.replicas.poke();
    return this.view(row, p);
  }

  async get(rc: RequestContext, id: string): Promise<Service> {
    return this.view(await this.visibleRow(rc, id), rc.principal);
  }

  async list(rc: RequestContext, project?: string): Promise<Service[]> {
    const p = rc.principal;
    let q = this.store.db.selectFrom('services').selectAll().where('deleted_at', 'is', null);
    if (p.role !== 'operator') q = q.where('org_id', '=', p.org ?? '');
    if (project) q = q.where('project_id', '=', project);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => this.view(r, p));
  }

  /** update: a new template, port or probe makes a new revision (a rolling update); scaling and visibility apply at once. */
  async update(rc: RequestContext, id: string, input: ServiceUpdate): Promise<Service> {
    const row = await this.visibleRow(rc, id);
    enforce(canSubmit(rc.principal, row.org_id), 'only members and admins of the organisation change its services');
    const spec = this.specOf(row);
    const next: ServiceSpec = {
      template: input.template ?? spec.template,
      port: input.port ?? spec.port,
      readiness: input.readiness ?? spec.readiness,
      liveness: input.liveness ?? spec.liveness,
      spread: input.spread ?? spec.spread,
      // Turning spread off drops a stored domain; naming one with spread off is refused below.
      ...overOf(input.spreadOver ?? (input.spread === 'none' ? undefined : spec.spreadOver)),
    };
    this.checkOver(input.spreadOver);
    if (input.template) this.checkShare(input.template);
    if (next.spreadOver && next.spread === 'none')
      throw invalid('spread_over_without_spread', `spreadOver ${next.spreadOver} needs spread preferred or required, not none`);
    const newRevision = JSON.stringify(next) !== JSON.stringify(spec);
    const before = scalingOfRow(row);
    const scaling = scalingOf(input, before);
    if (scaling.minReplicas > scaling.maxReplicas)
      throw conflict('scaling_invalid', `minReplicas ${scaling.minReplicas} exceeds maxReplicas ${scaling.maxReplicas}`);
    const at = new Date(this.now()).toISOString();
    const updated: ServicesTable = {
      ...row,
      revision: row.revision + (newRevision ? 1 : 0),
      spec: newRevision ? sealSpec(this.store.fields, row.org_id, next) : row.spec,
      scaling: JSON.stringify(scaling),
      visibility: input.visibility ?? row.visibility,
      updated_at: at,
    };
    await this.store.write(async (trx) => {
      await trx
        .updateTable('services')
        .set({
          revision: updated.revision,
          spec: updated.spec,
          scaling: updated.scaling,
          visibility: updated.visibility,
          updated_at: at,
        })
        .where('id', '=', id)
        .execute();
      await appendAudit(trx, {
        at,
        actor: rc.principal.userId,
        org: row.org_id,
        action: 'service.update',
        objectType: 'service',
        objectId: id,
        before: { revision: row.revision, visibility: row.visibility, ...before },
        after: { revision: updated.revision, visibility: updated.visibility, ...scaling },
        requestId: rc.requestId,
      });
    });
    this.replicas.poke();
    return this.view(updated, rc.principal);
  }

  /** delete: the service is gone for callers at once; the replica loop stops its replicas. */
  async delete(rc: RequestContext, id: string): Promise<void> {
    const row = await this.visibleRow(rc, id);
    enforce(canSubmit(rc.principal, row.org_id), 'only members and admins of the organisation delete its services');
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      await trx.updateTable('services').set({ deleted_at: at, updated_at: at }).where('id', '=', id).execute();
      await appendAudit(trx, {
        at,
        actor: rc.principal.userId,
        org: row.org_id,
        action: 'service.delete',
        objectType: 'service',
        objectId: id,
        before: { revision: row.revision },
        requestId: rc.requestId,
      });
    });
    this.replicas.poke();
  }

  /** visibleRow: the live service, or 404 for one that does not exist, was deleted or is another organisation's. */
  private async visibleRow(rc: RequestContext, id: string): Promise<ServicesTable> {
    const row = await this.store.db
      .selectFrom('services')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row || !canSeeOrg(rc.principal, row.org_id).allowed) throw notFound('service', id);
    return row;
  }

  private specOf(row: ServicesTable): ServiceSpec {
    const spec = openSpec(this.store.fields, row);
    if (!spec) throw conflict('service_erased', `service ${row.id} belongs to an erased organisation`);
    return spec;
  }

  /** view: the API's view; an operator gets the template's tenant-written fields withheld (lockbox). */
  private view(row: ServicesTable, p: Principal): Service {
    const { desiredReplicas, replicas } = this.replicas.status(row.id);
    const spec = this.specOf(row);
    const withheld = isOperator(p) ? redactTemplate(spec) : null;
    return {
      id: row.id,
      org: row.org_id,
      project: row.project_id,
      name: row.name,
      visibility: row.visibility === 'public' ? 'public' : 'private',
      revision: row.revision,
      spec: withheld?.spec ?? spec,
      scaling: scalingOfRow(row),
      desiredReplicas,
      replicas,
      traffic: this.replicas.traffic(row.id),
      createdBy: row.created_by,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      ...(withheld ? { redacted: withheld.redacted } : {}),
    };
  }
}

/** overOf: the stored form of spreadOver — absent for `node` (the default), so older specs compare equal. */
function overOf(over: SpreadDomain | undefined): { spreadOver?: Exclude<SpreadDomain, 'node'> } {
  return over && over !== 'node' ? { spreadOver: over } : {};
}
