/**
 * IncrementalCycle: the live server's scheduler. It keeps an IncrementalScheduler (issue 19: per-class
 * sub-queues, a walk over classes, explanations on first read) whose queue follows the live queue: a
 * job object it has not seen is submitted, a replaced one (the residency gate constrained it anew)
 * updated, one no longer wanted (cancelled, held, restricted, started) removed. The server syncs
 * only the ids that changed since the last cycle (`sync`); `run` syncs a whole snapshot queue by
 * object identity (what the equivalence test drives). The order of a cycle is total (score, seq,
 * id), so where a job sits in either queue does not matter, and the scheduler's decisions are
 * scheduleCycle's on the same queue (its property test).
 */
import type { ClusterModel, CycleInput, IncrementalCycleResult, SchedJob } from '../../scheduler/index.js';
import { IncrementalScheduler } from '../../scheduler/index.js';
import type { BudgetQueue } from '../budget-figures.js';
import type { QueueMap } from './queue-map.js';

export class IncrementalCycle {
  private readonly scheduler = new IncrementalScheduler();
  /** What the scheduler holds: job id -> the object it was given. */
  private readonly known = new Map<string, SchedJob>();

  /** sync: for each of `ids`, queue what `wanted` says (undefined: not queued). O(ids). */
  sync(ids: Iterable<string>, wanted: (id: string) => SchedJob | undefined): void {
    for (const id of ids) {
      const job = wanted(id);
      const had = this.known.get(id);
      if (job === undefined) {
        if (had === undefined) continue;
        this.scheduler.remove(id);
        this.known.delete(id);
      } else if (had !== job) {
        if (had === undefined) this.scheduler.submit(job);
        else this.scheduler.update(job);
        this.known.set(id, job);
      }
    }
  }

  /** knownIds: every id the scheduler holds (a full resync visits these and the live queue's). */
  knownIds(): string[] {
    return [...this.known.keys()];
  }

  /** queue: the jobs the scheduler holds (O(queue); the equivalence tests read it). */
  queue(): SchedJob[] {
    return [...this.known.values()];
  }

  /**
   * byOwner: the jobs the scheduler holds of one organisation or project, read through the live
   * queue's index (`live`, synced into the scheduler just before): O(that owner's queued jobs).
   */
  byOwner(live: Pick<QueueMap, 'idsOfOrg' | 'idsOfProject'>): BudgetQueue {
    const held = (ids: Iterable<string>) => {
      const out: SchedJob[] = [];
      for (const id of ids) {
        const j = this.known.get(id);
        if (j) out.push(j);
      }
      return out;
    };
    return { ofOrg: (org) => held(live.idsOfOrg(org)), ofProject: (project) => held(live.idsOfProject(project)) };
  }

  /** cycle: one cycle on the queue as synced, numbered (1, 2, … for this scheduler's life). */
  cycle(cluster: ClusterModel, input: Omit<CycleInput, 'queue'>): IncrementalCycleResult {
    const result = this.scheduler.cycle(cluster, input);
    // The scheduler took its starts off its queue; a start the store refuses comes back as a change.
    for (const s of result.starts) this.known.delete(s.jobId);
    return result;
  }

  /** run: one cycle on `input`'s queue, synced by object identity first (O(queue) lookups). */
  run(cluster: ClusterModel, input: CycleInput): IncrementalCycleResult {
    const { queue, ...rest } = input;
    const byId = new Map(queue.map((j) => [j.id, j]));
    this.sync([...byId.keys(), ...this.known.keys()], (id) => byId.get(id));
    return this.cycle(cluster, rest);
  }
}
