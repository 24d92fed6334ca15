/**
 * Policy registry: a `--policy` name -> the scheduler configuration the simulator runs with.
 *
 * The v1 scheduler has one ordering/placement policy. A policy here therefore bundles
 * (a) extra CycleInput fields (fair share, backfill, preemption are being added to CycleInput as
 *     optional fields: a new policy is one registry entry that sets them), and
 * (b) how quotas are derived from tenant entitlements.
 * Every policy runs the real `scheduleCycle` on the real `ClusterModel`.
 */
import type { Fleet, GpuType } from '../model/fleet.js';
import type { CycleInput, PreemptionInput, PriorityWeights, QuotaTable } from '../scheduler/index.js';

/** QuotaMode: `unlimited` gives every project the whole fleet; `entitlement` a hard cap of its share. */
export type QuotaMode = 'unlimited' | 'entitlement';

export interface Policy {
  name: string;
  description: string;
  quotaMode: QuotaMode;
  /** Static CycleInput fields this policy sets (borrowing, backfill, ...). */
  cycleExtras: Partial<Omit<CycleInput, 'queue' | 'quotas' | 'now' | 'fairShare' | 'preemption' | 'running'>>;
  /**
   * Multifactor priority with fair share. The engine keeps the decayed usage per tenant (charged
   * every cycle for the GPUs held since the last one, as the live server does) and derives shares
   * from the tenants' entitlements (org share = sum of its projects' weights).
   */
  fairShare?: {
    halfLifeSeconds: number;
    weights: PriorityWeights;
    maxAgeSeconds?: number;
    /** Usage weight per GPU type (default 1), as the server's `fairShare.gpuTypeWeights`. */
    gpuTypeWeights?: ReadonlyMap<GpuType, number>;
  };
  /**
   * Preemption: the engine passes the running jobs, gives each victim `graceSeconds` to stop, then
   * requeues it from scratch (traces carry no checkpoints: all its work so far is counted as lost).
   */
  preemption?: PreemptionInput & { graceSeconds: number };
}

const POLICIES = new Map<string, Policy>();

/** registerPolicy adds (or replaces) a named policy. */
export function registerPolicy(p: Policy): void {
  POLICIES.set(p.name, p);
}

registerPolicy({
  name: 'default',
  description: 'v1 scheduler (priority, FIFO within priority, no head-of-line blocking, packing); no quota limits',
  quotaMode: 'unlimited',
  cycleExtras: {},
});
registerPolicy({
  name: 'entitlement-quota',
  description: 'v1 scheduler with hard quotas: each project may hold its entitlement share of each GPU type',
  quotaMode: 'entitlement',
  cycleExtras: {},
});

registerPolicy({
  name: 'entitlement-borrowing',
  description: 'entitlement quotas plus cohort borrowing: idle quota of other projects may be borrowed',
  quotaMode: 'entitlement',
  cycleExtras: { borrowing: { enabled: true } },
});

/** The live server's defaults (src/server/policy.ts): the class dominates, then fair share, age, size. */
const SERVER_WEIGHTS: PriorityWeights = { fairShare: 1000, age: 500, priorityClass: 10000, size: 100 };
const WEEK = 7 * 24 * 3600;

registerPolicy({
  name: 'fair-share',
  description:
    'the live server default plus borrowing: entitlement quotas, cohort borrowing, multifactor priority with hierarchical fair share (7-day half-life), EASY backfill',
  quotaMode: 'entitlement',
  cycleExtras: { borrowing: { enabled: true }, backfill: { enabled: true, reservations: 1 } },
  fairShare: { halfLifeSeconds: WEEK, weights: SERVER_WEIGHTS, maxAgeSeconds: WEEK },
});
registerPolicy({
  name: 'fair-share-preemption',
  description:
    'fair-share plus preemption: tenants within their entitlement reclaim borrowed capacity (at most 2 victim GPUs per requested GPU, victims run 10 min at least, 30 s grace)',
  quotaMode: 'entitlement',
  cycleExtras: { borrowing: { enabled: true }, backfill: { enabled: true, reservations: 1 } },
  fairShare: { halfLifeSeconds: WEEK, weights: SERVER_WEIGHTS, maxAgeSeconds: WEEK },
  preemption: { enabled: true, maxEvictedGpusPerRequestedGpu: 2, minRuntimeSeconds: 600, graceSeconds: 30 },
});

export function policyNames(): string[] {
  return [...POLICIES.keys()].sort();
}

export class UnknownPolicyError extends Error {}

export function getPolicy(name: string): Policy {
  const p = POLICIES.get(name);
  if (!p) throw new UnknownPolicyError(`unknown policy ${name} (known: ${policyNames().join(', ')})`);
  return p;
}

/**
 * QuotaBook builds the QuotaTable lazily as projects appear (the trace is streamed, so the tenant
 * set is not known up front). unlimited: quota = GPUs of the type in the fleet. entitlement:
 * quota = ceil(share x GPUs of the type), share = weight / sum of weights of all *declared*
 * tenants (`entitlements`), or 1 / expectedTenants for undeclared ones.
 */
export class QuotaBook {
  private readonly table = new Map<string, Map<GpuType, number>>();
  private readonly perType = new Map<GpuType, number>();

  constructor(
    fleet: Fleet,
    private readonly mode: QuotaMode,
    private readonly entitlements: ReadonlyMap<string, number>,
    private readonly expectedTenants: number,
  ) {
    for (const n of fleet.nodes) this.perType.set(n.gpuType, (this.perType.get(n.gpuType) ?? 0) + n.gpus);
    // Declared tenants hold their quota from the start: with borrowing, their idle quota is lendable
    // before their first job arrives.
    for (const project of [...entitlements.keys()].sort()) this.ensure(project);
  }

  get quotas(): QuotaTable {
    return this.table;
  }

  /** ensure adds `project` (a tenant key) to the table if it is new. */
  ensure(project: string): void {
    if (this.table.has(project)) return;
    const row = new Map<GpuType, number>();
    let share = 1;
    if (this.mode === 'entitlement') {
      const sum = [...this.entitlements.values()].reduce((a, b) => a + b, 0);
      const w = this.entitlements.get(project);
      share = w !== undefined && sum > 0 ? w / sum : 1 / Math.max(1, this.expectedTenants);
    }
    for (const [type, gpus] of this.perType) row.set(type, Math.ceil(share * gpus));
    this.table.set(project, row);
  }
}
