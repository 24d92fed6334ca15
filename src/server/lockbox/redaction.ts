/** Jobs as an operator may see them: tenant-written fields withheld unless the lockbox grants read-spec. */
import { isOperator } from '../../model/authz.js';
import type { RequestContext } from '../../model/principal.js';
import type { Job } from '../../model/schemas.js';
import type { LockboxGuard } from './guard.js';

/** Fields of a job spec that are tenant data; the rest (resources, project, name) is operational metadata. */
export const REDACTED_JOB_FIELDS = [
  'name',
  'spec.name',
  'spec.command',
  'spec.image',
  'spec.env',
  'spec.secretEnv',
  'spec.labels',
] as const;

/** redactJob withholds the tenant-data fields of a job spec, keeping what operations need. */
export function redactJob(job: Job): Job & { redacted: string[] } {
  const { command: _c, image: _i, env: _e, secretEnv: _s, ...rest } = job.spec;
  // The name is tenant-written too; operators see a neutral stand-in.
  const name = `job ${job.id}`;
  return { ...job, name, spec: { ...rest, name, labels: {} }, redacted: [...REDACTED_JOB_FIELDS] };
}

export class JobViews {
  constructor(private readonly guard: LockboxGuard) {}

  /** job: the job as the caller may see it: full for its tenant and for operators with read-spec access, else redacted. */
  async job(ctx: RequestContext, job: Job): Promise<Job & { redacted?: string[] }> {
    return (await this.guard.grants(ctx, job.org, `job:${job.id}`, 'read-spec')) ? job : redactJob(job);
  }

  /**
   * jobList: a page of jobs as the caller may see it. An operator sees an organisation's jobs in
   * full only under an approved read-spec access to `job:*` of that organisation (one audited use
   * per organisation and request, not per job); a grant for single jobs does not open the list.
   */
  async jobList(ctx: RequestContext, jobs: readonly Job[]): Promise<(Job & { redacted?: string[] })[]> {
    if (!isOperator(ctx.principal)) return [...jobs];
    const open = new Set<string>();
    for (const org of new Set(jobs.map((j) => j.org))) {
      if (await this.guard.grants(ctx, org, 'job:*', 'read-spec')) open.add(org);
    }
    return jobs.map((j) => (open.has(j.org) ? j : redactJob(j)));
  }
}
