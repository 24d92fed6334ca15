/**
 * SchedulingOps: advance reservations (capacity windows for an organisation) and maintenance
 * windows. Kept in the store (migration 007) and in memory; the control plane feeds them to every
 * scheduling cycle (`capacityWindows`, `maintenance`). Every change is one transaction with its
 * audit record.
 */
import type { Selectable } from 'kysely';
import { canSeeOrg, enforce, isOperator, operatorOnly } from '../model/authz.js';
import { invalid, notFound } from '../model/errors.js';
import type { Fleet } from '../model/fleet.js';
import type { Placement } from '../model/job.js';
import type { MaintenanceCreate, MaintenanceWindowView, Reservation, ReservationCreate } from '../model/schemas-scheduling.js';
import { type CapacityWindow, ClusterModel, type MaintenanceWindow } from '../scheduler/index.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import type { MaintenanceWindowsTable, ReservationsTable } from '../store/schema-scheduling.js';
import type { ResidencyGate } from './ports.js';
import { newId, type Principal } from './principal.js';
import { checkOverlap, checkSpan, reservationShape, residencySites } from './window-checks.js';

type ReservationRow = Selectable<ReservationsTable>;
type MaintenanceRow = Selectable<MaintenanceWindowsTable>;

const iso = (ms: number) => new Date(ms).toISOString();

export class SchedulingOps {
  private readonly reservations = new Map<string, ReservationRow>();
  private readonly maintenance = new Map<string, { row: MaintenanceRow; nodes: string[] }>();
  /** Where the last cycle held each capacity window. */
  private held = new Map<string, Placement>();
  private emptyModel: ClusterModel | null = null;
  /** The owning organisation's residency policy: windows are held, and created, only where it allows. */
  residency: Pick<ResidencyGate, 'orgPlacement'> | null = null;

  constructor(
    private readonly store: Store,
    private readonly fleet: Fleet,
    private readonly now: () => number,
    private readonly changed: () => void,
  ) {}

  async recover(): Promise<void> {
    for (const r of await this.store.db.selectFrom('reservations').selectAll().execute()) this.reservations.set(r.id, r);
    for (const m of await this.store.db.selectFrom('maintenance_windows').selectAll().execute()) {
      this.maintenance.set(m.id, { row: m, nodes: this.nodesOf(m) });
    }
  }

  // ------------------------------------------------------------ scheduler input

  /** capacityWindows: live reservations as the scheduler's capacity windows. */
  capacityWindows(lendToPreemptible: boolean): CapacityWindow[] {
    const now = this.now();
    const out: CapacityWindow[] = [];
    for (const r of this.reservations.values()) {
      const end = Date.parse(r.end_at);
      if (end <= now) continue;
      const w: CapacityWindow = {
        id: r.id,
        org: r.org_id,
        gpuType: r.gpu_type,
        gpusPerNode: r.gpus_per_node,
        nodes: r.nodes,
        start: Date.parse(r.start_at),
        end,
      };
      if (r.site) w.site = r.site;
      const policy = this.residency?.orgPlacement(r.org_id, now);
      if (policy) w.allowedSites = policy.allowedSites;
      if (lendToPreemptible) w.lendToPreemptible = true;
      out.push(w);
    }
    return out;
  }

  /** maintenanceWindows: live maintenance windows with their nodes. */
  maintenanceWindows(): MaintenanceWindow[] {
    const now = this.now();
    const out: MaintenanceWindow[] = [];
    for (const { row, nodes } of this.maintenance.values()) {
      const end = Date.parse(row.end_at);
      if (end > now) out.push({ id: row.id, nodes, start: Date.parse(row.start_at), end });
    }
    return out;
  }

  /** noteHeld records where this cycle placed the windows (shown by the API). */
  noteHeld(windows: readonly { jobId: string; placement: Placement }[] | undefined): void {
    this.held = new Map((windows ?? []).map((w) => [w.jobId, w.placement]));
  }

  // ------------------------------------------------------------ reservations

  async createReservation(p: Principal, body: ReservationCreate, requestId: string): Promise<Reservation> {
    enforce(operatorOnly(p), 'only platform operators can create reservations');
    const org = await this.store.db.selectFrom('orgs').select('id').where('id', '=', body.org).executeTakeFirst();
    if (!org) throw notFound('org', body.org);
    const span = checkSpan(body.start, body.end, this.now());
    const allowed = residencySites(this.residency, body, Math.max(span.start, this.now()));
    this.emptyModel ??= new ClusterModel(this.fleet);
    const shape = reservationShape(this.fleet, this.emptyModel, body, allowed);
    checkOverlap(this.fleet, this.reservations.values(), body, span, shape.gpusPerNode * shape.nodes, allowed);
    const at = iso(this.now());
    const row: ReservationRow = {
      id: newId('rsv'),
      org_id: body.org,
      gpu_type: body.gpuType,
      gpus: shape.gpusPerNode * shape.nodes,
      gpus_per_node: shape.gpusPerNode,
      nodes: shape.nodes,
      site: body.site ?? null,
      start_at: iso(span.start),
      end_at: iso(span.end),
      note: body.note ?? null,
      created_by: p.userId,
      created_at: at,
    };
    await this.store.write(async (trx) => {
      await trx.insertInto('reservations').values(row).execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: row.org_id,
        action: 'reservation.create',
        objectType: 'reservation',
        objectId: row.id,
        after: { gpuType: row.gpu_type, gpus: row.gpus, site: row.site, start: row.start_at, end: row.end_at },
        requestId,
      });
    });
    this.reservations.set(row.id, row);
    this.changed();
    return this.view(row);
  }

  listReservations(p: Principal, org?: string): Reservation[] {
    if (!isOperator(p) && org && org !== p.org) return [];
    const want = isOperator(p) ? org : (p.org ?? '');
    return [...this.reservations.values()]
      .filter((r) => want === undefined || r.org_id === want)
      .sort((a, b) => (a.start_at < b.start_at ? -1 : a.start_at > b.start_at ? 1 : a.id < b.id ? -1 : 1))
      .map((r) => this.view(r));
  }

  getReservation(p: Principal, id: string): Reservation {
    const r = this.reservations.get(id);
    if (!r || !canSeeOrg(p, r.org_id).allowed) throw notFound('reservation', id);
    return this.view(r);
  }

  async deleteReservation(p: Principal, id: string, requestId: string): Promise<Reservation> {
    const r = this.reservations.get(id);
    if (!r || !canSeeOrg(p, r.org_id).allowed) throw notFound('reservation', id);
    enforce(operatorOnly(p), 'only platform operators can delete reservations');
    await this.store.write(async (trx) => {
      await trx.deleteFrom('reservations').where('id', '=', id).execute();
      await appendAudit(trx, {
        at: iso(this.now()),
        actor: p.userId,
        org: r.org_id,
        action: 'reservation.delete',
        objectType: 'reservation',
        objectId: id,
        before: { gpuType: r.gpu_type, gpus: r.gpus, site: r.site, start: r.start_at, end: r.end_at },
        requestId,
      });
    });
    this.reservations.delete(id);
    this.changed();
    return this.view(r);
  }

  private view(r: ReservationRow): Reservation {
    const now = this.now();
    const status = Date.parse(r.end_at) <= now ? 'ended' : Date.parse(r.start_at) <= now ? 'active' : 'scheduled';
    const held = status === 'ended' ? undefined : this.held.get(r.id);
    return {
      id: r.id,
      org: r.org_id,
      gpuType: r.gpu_type,
      gpus: r.gpus,
      nodes: r.nodes,
      gpusPerNode: r.gpus_per_node,
      site: r.site,
      start: r.start_at,
      end: r.end_at,
      note: r.note,
      createdBy: r.created_by,
      createdAt: r.created_at,
      status,
      held: held ? { site: held.site, nodes: held.nodes.map((n) => n.node) } : null,
    };
  }

  // ------------------------------------------------------------ maintenance

  private nodesOf(m: MaintenanceRow): string[] {
    if (m.nodes) return JSON.parse(m.nodes) as string[];
    return this.fleet.nodes.filter((n) => n.site === m.site).map((n) => n.id);
  }

  async createMaintenance(p: Principal, body: MaintenanceCreate, requestId: string): Promise<MaintenanceWindowView> {
    enforce(operatorOnly(p), 'only platform operators can schedule maintenance');
    if ((body.nodes === undefined) === (body.site === undefined)) {
      throw invalid('invalid_maintenance', 'give either nodes or a site', [{ path: 'nodes', message: 'nodes or site' }]);
    }
    if (body.site && !this.fleet.sites.some((s) => s.id === body.site)) {
      throw invalid('unknown_site', `unknown site ${body.site}`, [{ path: 'site', message: 'unknown' }]);
    }
    const unknown = (body.nodes ?? []).filter((n) => !this.fleet.nodeIndex.has(n));
    if (unknown.length > 0) {
      throw invalid('unknown_node', `unknown node ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`, [
        { path: 'nodes', message: 'unknown' },
      ]);
    }
    const span = checkSpan(body.start, body.end, this.now());
    const at = iso(this.now());
    const row: MaintenanceRow = {
      id: newId('mw'),
      site: body.site ?? null,
      nodes: body.nodes ? JSON.stringify([...new Set(body.nodes)].sort()) : null,
      start_at: iso(span.start),
      end_at: iso(span.end),
      reason: body.reason,
      created_by: p.userId,
      created_at: at,
    };
    await this.store.write(async (trx) => {
      await trx.insertInto('maintenance_windows').values(row).execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org: null,
        action: 'maintenance.create',
        objectType: 'maintenance',
        objectId: row.id,
        after: { site: row.site, nodes: body.nodes?.length ?? null, start: row.start_at, end: row.end_at, reason: row.reason },
        requestId,
      });
    });
    const entry = { row, nodes: this.nodesOf(row) };
    this.maintenance.set(row.id, entry);
    this.changed();
    return this.maintenanceView(entry);
  }

  listMaintenance(): MaintenanceWindowView[] {
    return [...this.maintenance.values()]
      .sort((a, b) => (a.row.start_at < b.row.start_at ? -1 : a.row.start_at > b.row.start_at ? 1 : a.row.id < b.row.id ? -1 : 1))
      .map((m) => this.maintenanceView(m));
  }

  async deleteMaintenance(p: Principal, id: string, requestId: string): Promise<MaintenanceWindowView> {
    enforce(operatorOnly(p), 'only platform operators can cancel maintenance');
    const m = this.maintenance.get(id);
    if (!m) throw notFound('maintenance window', id);
    await this.store.write(async (trx) => {
      await trx.deleteFrom('maintenance_windows').where('id', '=', id).execute();
      await appendAudit(trx, {
        at: iso(this.now()),
        actor: p.userId,
        org: null,
        action: 'maintenance.delete',
        objectType: 'maintenance',
        objectId: id,
        before: { site: m.row.site, start: m.row.start_at, end: m.row.end_at, reason: m.row.reason },
        requestId,
      });
    });
    this.maintenance.delete(id);
    this.changed();
    return this.maintenanceView(m);
  }

  private maintenanceView({ row, nodes }: { row: MaintenanceRow; nodes: string[] }): MaintenanceWindowView {
    return {
      id: row.id,
      site: row.site,
      nodes,
      start: row.start_at,
      end: row.end_at,
      reason: row.reason,
      createdBy: row.created_by,
      createdAt: row.created_at,
    };
  }
}
