/**
 * Placement constraints as data: required / forbidden sites, required site certifications, data
 * residency (allowed sites with the rule that narrows them), node labels, and single scalable unit for gangs. They narrow the (site, GPU type) groups placement may
 * use; `constraintsFor` turns a job's fields into a group filter (cached per fleet for labels).
 *
 * Labels are evaluated per group: a group matches when every one of its nodes carries the labels
 * (pools of one site and GPU type that differ in labels cannot be told apart by a label).
 */
import type { Fleet } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import type { ClusterModel, GroupInfo } from './cluster-model.js';
import { byRelevance, type ExcludedCapacity, formatCount } from './reasons.js';
import type { SchedJob } from './types.js';

/** PlacementConstraints is what placement needs: a group filter and the single-unit rule. */
export interface PlacementConstraints {
  allows(group: GroupInfo): boolean;
  singleUnit: boolean;
}

/** hasOwnKey: Object.keys(o).length > 0 without the key list (read per visit and per plan). */
function hasOwnKey(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/** hasConstraints tells whether a job carries any placement constraint. */
export function hasConstraints(job: SchedJob): boolean {
  return (
    (job.requiredSites?.length ?? 0) > 0 ||
    (job.forbiddenSites?.length ?? 0) > 0 ||
    (job.requiredCertifications?.length ?? 0) > 0 ||
    job.residency !== undefined ||
    (job.nodeLabels !== undefined && hasOwnKey(job.nodeLabels)) ||
    job.requireSingleUnit === true
  );
}

const labelCache = new WeakMap<Fleet, Map<number, Map<string, string>>>();

/** commonLabels: labels every node of the group carries with the same value. */
function commonLabels(cluster: ClusterModel, group: GroupInfo): Map<string, string> {
  let byGroup = labelCache.get(cluster.fleet);
  if (!byGroup) {
    byGroup = new Map();
    labelCache.set(cluster.fleet, byGroup);
  }
  let common = byGroup.get(group.id);
  if (common) return common;
  common = new Map(Object.entries(cluster.nodeAt(group.nodes[0]).labels ?? {}));
  for (const i of group.nodes) {
    const labels = cluster.nodeAt(i).labels ?? {};
    for (const [k, v] of common) if (labels[k] !== v) common.delete(k);
  }
  byGroup.set(group.id, common);
  return common;
}

const perJob = new WeakMap<SchedJob, { cluster: ClusterModel; c: PlacementConstraints }>();

/** constraintsFor builds the job's constraints (cached per job object), or undefined when it has none. */
export function constraintsFor(cluster: ClusterModel, job: SchedJob): PlacementConstraints | undefined {
  if (!hasConstraints(job)) return undefined;
  const cached = perJob.get(job);
  if (cached && cached.cluster === cluster) return cached.c;
  const c = buildConstraints(cluster, job);
  perJob.set(job, { cluster, c });
  return c;
}

function buildConstraints(cluster: ClusterModel, job: SchedJob): PlacementConstraints {
  const required = job.requiredSites?.length ? new Set(job.requiredSites) : undefined;
  const forbidden = new Set(job.forbiddenSites ?? []);
  const certs = job.requiredCertifications ?? [];
  const resident = job.residency ? new Set(job.residency.allowedSites) : undefined;
  const labels = Object.entries(job.nodeLabels ?? {});
  const siteOk = new Map<string, boolean>();
  for (const site of cluster.fleet.sites) {
    const ok =
      (!required || required.has(site.id)) &&
      !forbidden.has(site.id) &&
      (!resident || resident.has(site.id)) &&
      certs.every((c) => site.certifications.includes(c));
    siteOk.set(site.id, ok);
  }
  return {
    singleUnit: job.requireSingleUnit === true && job.nodes > 1,
    allows(group) {
      if (siteOk.get(group.site) !== true) return false;
      if (labels.length === 0) return true;
      const common = commonLabels(cluster, group);
      return labels.every(([k, v]) => common.get(k) === v);
    },
  };
}

/**
 * constraintsReason: no group of any candidate type is allowed by the job's constraints. When data
 * residency leaves no site at all, the reason names the residency rule instead. `excluded`: the
 * residency-excluded sites that have the GPU type, with what they have free now (they are named,
 * with their rules; the rule of the most relevant one (byRelevance) is the reason's rule).
 */
export function constraintsReason(job: SchedJob, excluded: readonly ExcludedCapacity[] = []): PendingReason {
  if (job.residency && job.residency.allowedSites.length === 0) {
    return {
      code: 'residency',
      message: job.residency.reason,
      details: { rule: job.residency.rule ?? '', allowedSites: '' },
    };
  }
  const onlyResidency =
    job.residency &&
    !job.requiredSites?.length &&
    !job.forbiddenSites?.length &&
    !job.requiredCertifications?.length &&
    Object.keys(job.nodeLabels ?? {}).length === 0 &&
    job.requireSingleUnit !== true;
  if (job.residency && onlyResidency) {
    const allowed = job.residency.allowedSites.join(', ');
    const type = job.gpuType ?? 'GPU';
    const shown = [...excluded].sort(byRelevance);
    const outside = shown.length
      ? `; ${shown.map((e) => `${formatCount(e.free)} ${type} free in ${e.site}, excluded: ${e.reason} [${e.rule}]`).join('; ')}`
      : job.residency.excluded
        ? `; excluded: ${job.residency.excluded}`
        : '';
    return {
      code: 'residency',
      message: `waiting: the sites your residency rules allow (${allowed}) have no ${type} nodes${outside}`,
      details: {
        rule: shown[0]?.rule ?? job.residency.rule ?? '',
        allowedSites: allowed,
        residencyExcluded: shown.map((e) => `${e.site}:${e.rule}`).join(','),
        freeInExcluded: shown.reduce((a, e) => a + e.free, 0),
      },
    };
  }
  const parts: string[] = [];
  if (job.residency) parts.push(`residency allows sites ${job.residency.allowedSites.join(', ')}`);
  if (job.requiredSites?.length) parts.push(`sites ${job.requiredSites.join(', ')}`);
  if (job.forbiddenSites?.length) parts.push(`not sites ${job.forbiddenSites.join(', ')}`);
  if (job.requiredCertifications?.length) parts.push(`certifications ${job.requiredCertifications.join(', ')}`);
  const labels = Object.entries(job.nodeLabels ?? {});
  if (labels.length) parts.push(`labels ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (job.requireSingleUnit) parts.push('one scalable unit');
  return {
    code: 'constraints',
    message: `waiting: no ${job.gpuType ?? 'GPU'} capacity in the fleet satisfies the job's constraints (${parts.join('; ')})`,
    details: {
      requiredSites: (job.requiredSites ?? []).join(','),
      forbiddenSites: (job.forbiddenSites ?? []).join(','),
      requiredCertifications: (job.requiredCertifications ?? []).join(','),
      ...(job.residency ? { residencyAllowedSites: job.residency.allowedSites.join(',') } : {}),
      requireSingleUnit: job.requireSingleUnit === true,
    },
  };
}
