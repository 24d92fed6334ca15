/**
 * Quotas with cohort borrowing (Kueue ClusterQueue / cohort semantics, one cohort per GPU type).
 *
 * Every project's quota is its nominal (guaranteed) quota. A project lends `lendingLimit` of it
 * (default: all of it) to the cohort pool and keeps the rest to itself. A project may go beyond its
 * nominal quota by borrowing from the pool, up to `borrowingLimit` beyond nominal (default
 * unlimited), while the pool's usage stays within the pool's capacity:
 *
 *   local(p)  = nominal(p) - lend(p)             lend(p) = min(lendingLimit(p) ?? nominal(p), nominal(p))
 *   capacity  = sum over projects of lend(p)
 *   poolUsed  = sum over projects of max(0, usage(p) - local(p))
 *
 * A start is within quota when the project's *guaranteed* usage (its running jobs not flagged
 * borrowed, per RunningJobInfo, plus this cycle's non-borrowed starts) plus the job stays within
 * nominal; it is always allowed quota-wise (capacity may then be reclaimed from borrowers by
 * preemption). Otherwise it is `borrowed` and preemptible. Counting guaranteed usage, not total
 * usage, keeps the flag stable: a job started within quota stays a guaranteed job whatever the
 * project borrows later, and an evicted borrower that comes back is a borrower again, which is
 * what makes preemption free of oscillation (see preemption.ts).
 *
 * Lenders (who is credited for a borrowed start, model/lenders.ts): the part of a borrowed job beyond
 * its project's headroom, needs - max(0, nominal(p) - inUse(p)), is attributed to the other projects
 * with idle lent quota, in GPU-equivalents rounded to the milli-GPU:
 *
 *   available(q) = min(lend(q), max(0, nominal(q) - inUse(q))) - attributed(q)
 *
 * where attributed(q) is what running borrowed jobs (RunningJobInfo.lenders) and this cycle's
 * borrowed starts already hold attributed to q. The largest available goes first, ties by project id;
 * what no lender's idle quota covers is attributed to no one (the pool). Only borrowed starts pay
 * for it (one pass over the projects each), so a cycle without them costs nothing more.
 */
import type { GpuType } from '../model/fleet.js';
import { placementGpuEquivalents } from '../model/gpu-sharing.js';
import type { PendingReason } from '../model/job.js';
import type { LenderShare } from '../model/lenders.js';
import type { ClusterModel } from './cluster-model.js';
import { formatCount, REASON } from './reasons.js';
import { RunningViews } from './running-views.js';
import type { BorrowingInput, QuotaTable, RunningJobInfo } from './types.js';

/** QuotaVerdict: allowed (within nominal quota, or borrowed), or the reason why not. */
export type QuotaVerdict = { ok: true; borrowed: boolean } | { ok: false; reason: PendingReason };

/** The two verdicts that allow a start, made once (never changed): check answers one per type per visit. */
const WITHIN: Readonly<QuotaVerdict> = { ok: true, borrowed: false };
const BORROWED: Readonly<QuotaVerdict> = { ok: true, borrowed: true };

interface Pool {
  capacity: number;
  used: number;
}

/** CohortLedger tracks each GPU type's cohort pool during one cycle; see the module comment. */
export class CohortLedger {
  private readonly pools = new Map<GpuType, Pool>();
  /** GPUs promised this cycle to preemptors waiting for victims: project -> type -> GPUs. */
  private readonly reserved = new Map<string, Map<GpuType, number>>();
  /** Guaranteed (non-borrowed) GPUs held or promised: project -> type -> GPUs. */
  private readonly guaranteed = new Map<string, Map<GpuType, number>>();
  /** GPUs of borrowed jobs attributed to each lender: project -> type -> GPUs (see the module comment). */
  private readonly attributed = new Map<string, Map<GpuType, number>>();

  constructor(
    private readonly cluster: ClusterModel,
    private readonly quotas: QuotaTable,
    private readonly borrowing: BorrowingInput | undefined,
    running: readonly RunningJobInfo[] = [],
    preempting = true,
    views: RunningViews = new RunningViews(cluster, running),
  ) {
    // Guaranteed usage is read only with borrowing (check) or preemption (wouldBorrow); without
    // either, skip building it: a cycle with hard quotas then costs nothing per project.
    if (!preempting && borrowing?.enabled !== true) return;
    // Guaranteed usage = usage minus the GPUs of running jobs flagged borrowed.
    for (const gpuType of cluster.fleet.gpuTypes) {
      for (const [project, n] of cluster.projectUsage(gpuType)) add(this.guaranteed, project, gpuType, n);
    }
    for (const i of views.borrowed()) {
      const r = views.running[i];
      const held = views.at(i);
      if (!held) continue;
      const { placement, project } = held;
      add(this.guaranteed, project, placement.gpuType, -placementGpuEquivalents(placement));
      for (const l of r.lenders ?? []) add(this.attributed, l.project, placement.gpuType, l.gpus);
    }
  }

  /** guaranteedUsage: the project's non-borrowed GPUs of a type (held, started or promised). */
  guaranteedUsage(project: string, gpuType: GpuType): number {
    return this.guaranteed.get(project)?.get(gpuType) ?? 0;
  }

  /** enabled tells whether borrowing is on. */
  get enabled(): boolean {
    return this.borrowing?.enabled === true;
  }

  /** nominal returns the guaranteed quota of a project for a GPU type. */
  nominal(project: string, gpuType: GpuType): number {
    return Math.max(0, this.quotas.get(project)?.get(gpuType) ?? 0);
  }

  private local(project: string, gpuType: GpuType): number {
    const nominal = this.nominal(project, gpuType);
    const limit = this.borrowing?.lendingLimit?.get(project)?.get(gpuType);
    const lend = limit === undefined ? nominal : Math.min(Math.max(0, limit), nominal);
    return nominal - lend;
  }

  private pool(gpuType: GpuType): Pool {
    let pool = this.pools.get(gpuType);
    if (pool) return pool;
    let capacity = 0;
    for (const project of this.quotas.keys()) capacity += this.nominal(project, gpuType) - this.local(project, gpuType);
    let used = 0;
    for (const [project, n] of this.cluster.projectUsage(gpuType)) {
      // Internal holders (backfill phantoms) start with NUL and are not projects.
      if (!project.startsWith('\u0000')) used += Math.max(0, n - this.local(project, gpuType));
    }
    pool = { capacity, used };
    this.pools.set(gpuType, pool);
    return pool;
  }

  private poolDelta(project: string, gpuType: GpuType, inUse: number, needs: number): number {
    const local = this.local(project, gpuType);
    return Math.max(0, inUse + needs - local) - Math.max(0, inUse - local);
  }

  /** inUse: GPUs the project holds plus those reserved for its preemptors this cycle. */
  private inUse(project: string, gpuType: GpuType): number {
    return this.cluster.usage(project, gpuType) + (this.reserved.get(project)?.get(gpuType) ?? 0);
  }

  /** check decides whether `project` may take `needs` more GPUs of `gpuType` now. */
  check(project: string, gpuType: GpuType, needs: number): QuotaVerdict {
    const nominal = this.nominal(project, gpuType);
    const inUse = this.inUse(project, gpuType);
    if (!this.enabled) {
      // v1: the quota is a hard limit on everything the project holds.
      if (within(inUse + needs, nominal)) return WITHIN;
      if (nominal <= 0) return { ok: false, reason: REASON.noQuota(project, gpuType, needs) };
      return { ok: false, reason: REASON.quotaExhausted(project, gpuType, inUse, nominal, needs) };
    }
    // The borrowing limit caps everything the project holds, guaranteed or not.
    const limit = this.borrowing?.borrowingLimit?.get(project)?.get(gpuType);
    if (limit !== undefined && !within(inUse + needs, nominal + Math.max(0, limit))) {
      if (nominal <= 0 && limit <= 0) return { ok: false, reason: REASON.noQuota(project, gpuType, needs) };
      const reason = REASON.quotaExhausted(project, gpuType, inUse, nominal, needs);
      return {
        ok: false,
        reason: {
          ...reason,
          message: `${reason.message}; borrowing limit is ${formatCount(limit)}`,
          details: { ...reason.details, borrowingLimit: limit },
        },
      };
    }
    if (within(this.guaranteedUsage(project, gpuType) + needs, nominal)) return WITHIN;
    const pool = this.pool(gpuType);
    const delta = this.poolDelta(project, gpuType, inUse, needs);
    if (!within(pool.used + delta, pool.capacity)) {
      const idle = Math.max(0, pool.capacity - pool.used);
      const reason = REASON.quotaExhausted(project, gpuType, inUse, nominal, needs);
      return {
        ok: false,
        reason: {
          ...reason,
          message: `${reason.message}; the cohort has ${formatCount(idle)} ${gpuType} of idle quota to lend`,
          details: { ...reason.details, cohortIdle: idle },
        },
      };
    }
    return BORROWED;
  }

  /**
   * commit records a start of `needs` GPUs; call before cluster.allocate (reads current usage). A
   * borrowed start returns its lenders (empty: all of it from the pool); see the module comment.
   */
  commit(project: string, gpuType: GpuType, needs: number, borrowed: boolean): LenderShare[] | undefined {
    if (!borrowed) add(this.guaranteed, project, gpuType, needs);
    if (!this.enabled) return undefined;
    const lenders = borrowed ? this.attribute(project, gpuType, needs) : undefined;
    const pool = this.pool(gpuType);
    pool.used += this.poolDelta(project, gpuType, this.inUse(project, gpuType), needs);
    return lenders;
  }

  /** attribute: the lenders of a borrowed start (the module comment's rule), recorded for the cycle. */
  private attribute(project: string, gpuType: GpuType, needs: number): LenderShare[] {
    let left = milli(needs - Math.max(0, this.nominal(project, gpuType) - this.inUse(project, gpuType)));
    if (left <= 0) return [];
    const candidates: LenderShare[] = [];
    for (const q of this.quotas.keys()) {
      if (q === project) continue;
      const idle = Math.max(0, this.nominal(q, gpuType) - this.inUse(q, gpuType));
      const lend = this.nominal(q, gpuType) - this.local(q, gpuType);
      const available = milli(Math.min(lend, idle) - (this.attributed.get(q)?.get(gpuType) ?? 0));
      if (available > 0) candidates.push({ project: q, gpus: available });
    }
    candidates.sort((a, b) => b.gpus - a.gpus || (a.project < b.project ? -1 : a.project > b.project ? 1 : 0));
    const lenders: LenderShare[] = [];
    for (const c of candidates) {
      if (left <= 0) break;
      const gpus = milli(Math.min(c.gpus, left));
      left = milli(left - gpus);
      lenders.push({ project: c.project, gpus });
      add(this.attributed, c.project, gpuType, gpus);
    }
    return lenders;
  }

  /**
   * reserve counts `needs` GPUs against the project's quota for the rest of the cycle without an
   * allocation: a preemptor waiting for its victims holds its quota, so the next job of the same
   * project cannot also claim to be within quota on the same guarantee.
   */
  reserve(project: string, gpuType: GpuType, needs: number, borrowed: boolean): void {
    this.commit(project, gpuType, needs, borrowed);
    add(this.reserved, project, gpuType, needs);
  }

  /**
   * wouldBorrow tells whether a job of `gpus` GPUs of `project`, queued again, would start on
   * borrowed quota (its project's guaranteed usage leaves it no room). Only such borrowers are
   * reclaimable: an evicted job must come back as a borrower, never as a guaranteed job.
   */
  wouldBorrow(project: string, gpuType: GpuType, gpus: number): boolean {
    return this.guaranteedUsage(project, gpuType) + gpus > this.nominal(project, gpuType);
  }
}

function add(m: Map<string, Map<GpuType, number>>, project: string, gpuType: GpuType, n: number): void {
  let byType = m.get(project);
  if (!byType) {
    byType = new Map();
    m.set(project, byType);
  }
  byType.set(gpuType, (byType.get(gpuType) ?? 0) + n);
}

/** milli: GPU-equivalents rounded to the milli-GPU (shares are whole milli-GPUs; sums drift). */
function milli(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * within: a <= b for sums of GPU-equivalents. Fractions are milli-GPU / 1000, so a sum that is
 * exactly the quota may land one rounding step above it (0.1 + 0.2); a milli-GPU is far above that.
 */
function within(a: number, b: number): boolean {
  return a <= b + 1e-9;
}
