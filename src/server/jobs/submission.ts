/**
 * checkSubmission: THE single place for every check a new job passes before it is recorded:
 * the per-org queue cap, the sovereignty admission (restriction, secret references), fitting the
 * fleet at all, satisfiable constraints, data residency, a site whose driver can run it (image or host job),
 * and last the organisation's budget (budgets.ts). Each refusal is a DomainError.
 * Who may submit, and into which project, is decided before (job-service.ts); an idempotent
 * replay skips these checks (the job was admitted once).
 */
import { invalid } from '../../model/errors.js';
import type { Fleet } from '../../model/fleet.js';
import type { JobSpec } from '../../model/schemas.js';
import { validateJobFitsFleet } from '../../scheduler/index.js';
import { unplaceable, unsatisfiableConstraints } from '../job-constraints.js';
import { queueFull } from '../limits.js';
import type { ResidencyGate } from '../ports.js';
import type { JobCycle } from './ports.js';
import { shareRefusal } from './share-check.js';

export interface SubmissionRules {
  fleet: Fleet;
  cycle: Pick<JobCycle, 'queuedCount'>;
  /** Queued jobs one organisation may have at once (limits.ts). */
  maxQueuedJobsPerOrg: number;
  /** Sovereignty admission (restriction, secrets); throws a DomainError to refuse. */
  admit?: (org: string, spec: JobSpec) => Promise<void>;
  residency: Pick<ResidencyGate, 'admit'> | null;
  /**
   * Why no site's driver can run the org's job as its spec asks (an image, a host job, a registry
   * outside the site's or the organisation's allow-list), or null.
   */
  runnable?: (org: string, spec: JobSpec) => { code: string; message: string } | null;
  now: () => number;
  /**
   * The budget check (budgets.ts): refuses a job that could take its organisation past its monthly
   * cap, else holds its estimate until the returned release is called (once the job is queued or failed).
   */
  budget?: (org: string, spec: JobSpec) => Promise<() => void>;
}

/** checkSubmission: throws the refusal, or returns the release of the budget reservation (call it once the job is queued). */
export async function checkSubmission(
  r: SubmissionRules,
  project: { id: string; org_id: string },
  spec: JobSpec,
): Promise<() => void> {
  // One organisation cannot fill the queue (and the scheduler's memory) for everyone.
  const queued = r.cycle.queuedCount(project.org_id);
  if (queued >= r.maxQueuedJobsPerOrg) throw queueFull(project.org_id, queued);
  await r.admit?.(project.org_id, spec);
  const gpuType = spec.gpuType === 'any' ? null : spec.gpuType;
  const never = validateJobFitsFleet(r.fleet, { gpuType, gpusPerNode: spec.gpusPerNode, nodes: spec.nodes });
  if (never) throw unplaceable(never);
  const share = shareRefusal(r.fleet, spec);
  if (share) throw share;
  const unfit = unsatisfiableConstraints(r.fleet, spec);
  if (unfit) throw invalid('job_constraints_unsatisfiable', unfit.message, unfit.errors);
  r.residency?.admit(project.org_id, project.id, spec, r.now());
  // An image is never run on the host instead: no site that can run it, no job.
  const notRunnable = r.runnable?.(project.org_id, spec);
  if (notRunnable) throw invalid(notRunnable.code, notRunnable.message);
  // Last: it reserves the job's estimate, which nothing after it could release on a refusal.
  return (await r.budget?.(project.org_id, spec)) ?? (() => {});
}
