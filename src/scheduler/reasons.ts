/**
 * Pending reasons: every job a cycle does not start gets exactly one, built here so the codes,
 * sentences and detail keys stay consistent. The API and CLI show them as "why is my job pending".
 */
import type { GpuType } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import { euros } from '../model/money.js';
import { type SpreadDomain, spreadLabelKey } from '../model/spread.js';
import { isoInstant } from '../model/time.js';
import type { BudgetLimit } from './types.js';

/**
 * formatCount writes a count with thousands separators (1234 -> "1,234"), locale-independent; GPU-
 * equivalents of fractional GPUs keep up to three decimals (0.25, 1.143).
 */
export function formatCount(n: number): string {
  const sign = n < 0 ? '-' : '';
  const abs = Math.abs(n);
  const whole = Math.trunc(abs);
  const milli = Math.round((abs - whole) * 1000);
  const int = String(milli === 1000 ? whole + 1 : whole).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  if (milli === 0 || milli === 1000) return sign + int;
  return `${sign}${int}.${String(milli).padStart(3, '0').replace(/0+$/, '')}`;
}

/** CapacityShortfall is what the capacity step saw when a shape found no room. */
export interface CapacityShortfall {
  gpuType: GpuType;
  gpusPerNode: number;
  nodes: number;
  /** true when the job needs whole nodes (gpusPerNode equals the node size). */
  wholeNodes: boolean;
  /** Free GPUs of the type on up nodes, fleet-wide. */
  freeFleetWide: number;
  /** Site with most eligible nodes (nodes with at least gpusPerNode free GPUs), '' if none. */
  bestSite: string;
  bestSiteNodes: number;
  /** Eligible nodes summed over all sites. */
  eligibleNodes: number;
  /** Most free GPUs on any single up node of the type. */
  largestFreeOnNode: number;
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

/** REASON holds one builder per pending reason code. */
export const REASON = {
  /**
   * budgetExhausted: the job's estimate does not fit what is left of a monthly budget over it (the
   * one with least left); it starts once budget frees: a larger cap, the next month, running jobs
   * ending under their estimates.
   */
  budgetExhausted(limit: BudgetLimit, needsCents: number, leftCents: number): PendingReason {
    const whose = limit.scope === 'project' ? `project ${limit.id}'s` : `organisation ${limit.id}'s`;
    return {
      code: 'budget_exhausted',
      message:
        `waiting: the job needs EUR ${euros(needsCents)}, EUR ${euros(Math.max(0, leftCents))} left of ${whose} ` +
        `EUR ${euros(limit.capCents)} budget for ${limit.month}; it starts when budget frees ` +
        '(a larger cap, the next month, running jobs ending under their estimates)',
      details: {
        scope: limit.scope,
        budget: limit.id,
        month: limit.month,
        needsCents,
        leftCents: Math.max(0, leftCents),
        capCents: limit.capCents,
      },
    };
  },

  /** quotaExhausted: the project's quota for the type has no room for the job (now). */
  quotaExhausted(project: string, gpuType: GpuType, inUse: number, quota: number, needs: number): PendingReason {
    const message =
      needs > quota
        ? `waiting: job needs ${formatCount(needs)} ${gpuType} but project ${project} quota is ${formatCount(quota)} ` +
          `(${formatCount(inUse)} in use); ask for a larger quota`
        : `waiting: quota of project ${project} exhausted (${formatCount(inUse)}/${formatCount(quota)} ${gpuType} ` +
          `in use, job needs ${formatCount(needs)})`;
    return { code: 'quota_exhausted', message, details: { project, gpuType, inUse, quota, needs } };
  },

  /** noQuota: the project has no quota at all for the type. */
  noQuota(project: string, gpuType: GpuType, needs: number): PendingReason {
    return {
      code: 'no_quota',
      message: `waiting: project ${project} has no ${gpuType} quota (job needs ${formatCount(needs)})`,
      details: { project, gpuType, needs },
    };
  },

  /** insufficientCapacity: quota allows the job but no site has room for its shape right now. */
  insufficientCapacity(s: CapacityShortfall): PendingReason {
    const free = `${formatCount(s.freeFleetWide)} ${s.gpuType} free fleet-wide`;
    let message: string;
    if (s.nodes === 1) {
      message =
        `waiting: no node with ${s.gpusPerNode} free ${s.gpuType} ${plural(s.gpusPerNode, 'GPU', 'GPUs')} ` +
        `(${free}, at most ${s.largestFreeOnNode} free on one node)`;
    } else {
      const what = s.wholeNodes ? 'fully free nodes' : `nodes with ${s.gpusPerNode}+ free GPUs`;
      message =
        `waiting: no ${formatCount(s.nodes)} nodes with ${s.gpusPerNode} free ${s.gpuType} GPUs each in one site ` +
        `(${free}, largest site has ${formatCount(s.bestSiteNodes)} ${what})`;
    }
    return { code: 'insufficient_capacity', message, details: shortfallDetails(s) };
  },

  /** topology: enough eligible nodes exist, but not in one site (a gang never spans sites). */
  topology(s: CapacityShortfall): PendingReason {
    return {
      code: 'topology',
      message:
        `waiting: ${formatCount(s.eligibleNodes)} nodes with ${s.gpusPerNode} free ${s.gpuType} GPUs are free ` +
        `across sites, but a gang must run in one site (largest: ${s.bestSite} with ${formatCount(s.bestSiteNodes)}, ` +
        `job needs ${formatCount(s.nodes)})`,
      details: shortfallDetails(s),
    };
  },

  /** unsatisfiable: the job can never run on this fleet (see validateJobFitsFleet). */
  unsatisfiable(why: string, details: Record<string, string | number | boolean>): PendingReason {
    return { code: 'unsatisfiable', message: `cannot run: ${why}`, details };
  },

  /**
   * noShareCapacity: a fraction or MIG instance found no GPU: none of its organisation's shared GPUs
   * has room, and no free GPU is left in a site that allows sharing.
   */
  noShareCapacity(gpuType: GpuType, org: string, what: string, sites: readonly string[]): PendingReason {
    return {
      code: 'insufficient_capacity',
      message:
        `waiting: no ${gpuType} GPU with ${what} free of your organisation ${org}, and no free ${gpuType} GPU ` +
        `in ${sites.length === 1 ? 'site' : 'sites'} ${sites.join(', ')} (GPUs are never shared across organisations)`,
      details: { gpuType, share: what, sites: sites.join(',') },
    };
  },

  /** sharingNotAllowed: no site the job may use offers its GPU type and allows GPU sharing. */
  sharingNotAllowed(gpuType: GpuType, sites: readonly string[]): PendingReason {
    return {
      code: 'constraints',
      message:
        sites.length > 0
          ? `waiting: ${sites.join(', ')} ${sites.length === 1 ? 'does' : 'do'} not allow GPU sharing, and no other site the job may use has ${gpuType}`
          : `waiting: no site the job may use has ${gpuType} and allows GPU sharing`,
      details: { gpuType, rule: 'sharing_not_allowed', sites: sites.join(',') },
    };
  },

  /**
   * spread: the job would fit, but only on nodes that already hold a member of its spread group
   * (`required`): "every B200 node with a free GPU already runs a replica of svc_x".
   */
  spread(
    gpuType: GpuType | null,
    gpusPerNode: number,
    name: string,
    group: string,
    occupied: number,
    over: SpreadDomain = 'node',
  ): PendingReason {
    const type = gpuType ?? 'GPU';
    const free = gpusPerNode === 1 ? 'a free GPU' : `${gpusPerNode} free GPUs`;
    if (over === 'node') {
      return {
        code: 'spread',
        message:
          `waiting: every ${type} node with ${free} already runs a replica of ${name} ` +
          `(spread: required; ${occupied} ${plural(occupied, 'node holds', 'nodes hold')} one)`,
        details: { spreadGroup: group, gpuType: type, gpusPerNode, nodesWithReplica: occupied },
      };
    }
    const label = spreadLabelKey(over);
    if (label !== undefined) {
      return {
        code: 'spread',
        message:
          `waiting: every ${type} node with ${free} has a ${label} that already runs a replica of ${name} ` +
          `(spread: required over label ${label}; ${occupied} ${plural(occupied, 'value holds', 'values hold')} one)`,
        details: { spreadGroup: group, gpuType: type, gpusPerNode, spreadOver: over, domainsWithReplica: occupied },
      };
    }
    const [one, many] = over === 'unit' ? ['scalable unit', 'scalable units'] : ['site', 'sites'];
    return {
      code: 'spread',
      message:
        `waiting: every ${type} node with ${free} is in a ${one} that already runs a replica of ${name} ` +
        `(spread: required over ${many}; ${occupied} ${plural(occupied, `${one} holds`, `${many} hold`)} one)`,
      details: { spreadGroup: group, gpuType: type, gpusPerNode, spreadOver: over, domainsWithReplica: occupied },
    };
  },

  /** alreadyPlaced: the job holds an allocation (start decided, not yet persisted). */
  alreadyPlaced(jobId: string): PendingReason {
    return {
      code: 'not_yet_scheduled',
      message: `waiting: job ${jobId} already has a placement that is being started`,
      details: { alreadyPlaced: true },
    };
  },
} as const;

function shortfallDetails(s: CapacityShortfall): Record<string, string | number | boolean> {
  return {
    gpuType: s.gpuType,
    gpusPerNode: s.gpusPerNode,
    nodes: s.nodes,
    wholeNodes: s.wholeNodes,
    freeFleetWide: s.freeFleetWide,
    bestSite: s.bestSite,
    bestSiteNodes: s.bestSiteNodes,
    eligibleNodes: s.eligibleNodes,
    largestFreeOnNode: s.largestFreeOnNode,
  };
}

/** ExcludedCapacity: what a site excluded by residency has of the job's GPU type right now. */
export interface ExcludedCapacity {
  site: string;
  rule: string;
  reason: string;
  /** Free GPUs of the type on up nodes of the site. */
  free: number;
  /** The site is large enough for the job's shape (when idle). */
  fits: boolean;
  /** Only dated rules exclude it: a renewed attestation would let the job in. */
  renewable: boolean;
}

/** byRelevance: excluded sites that could host the job first, renewable ones first, then most free. */
export function byRelevance(a: ExcludedCapacity, b: ExcludedCapacity): number {
  return (
    Number(b.fits) - Number(a.fits) ||
    Number(b.renewable) - Number(a.renewable) ||
    b.free - a.free ||
    (a.site < b.site ? -1 : a.site > b.site ? 1 : 0)
  );
}

/**
 * scopedShortfall: a capacity or topology reason whose counts cover only the sites the job may use
 * (its residency rules, or its own site constraints), said so, with each residency-excluded site
 * that has the GPU type, its free GPUs and the rule that excludes it. When none of the sites the
 * job may use is large enough for its shape but an excluded one is, residency is what keeps it
 * waiting (not capacity, not topology): the code is `residency`, naming that site's rule.
 */
export function scopedShortfall(
  s: CapacityShortfall,
  topology: boolean,
  scope: { sites: readonly string[]; by: 'residency' | 'constraints'; fits: boolean },
  excluded: readonly ExcludedCapacity[],
): PendingReason {
  const n = scope.sites.length;
  const where =
    scope.by === 'residency'
      ? `the ${n} ${plural(n, 'site', 'sites')} your residency rules allow (${scope.sites.join(', ') || 'none'})`
      : `the ${n} ${plural(n, 'site', 'sites')} the job's constraints allow (${scope.sites.join(', ') || 'none'})`;
  const free = `${formatCount(s.freeFleetWide)} ${s.gpuType} free there`;
  let base: string;
  if (topology) {
    base =
      `${formatCount(s.eligibleNodes)} nodes with ${s.gpusPerNode} free ${s.gpuType} GPUs are free across ${where}, ` +
      `but a gang must run in one site (largest: ${s.bestSite} with ${formatCount(s.bestSiteNodes)}, job needs ${formatCount(s.nodes)})`;
  } else if (s.nodes === 1) {
    base =
      `no node with ${s.gpusPerNode} free ${s.gpuType} ${plural(s.gpusPerNode, 'GPU', 'GPUs')} in ${where} ` +
      `(${free}, at most ${s.largestFreeOnNode} free on one node)`;
  } else {
    const what = s.wholeNodes ? 'fully free nodes' : `nodes with ${s.gpusPerNode}+ free GPUs`;
    base =
      `no ${formatCount(s.nodes)} nodes with ${s.gpusPerNode} free ${s.gpuType} GPUs each in one site of ${where} ` +
      `(${free}, largest site has ${formatCount(s.bestSiteNodes)} ${what})`;
  }
  const shown = [...excluded].sort(byRelevance);
  const outside = shown
    .map((e) => `${formatCount(e.free)} ${s.gpuType} free in ${e.site}, excluded: ${e.reason} [${e.rule}]`)
    .join('; ');
  const details: Record<string, string | number | boolean> = {
    ...shortfallDetails(s),
    scope: scope.by,
    scopeSites: scope.sites.join(','),
    residencyExcluded: shown.map((e) => `${e.site}:${e.rule}`).join(','),
    freeInExcluded: shown.reduce((a, e) => a + e.free, 0),
  };
  const blocker = scope.fits ? undefined : shown.find((e) => e.fits);
  if (blocker) {
    return {
      code: 'residency',
      message:
        `waiting: no site your residency rules allow (${scope.sites.join(', ') || 'none'}) is large enough for ` +
        `${formatCount(s.nodes)} x ${s.gpusPerNode} ${s.gpuType} (largest: ${s.bestSite || 'none'}); ` +
        `${blocker.site} is, but is excluded: ${blocker.reason} [${blocker.rule}]` +
        (shown.length > 1 ? `; ${outside}` : ''),
      details: { ...details, rule: blocker.rule },
    };
  }
  return {
    code: topology ? 'topology' : 'insufficient_capacity',
    message: `waiting: ${base}${outside ? `; ${outside}` : ''}`,
    details,
  };
}

/** preemptingReason: the job waits for victims to drain (they were told to, this or an earlier cycle). */
export function preemptingReason(victims: readonly string[], victimGpus: number, newVictims: number): PendingReason {
  const shown = victims.slice(0, 10).join(', ') + (victims.length > 10 ? `, +${victims.length - 10} more` : '');
  return {
    code: 'preempting',
    message:
      `waiting: preempting ${victims.length} ${plural(victims.length, 'job', 'jobs')} ` +
      `(${formatCount(victimGpus)} GPUs, ${newVictims} newly evicted) to make room: ${shown}`,
    details: { victims: victims.join(','), victimGpus, newVictims },
  };
}

/** The jobs (or windows) a `reserved` reason waits behind, kept beside the reason rather than parsed out of it. */
const reservationOwners = new WeakMap<PendingReason, readonly string[]>();

/** reservedReason: the job would fit now, but only on GPUs reserved for higher jobs it would outlast. */
export function reservedReason(owners: readonly string[], start: number): PendingReason {
  const reason: PendingReason = {
    code: 'reserved',
    message:
      `waiting: the free capacity is reserved for ${owners.join(', ')} (expected to start at ${isoInstant(start)}); ` +
      'a job that ends before then may backfill',
    details: { reservedFor: owners.join(', '), reservationStart: start },
  };
  reservationOwners.set(reason, [...owners]);
  return reason;
}

/** reservedOwners: who a `reserved` reason waits behind (undefined for other reasons). */
export function reservedOwners(reason: PendingReason): readonly string[] | undefined {
  return reservationOwners.get(reason);
}
