/**
 * Policy registry: a `--policy` name -> the scheduling policy the simulator runs with. Each named
 * policy is a preset of the server's policy schema (no weights copied by hand), plus how quotas are
 * derived from tenant entitlements; `--policy FILE` runs a server policy file as it is.
 */
import type { Fleet, GpuType } from '../model/fleet.js';
import { type PolicyInput, PolicySchema, type Policy as SchedulingPolicy } from '../model/policy.js';
import type { QuotaTable } from '../scheduler/index.js';

/** QuotaMode: `unlimited` gives every project the whole fleet; `entitlement` a hard cap of its share. */
export type QuotaMode = 'unlimited' | 'entitlement';

/**
 * Policy: a scheduling policy in the server's schema (src/model/policy.ts: the same file
 * `gigafab server --policy` reads) plus how the simulator derives quotas, which a live server gets
 * from its operators. Every policy runs the real `scheduleCycle` on the real `ClusterModel`.
 */
export interface Policy {
  name: string;
  description: string;
  quotaMode: QuotaMode;
  scheduling: SchedulingPolicy;
}

const POLICIES = new Map<string, Policy>();

/** registerPolicy adds (or replaces) a named policy. */
export function registerPolicy(p: Policy): void {
  POLICIES.set(p.name, p);
}

/** preset: a named policy as a (partial) policy file; unset fields take the server's defaults. */
const preset = (name: string, description: string, quotaMode: QuotaMode, file: PolicyInput): Policy => ({
  name,
  description,
  quotaMode,
  scheduling: PolicySchema.parse(file),
});

// The v1 scheduler: no fair share, no backfill.
const V1: PolicyInput = { fairShare: { enabled: false }, backfill: { enabled: false } };

registerPolicy(
  preset(
    'default',
    'v1 scheduler (priority, FIFO within priority, no head-of-line blocking, packing); no quota limits',
    'unlimited',
    V1,
  ),
);
registerPolicy(
  preset('fifo-backfill', 'FIFO within priority class plus EASY backfill (no fair share); no quota limits', 'unlimited', {
    fairShare: { enabled: false },
    backfill: { enabled: true },
  }),
);
registerPolicy(
  preset(
    'entitlement-quota',
    'v1 scheduler with hard quotas: each project may hold its entitlement share of each GPU type',
    'entitlement',
    V1,
  ),
);
registerPolicy(
  preset(
    'entitlement-borrowing',
    'entitlement quotas plus cohort borrowing: idle quota of other projects may be borrowed',
    'entitlement',
    { ...V1, borrowing: { enabled: true } },
  ),
);
registerPolicy(
  preset(
    'fair-share',
    "the live server's default policy file plus borrowing: entitlement quotas, cohort borrowing, multifactor priority with hierarchical fair share (7-day half-life), EASY backfill",
    'entitlement',
    { borrowing: { enabled: true } },
  ),
);
registerPolicy(
  preset(
    'fair-share-preemption',
    'fair-share plus preemption: tenants within their entitlement reclaim borrowed capacity (at most 2 victim GPUs per requested GPU, victims run 10 min at least, 30 s grace)',
    'entitlement',
    { borrowing: { enabled: true }, preemption: { enabled: true } },
  ),
);

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
 * policyFromFile: a server policy file's content as a simulator policy (quotas from entitlements
 * when tenants declare them, else unlimited). Throws on an invalid file, naming the field.
 */
export function policyFromFile(name: string, content: unknown, quotaMode: QuotaMode): Policy {
  const parsed = PolicySchema.safeParse(content ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new UnknownPolicyError(`invalid policy file ${name}: ${first?.path.join('.')}: ${first?.message}`);
  }
  return { name, description: `policy file ${name}`, quotaMode, scheduling: parsed.data };
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
