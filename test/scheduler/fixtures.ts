/**
 * Test fixtures: tiny hand-made fleets, jobs and quota tables for the scheduler tests.
 */
import { expandFleet } from '../../src/fleet/load-fleet.js';
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

/** The property tests' release step: frees the running job `pick` chooses (nothing when none runs). */
export function releasePicked(cluster: ClusterModel, running: Map<string, unknown>, pick: number): void {
  const ids = [...running.keys()];
  if (ids.length === 0) return;
  const id = ids[pick % ids.length];
  cluster.release(id);
  running.delete(id);
}

/**
 * applyCycle carries a cycle's decisions into a property test's world: starts become running jobs
 * (checkpointed at start; priority < 500 is preemptible), victims drain at once and are queued again
 * (same job, same seq). Returns the new queue.
 */
export function applyCycle(
  cluster: ClusterModel,
  r: CycleResult,
  jobs: ReadonlyMap<string, SchedJob>,
  running: Map<string, RunningJobInfo>,
  queue: SchedJob[],
  now: number,
): SchedJob[] {
  for (const s of r.starts) {
    const j = jobs.get(s.jobId);
    if (!j) throw new Error(`started unknown job ${s.jobId}`);
    running.set(j.id, {
      id: j.id,
      project: j.project,
      org: j.org,
      priority: j.priority,
      gpus: j.gpusPerNode * j.nodes,
      startedAt: now,
      lastCheckpointAt: now,
      borrowed: s.borrowed === true,
      preemptible: j.priority < 500,
      maxRuntimeSeconds: j.maxRuntimeSeconds,
    });
  }
  for (const p of r.preemptions ?? []) {
    cluster.release(p.victimId);
    running.delete(p.victimId);
    const victim = jobs.get(p.victimId);
    if (!victim) throw new Error(`preempted unknown job ${p.victimId}`);
    queue.push(victim);
  }
  return queue.filter((j) => !running.has(j.id));
}
