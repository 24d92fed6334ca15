/**
 * ReplicaLoop: makes every service's replicas follow the replica controller
 * (src/lifecycle/replicas.ts). Each tick it reads the services and their live replica jobs, probes
 * the running ones (probes.ts), asks the controller what to do and does it: new replicas are
 * submitted as jobs of the service's project (quota, fair share, residency and the budget apply to
 * each, like any job), stopped ones drain first (no new requests; cancelled once their in-flight
 * requests ended or the drain timeout passed). Replica jobs are submitted and cancelled as the
 * principal `service:<id>` of the service's organisation, so each shows in the audit log as the
 * service's doing.
 */
import { type AutoscalerMemory, decideReplicas, EMPTY_AUTOSCALER_MEMORY } from '../../lifecycle/index.js';
import type { Principal } from '../../model/principal.js';
import type { JobSpec } from '../../model/schemas.js';
import type { ReplicaPhase, ReplicaView } from '../../model/service.js';
import type { Service, ServiceSpec } from '../../model/service-schemas.js';
import type { Store } from '../../store/open-store.js';
import type { ServicesTable } from '../../store/schema-services.js';
import { type Endpoint, isUnhealthy, newProbeState, type ProbeState, probeDue } from './probes.js';
import type { ServiceLoad } from './service-load.js';
import type { ReplicaStatus } from './service-registry.js';
import { openSpec, replicaJobSpec, scalingOfRow } from './service-rows.js';

/** How the loop starts and stops replica jobs (the control plane's job service). */
export interface ReplicaJobs {
  submit(p: Principal, spec: JobSpec, idempotencyKey: string, requestId: string): Promise<{ job: { id: string } }>;
  cancel(p: Principal, id: string, requestId: string): Promise<unknown>;
}

export interface ReplicaLoopDeps {
  store: Store;
  jobs: ReplicaJobs;
  load: ServiceLoad;
  /** The endpoint a running job reported (host:port), or null. */
  endpointOf: (jobId: string) => Endpoint | null;
  now: () => number;
  intervalMs?: number;
  /** A draining replica is stopped after this long even with requests in flight. */
  drainTimeoutMs?: number;
  /** After a refused replica submission, the service waits this long before it tries again. */
  retryAfterMs?: number;
  onError?: (what: string, err: unknown) => void;
}

interface LiveReplica {
  jobId: string;
  serviceId: string;
  revision: number;
  state: string;
  createdAt: number;
}

const replicaPrincipal = (row: Pick<ServicesTable, 'id' | 'org_id'>): Principal => ({
  userId: `service:${row.id}`,
  role: 'member',
  org: row.org_id,
});

export class ReplicaLoop implements ReplicaStatus {
  private readonly memory = new Map<string, AutoscalerMemory>();
  private readonly health = new Map<string, ProbeState>();
  /** jobId → since when it drains; cancelled ones are remembered until their job ends. */
  private readonly draining = new Map<string, { since: number; cancelled: boolean; service: string }>();
  private readonly desired = new Map<string, number>();
  private readonly views = new Map<string, Service['replicas']>();
  private readonly backoffUntil = new Map<string, number>();
  /** The live services as of the last tick (the proxy resolves through it). */
  private rows = new Map<string, ServicesTable>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly d: ReplicaLoopDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poke(), this.d.intervalMs ?? 1000);
    this.timer.unref();
    this.poke();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** poke: reconcile soon (one tick at a time; a poke during a tick runs another after it). */
  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.tick()
      .catch((err) => this.d.onError?.('service replica loop', err))
      .finally(() => {
        this.running = null;
        if (this.again && this.timer) {
          this.again = false;
          this.poke();
        }
      });
  }

  status(serviceId: string): Pick<Service, 'desiredReplicas' | 'replicas'> {
    return { desiredReplicas: this.desired.get(serviceId) ?? 0, replicas: this.views.get(serviceId) ?? [] };
  }

  /** metricsView: every live service with its owner, traffic and replica counts (service-metrics.ts). */
  metricsView() {
    return [...this.rows.values()].map((r) => {
      const replicas = this.views.get(r.id) ?? [];
      return {
        org: r.org_id,
        project: r.project_id,
        stats: this.d.load.stats(r.id),
        desired: this.desired.get(r.id) ?? 0,
        ready: replicas.filter((x) => x.phase === 'ready').length,
        replicas: replicas.length,
      };
    });
  }

  traffic(serviceId: string): Service['traffic'] {
    return this.d.load.stats(serviceId);
  }

  /** liveServiceIds: every live service as of the last tick (an external data plane routes their ready replicas). */
  liveServiceIds(): string[] {
    return [...this.rows.keys()];
  }

  /** readyUpstreams: the ready, not draining replicas of a service with their endpoints (for the proxy). */
  readyUpstreams(serviceId: string): { jobId: string; host: string; port: number }[] {
    return (this.views.get(serviceId) ?? []).flatMap((r) => {
      const e = r.phase === 'ready' ? this.d.endpointOf(r.jobId) : null;
      return e ? [{ jobId: r.jobId, ...e }] : [];
    });
  }

  /**
   * probesOf: a live service's readiness and liveness checks (as of the last tick), for drivers that
   * give replicas their own probes (Kubernetes); undefined for a service not seen yet.
   */
  probesOf(serviceId: string): Pick<ServiceSpec, 'readiness' | 'liveness'> | undefined {
    const row = this.rows.get(serviceId);
    const spec = row ? openSpec(this.d.store.fields, row) : undefined;
    return spec ? { readiness: spec.readiness, liveness: spec.liveness } : undefined;
  }

  /** serviceRow: a live service (as of the last tick, else from the store), or null. */
  async serviceRow(id: string): Promise<ServicesTable | null> {
    const hit = this.rows.get(id);
    if (hit) return hit;
    const row = await this.d.store.db
      .selectFrom('services')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row ?? null;
  }

  /** tick: one reconciliation of every service; exported for tests that step it. */
  async tick(): Promise<void> {
    const now = this.d.now();
    const services = await this.d.store.db.selectFrom('services').selectAll().execute();
    this.rows = new Map(services.filter((r) => r.deleted_at === null).map((r) => [r.id, r]));
    const live = await this.liveReplicas();
    const byService = new Map<string, LiveReplica[]>();
    for (const r of live) byService.set(r.serviceId, [...(byService.get(r.serviceId) ?? []), r]);
    this.forgetEnded(live);
    for (const row of services) {
      const replicas = byService.get(row.id) ?? [];
      if (row.deleted_at !== null) {
        for (const r of replicas) this.startDrain(r, now);
        this.desired.delete(row.id);
        this.views.delete(row.id);
        // Once its last replica is gone, nothing of a deleted service stays in memory.
        if (replicas.length === 0) this.forgetService(row.id);
        continue;
      }
      const spec = openSpec(this.d.store.fields, row);
      if (!spec) continue;
      await this.reconcile(row, spec, replicas, now);
    }
    await this.finishDrains(services, now);
  }

  private async reconcile(row: ServicesTable, spec: ServiceSpec, replicas: LiveReplica[], now: number): Promise<void> {
    const load = this.d.load.observe(row.id);
    const phases = new Map<string, ReplicaPhase>();
    for (const r of replicas) {
      phases.set(r.jobId, this.phaseOf(r, spec, now));
    }
    const views: ReplicaView[] = replicas.map((r) => ({
      id: r.jobId,
      revision: r.revision,
      phase: phases.get(r.jobId) ?? 'starting',
      createdAt: r.createdAt,
    }));
    const decision = decideReplicas({
      revision: row.revision,
      scaling: scalingOfRow(row),
      replicas: views,
      load,
      memory: this.memory.get(row.id) ?? EMPTY_AUTOSCALER_MEMORY,
      now,
    });
    this.memory.set(row.id, decision.memory);
    this.desired.set(row.id, decision.desired);
    for (const s of decision.stop) {
      const r = replicas.find((x) => x.jobId === s.id);
      if (r) this.startDrain(r, now, s.reason === 'unhealthy');
      phases.set(s.id, 'draining');
    }
    if (decision.create > 0 && (this.backoffUntil.get(row.id) ?? 0) <= now) await this.create(row, spec, decision.create);
    this.views.set(
      row.id,
      replicas.map((r) => ({
        jobId: r.jobId,
        revision: r.revision,
        phase: phases.get(r.jobId) ?? 'starting',
        endpoint: endpointText(this.d.endpointOf(r.jobId)),
      })),
    );
  }

  /** phaseOf: a replica's phase from its job state, its probes and whether it drains; starts due probes. */
  private phaseOf(r: LiveReplica, spec: ServiceSpec, now: number): ReplicaPhase {
    if (this.draining.has(r.jobId)) return 'draining';
    if (r.state !== 'running') return 'starting';
    const endpoint = this.d.endpointOf(r.jobId);
    if (!endpoint) return 'starting';
    let h = this.health.get(r.jobId);
    if (!h) {
      h = newProbeState();
      this.health.set(r.jobId, h);
    }
    const state = h;
    void probeDue(state, endpoint, spec, now).then(() => {
      // A replica that just got ready is worth a tick now, not at the next interval.
      if (state.ready && !this.views.get(r.serviceId)?.some((v) => v.jobId === r.jobId && v.phase === 'ready')) this.poke();
    });
    if (isUnhealthy(state, spec)) return 'unhealthy';
    return state.ready ? 'ready' : 'starting';
  }

  private async create(row: ServicesTable, spec: ServiceSpec, count: number): Promise<void> {
    const p = replicaPrincipal(row);
    const made = await this.d.store.db
      .selectFrom('service_replicas')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('service_id', '=', row.id)
      .executeTakeFirstOrThrow();
    for (let i = 0; i < count; i++) {
      // The same key after a crash between submission and the replica row replays the job, not a second one.
      const key = `${row.id}-${Number(made.n) + i + 1}`;
      try {
        const { job } = await this.d.jobs.submit(p, replicaJobSpec(row, spec, row.revision), key, `service:${row.id}`);
        await this.d.store.write((trx) =>
          trx
            .insertInto('service_replicas')
            .values({
              job_id: Number(job.id),
              service_id: row.id,
              revision: row.revision,
              created_at: new Date(this.d.now()).toISOString(),
            })
            .onConflict((oc) => oc.column('job_id').doNothing())
            .execute(),
        );
      } catch (err) {
        this.backoffUntil.set(row.id, this.d.now() + (this.d.retryAfterMs ?? 10_000));
        this.d.onError?.(`service ${row.id}: replica submission refused`, err);
        return;
      }
    }
  }

  private startDrain(r: LiveReplica, now: number, immediately = false): void {
    if (this.draining.has(r.jobId)) return;
    this.draining.set(r.jobId, { since: immediately ? Number.NEGATIVE_INFINITY : now, cancelled: false, service: r.serviceId });
  }

  /** finishDrains: cancels the draining replicas whose requests ended (or that drained too long). */
  private async finishDrains(services: ServicesTable[], now: number): Promise<void> {
    const byId = new Map(services.map((s) => [s.id, s]));
    for (const [jobId, d] of this.draining) {
      if (d.cancelled) continue;
      const idle = this.d.load.inFlightOf(d.service, jobId) === 0;
      if (!idle && now - d.since < (this.d.drainTimeoutMs ?? 30_000)) continue;
      const row = byId.get(d.service);
      if (!row) continue;
      d.cancelled = true;
      try {
        await this.d.jobs.cancel(replicaPrincipal(row), jobId, `service:${row.id}`);
      } catch (err) {
        this.d.onError?.(`service ${row.id}: stopping replica ${jobId}`, err);
      }
    }
  }

  private async liveReplicas(): Promise<LiveReplica[]> {
    const rows = await this.d.store.db
      .selectFrom('service_replicas')
      .innerJoin('jobs', 'jobs.id', 'service_replicas.job_id')
      .select([
        'service_replicas.job_id',
        'service_replicas.service_id',
        'service_replicas.revision',
        'service_replicas.created_at',
        'jobs.state',
      ])
      .where('jobs.state', 'in', ['queued', 'running'])
      .execute();
    return rows.map((r) => ({
      jobId: String(r.job_id),
      serviceId: r.service_id,
      revision: r.revision,
      state: r.state,
      // Job ids break ties within a millisecond (submission order).
      createdAt: Date.parse(r.created_at) + r.job_id / 1e6,
    }));
  }

  private forgetService(id: string): void {
    this.memory.delete(id);
    this.backoffUntil.delete(id);
    this.d.load.forget(id);
  }

  /** forgetEnded: drops probe and drain state of replicas whose jobs ended. */
  private forgetEnded(live: LiveReplica[]): void {
    const ids = new Set(live.map((r) => r.jobId));
    for (const id of this.health.keys()) if (!ids.has(id)) this.health.delete(id);
    for (const id of this.draining.keys()) if (!ids.has(id)) this.draining.delete(id);
  }
}

const endpointText = (e: Endpoint | null) => (e ? `${e.host}:${e.port}` : null);
