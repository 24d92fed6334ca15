/**
 * Job placement constraints from the JobSpec to the scheduler, and the submission check that
 * rejects a job no node of the fleet could ever host (on an empty fleet) with the reason.
 */

import { type DomainError, type FieldError, invalid } from '../model/errors.js';
import type { Fleet } from '../model/fleet.js';
import type { PendingReason } from '../model/job.js';
import type { JobSpec } from '../model/schemas.js';
import { ClusterModel, constraintsFor, placeJob, type SchedJob, validateJobFitsFleet } from '../scheduler/index.js';

type ConstraintFields = Pick<
  SchedJob,
  | 'requiredSites'
  | 'forbiddenSites'
  | 'requiredCertifications'
  | 'nodeLabels'
  | 'requireSingleUnit'
  | 'preemptible'
  | 'share'
  | 'spread'
>;

/** spreadGroupOf: the scheduler's spread group of a service replica (`service:<id>`), if it spreads. */
export function spreadGroupOf(spec: JobSpec): string | undefined {
  return spec.kind === 'service' && spec.service?.spread ? `service:${spec.service.id}` : undefined;
}

/** schedFields: the SchedJob fields a spec's constraints and class map to (absent when unset). */
export function schedFields(spec: JobSpec): ConstraintFields {
  const c = spec.constraints;
  const out: ConstraintFields = {};
  if (c?.requiredSites?.length) out.requiredSites = c.requiredSites;
  if (c?.forbiddenSites?.length) out.forbiddenSites = c.forbiddenSites;
  if (c?.requiredCertifications?.length) out.requiredCertifications = c.requiredCertifications;
  if (c?.nodeLabels && Object.keys(c.nodeLabels).length > 0) out.nodeLabels = c.nodeLabels;
  if (c?.requireSingleUnit) out.requireSingleUnit = true;
  if (spec.priorityClass === 'preemptible') out.preemptible = true;
  const group = spreadGroupOf(spec);
  if (group && spec.service?.spread) {
    const over = spec.service.spreadOver;
    out.spread = { group, mode: spec.service.spread, name: spec.service.id, ...(over ? { over } : {}) };
  }
  if (spec.migProfile !== undefined) out.share = { migProfile: spec.migProfile };
  else if (spec.gpuFraction !== undefined) {
    out.share =
      spec.gpuMemoryMiB !== undefined ? { milli: spec.gpuFraction, memoryMiB: spec.gpuMemoryMiB } : { milli: spec.gpuFraction };
  }
  return out;
}

/** The spec field each fleet-fit rule is about, in a few words: the CLI and console show it beside that field. */
const RULE_FIELD: Record<string, [path: string, message: string]> = {
  unknown_gpu_type: ['gpuType', 'not in this fleet'],
  empty_fleet: ['gpuType', 'the fleet has no GPUs'],
  gpus_per_node: ['gpusPerNode', 'more than any node of the type has'],
  nodes_per_site: ['nodes', 'more than the largest site has'],
  no_gpu_type_fits: ['nodes', 'no GPU type has that many in one site'],
};

/**
 * unplaceable turns validateJobFitsFleet's reason into the 422 a submission gets: `unknown_gpu_type` for a
 * type the fleet lacks (as documented), else `job_unplaceable`; the field error names the field at fault.
 */
export function unplaceable(reason: PendingReason): DomainError {
  const rule = String(reason.details?.rule ?? '');
  const detail = reason.message.replace(/^cannot run: /, 'the job can never run: ');
  const field = RULE_FIELD[rule];
  const errors: FieldError[] = field ? [{ path: field[0], message: field[1] }] : [];
  return invalid(rule === 'unknown_gpu_type' ? 'unknown_gpu_type' : 'job_unplaceable', detail, errors);
}

/** An all-idle model per fleet: "could this ever be placed" is a placement on it. */
const emptyModels = new WeakMap<Fleet, ClusterModel>();
function emptyModel(fleet: Fleet): ClusterModel {
  let m = emptyModels.get(fleet);
  if (!m) {
    m = new ClusterModel(fleet);
    emptyModels.set(fleet, m);
  }
  return m;
}

/**
 * unsatisfiableConstraints returns why no node of the fleet can ever satisfy the job's
 * constraints (unknown sites, no site with the certifications, no such labels, a gang larger than
 * any scalable unit), or null when some GPU type and site can host it.
 */
export function unsatisfiableConstraints(fleet: Fleet, spec: JobSpec): { message: string; errors: FieldError[] } | null {
  const c = spec.constraints;
  if (!c) return null;
  const siteIds = new Set(fleet.sites.map((s) => s.id));
  const unknown = [...(c.requiredSites ?? []), ...(c.forbiddenSites ?? [])].filter((s) => !siteIds.has(s));
  if (unknown.length > 0) {
    return {
      message: `unknown site ${unknown.join(', ')} (the fleet has ${[...siteIds].join(', ')})`,
      errors: [{ path: 'constraints', message: 'unknown_site' }],
    };
  }
  const job: SchedJob = {
    id: 'submission',
    seq: 0,
    org: '',
    project: spec.project,
    gpuType: spec.gpuType === 'any' ? null : spec.gpuType,
    gpusPerNode: spec.gpusPerNode,
    nodes: spec.nodes,
    priority: 0,
    submittedAt: 0,
    maxRuntimeSeconds: spec.maxRuntimeSeconds,
    ...schedFields(spec),
  };
  const model = emptyModel(fleet);
  const constraints = constraintsFor(model, job);
  if (!constraints) return null;
  const types = job.gpuType ? [job.gpuType] : fleet.gpuTypes.filter((t) => !validateJobFitsFleet(fleet, { ...job, gpuType: t }));
  for (const gpuType of types) {
    if (placeJob(model, { gpuType, gpusPerNode: job.gpusPerNode, nodes: job.nodes, constraints }).ok) return null;
  }
  const sites = fleet.sites.filter(
    (s) =>
      (!c.requiredSites?.length || c.requiredSites.includes(s.id)) &&
      !(c.forbiddenSites ?? []).includes(s.id) &&
      (c.requiredCertifications ?? []).every((cert) => s.certifications.includes(cert)),
  );
  const what = `${job.nodes} x ${job.gpusPerNode} ${spec.gpuType === 'any' ? 'GPUs' : spec.gpuType}`;
  let why: string;
  if (sites.length === 0) why = 'no site satisfies the site and certification constraints';
  else if (c.nodeLabels && Object.keys(c.nodeLabels).length > 0 && !c.requireSingleUnit)
    why = `no nodes in ${sites.map((s) => s.id).join(', ')} carry the labels ${Object.entries(c.nodeLabels)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')} in that number`;
  else if (c.requireSingleUnit)
    why = `no scalable unit in ${sites.map((s) => s.id).join(', ')} (with the labels asked) is that large`;
  else why = `the allowed sites (${sites.map((s) => s.id).join(', ')}) do not have that many nodes of the type`;
  return {
    message: `no node of the fleet can ever run ${what} under the job's constraints: ${why}`,
    errors: [{ path: 'constraints', message: 'no node of the fleet satisfies them' }],
  };
}
