/**
 * IncrementalCycle: the live server's scheduler. It keeps an IncrementalScheduler (issue 19: per-class
 * sub-queues, a walk over classes, explanations on first read) whose queue follows each cycle's
 * snapshot: a job object it has not seen is submitted, a replaced one (the residency gate constrained
 * it anew) updated, one gone from the snapshot (cancelled, held, restricted, started) removed. The
 * order of a cycle is total (score, seq, id), so where a job sits in either queue does not matter,
 * and the scheduler's decisions are scheduleCycle's on the same snapshot (its property test).
 */
import type { ClusterModel, CycleInput, CycleResult, SchedJob } from '../../scheduler/index.js';
import { IncrementalScheduler } from '../../scheduler/index.js';

export class IncrementalCycle {
  private readonly scheduler = new IncrementalScheduler();
  /** What the scheduler holds: job id -> the object it was given. */
  private readonly known = new Map<string, SchedJob>();

  /** run: one cycle on `input`'s queue (synchronised first: O(queue) map lookups, nothing sorted). */
  run(cluster: ClusterModel, input: CycleInput): CycleResult {
    const { queue, ...rest } = input;
    const seen = new Set<string>();
    for (const job of queue) {
      seen.add(job.id);
      const had = this.known.get(job.id);
      if (had === job) continue;
      if (had === undefined) this.scheduler.submit(job);
      else this.scheduler.update(job);
      this.known.set(job.id, job);
    }
    if (this.known.size !== seen.size) {
      for (const id of [...this.known.keys()]) {
        if (seen.has(id)) continue;
        this.scheduler.remove(id);
        this.known.delete(id);
      }
    }
    const result = this.scheduler.cycle(cluster, rest);
    // The scheduler took its starts off its queue; a start the store refuses comes back as a new job.
    for (const s of result.starts) this.known.delete(s.jobId);
    return result;
  }
}
