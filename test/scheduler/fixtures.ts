/**
 * Test fixtures: tiny hand-made fleets, jobs and quota tables for the scheduler tests.
 */
import { expandFleet } from '../../src/fleet/load-fleet.js';
import {
  admit,
  applyCycle,
  type Effect,
  handedOver,
  LifecycleState,
  observeCheckpoint,
  observeExit,
  releaseHolds,
  runningView,
  schedulable,
} from '../../src/lifecycle/index.js';
import type { Fleet, FleetSpec, NodeTypeSpec, PoolSpec } from '../../src/model/fleet.js';
import type { ClusterModel, CycleResult, QuotaTable, RunningJobInfo, SchedJob } from '../../src/scheduler/index.js';

/** PoolDef is one pool of identical nodes for makeFleet. */
export interface PoolDef {
  site: string;
  gpuType: string;
  count: number;
  /** GPUs per node; default 8. */
  gpus?: number;
  /** Nodes per scalable unit; default 4. */
  unitSize?: number;
  /** Node name prefix; default `${site}-${gpuType lower-case}-${gpus}`. */
  prefix?: string;
  /** Labels of every node of the pool. */
  labels?: Record<string, string>;
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

/** makeFleet builds and expands a fleet from pool definitions (sites and node types derived). */
export function makeFleet(pools: PoolDef[]): Fleet {
  const sites = [...new Set(pools.map((p) => p.site))];
  const nodeTypes = new Map<string, NodeTypeSpec>();
  const poolSpecs: PoolSpec[] = [];
  for (const p of pools) {
    const gpus = p.gpus ?? 8;
    const typeId = `${slug(p.gpuType)}-${gpus}`;
    if (!nodeTypes.has(typeId)) {
      nodeTypes.set(typeId, {
        id: typeId,
        gpuType: p.gpuType,
        gpusPerNode: gpus,
        gpuMemoryGiB: 80,
        interconnect: 'nvlink',
        cpus: 64,
        memoryGiB: 1024,
      });
    }
    poolSpecs.push({
      site: p.site,
      nodeType: typeId,
      count: p.count,
      unitSize: p.unitSize ?? 4,
      namePrefix: p.prefix ?? `${p.site}-${typeId}`,
      ...(p.labels ? { labels: p.labels } : {}),
    });
  }
  const spec: FleetSpec = {
    name: 'test',
    sites: sites.map((id) => ({ id, name: id, city: id, country: 'DE', certifications: [] })),
    nodeTypes: [...nodeTypes.values()],
    pools: poolSpecs,
  };
  return expandFleet(spec);
}

let nextSeq = 1;

/** job builds a SchedJob with defaults (1 x 1 B200 in project p1, normal priority). */
export function job(id: string, over: Partial<SchedJob> = {}): SchedJob {
  return {
    id,
    seq: nextSeq++,
    org: 'org1',
    project: 'p1',
    gpuType: 'B200',
    gpusPerNode: 1,
    nodes: 1,
    priority: 100,
    submittedAt: 0,
    maxRuntimeSeconds: 3600,
    ...over,
  };
}

/** quotas builds a QuotaTable from a plain object: { project: { gpuType: gpus } }. */
export function quotas(table: Record<string, Record<string, number>>): QuotaTable {
  return new Map(Object.entries(table).map(([p, byType]) => [p, new Map(Object.entries(byType))]));
}

/** BIG_QUOTA gives projects p1..p4 a quota no test fleet can exhaust, for B200 and RTX. */
export const BIG_QUOTA = quotas(
  Object.fromEntries(['p1', 'p2', 'p3', 'p4'].map((p) => [p, { B200: 1_000_000, RTX: 1_000_000 }])),
);

/**
 * PropertyWorld: a property test's world driven by the job lifecycle the server and the simulator
 * use (src/lifecycle): starts become running jobs (checkpointed at start), victims stop at once,
 * are requeued and held behind their preemptor, finished jobs free their GPUs. `running` is the
 * scheduler's view of the started jobs after each step.
 */
export class PropertyWorld {
  readonly jobs = new Map<string, SchedJob>();
  readonly running = new Map<string, RunningJobInfo>();
  private readonly lc = new LifecycleState();

  constructor(readonly cluster: ClusterModel) {}

  submit(j: SchedJob): void {
    this.jobs.set(j.id, j);
    admit(this.lc, {
      id: j.id,
      org: j.org,
      project: j.project,
      priority: j.priority,
      maxRuntimeSeconds: j.maxRuntimeSeconds,
      onNodeFailure: 'requeue',
    });
  }

  /** The jobs the next cycle considers: queued, and held ones whose preemptor has started. */
  queue(): SchedJob[] {
    releaseHolds(this.lc);
    return [...this.jobs.values()].filter((j) => schedulable(this.lc, j.id));
  }

  /** apply carries a cycle's decisions out through the lifecycle and executes its effects at once. */
  apply(r: CycleResult, now: number): void {
    this.execute(applyCycle(this.lc, r, now, 0).effects, now);
    this.refresh();
  }

  /** finishPicked ends the started job `pick` chooses (nothing when none runs). */
  finishPicked(pick: number, now: number): void {
    const ids = [...this.running.keys()];
    if (ids.length === 0) return;
    this.execute(observeExit(this.lc, ids[pick % ids.length] as string, { outcome: 'completed', exitCode: 0 }, now).effects, now);
    this.refresh();
  }

  private execute(effects: readonly Effect[], now: number): void {
    for (const e of effects) {
      if (e.type === 'start-on-driver') {
        this.execute(handedOver(this.lc, e.jobId, 0).effects, now);
        observeCheckpoint(this.lc, e.jobId, now);
      } else if (e.type === 'stop-on-driver') {
        this.execute(observeExit(this.lc, e.jobId, { outcome: 'cancelled', exitCode: 143 }, now).effects, now);
      } else if (e.type === 'release') {
        this.cluster.release(e.jobId);
      }
    }
  }

  private refresh(): void {
    this.running.clear();
    for (const j of this.lc.jobs.values()) {
      const v = runningView(j);
      if (v) this.running.set(j.id, v);
    }
  }
}
