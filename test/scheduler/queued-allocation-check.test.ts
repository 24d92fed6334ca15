/**
 * The incremental scheduler visits classes, not jobs, only when no queued job holds an allocation.
 * After a check that found none it reads only what changed since (the ids the cluster allocated,
 * through its journal, and the jobs submitted): these tests put a queued job on the cluster each
 * way a caller can, between cycles that visit classes, and require the next cycle to see it (it
 * sorts, and reports the job as already placed, as scheduleCycle does), and to go back to classes
 * once the allocation is gone. They fail if the check is skipped or misses a change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterModel, type CycleInput, IncrementalScheduler, type SchedJob, scheduleCycle } from '../../src/scheduler/index.js';
import { job, makeFleet, quotas } from './fixtures.js';

const fleet = makeFleet([{ site: 'a', gpuType: 'B200', count: 4, unitSize: 2 }]);
const input: Omit<CycleInput, 'queue'> = { now: 1_000_000, quotas: quotas({ p1: { B200: 1_000 } }) };

/** wholeNode: a placement of all 8 GPUs of node k. */
function wholeNode(k: number) {
  return { site: 'a', gpuType: 'B200', nodes: [{ node: fleet.nodes[k].id, gpus: [0, 1, 2, 3, 4, 5, 6, 7] }] };
}

/** takeOff removes the job `id` from `queue`. */
function takeOff(queue: SchedJob[], id: string): void {
  queue.splice(
    queue.findIndex((j) => j.id === id),
    1,
  );
}

/** A scheduler with 10 queued 8-GPU jobs, after one cycle that started 4 of them (the fleet is full). */
function started(): { sched: IncrementalScheduler; cluster: ClusterModel; queue: SchedJob[] } {
  const cluster = new ClusterModel(fleet);
  const sched = new IncrementalScheduler();
  const queue: SchedJob[] = [];
  for (let i = 0; i < 10; i++) {
    const j = job(`J${i}`, { seq: i, gpusPerNode: 8 });
    queue.push(j);
    sched.submit(j);
  }
  const r = sched.cycle(cluster, input);
  assert.equal(r.ordering, 'classes');
  assert.equal(r.starts.length, 4);
  for (const s of r.starts)
    queue.splice(
      queue.findIndex((j) => j.id === s.jobId),
      1,
    );
  return { sched, cluster, queue };
}

/** next runs a cycle, compares it with scheduleCycle on a copy of the cluster and takes the started jobs off `queue`. */
function next(sched: IncrementalScheduler, cluster: ClusterModel, queue: SchedJob[]) {
  const copy = new ClusterModel(fleet);
  for (const id of cluster.allocatedJobs()) {
    const placement = cluster.allocationOf(id);
    const project = cluster.projectOf(id);
    if (placement && project !== undefined) copy.allocate(id, project, placement);
  }
  const scratch = scheduleCycle(copy, { ...input, queue });
  const r = sched.cycle(cluster, input);
  assert.deepEqual(r.starts, scratch.starts);
  for (const j of queue) assert.deepEqual(r.pending.get(j.id), scratch.pending.get(j.id), j.id);
  for (const s of r.starts) takeOff(queue, s.jobId);
  return { r, scratch };
}

test('a queued job the caller allocates between cycles is seen: the cycle sorts and reports it placed', () => {
  const { sched, cluster, queue } = started();
  const first = cluster.allocatedJobs()[0];
  cluster.release(first);
  cluster.allocate('J9', 'p1', cluster.allocationOf(first) ?? wholeNode(0));
  const { r } = next(sched, cluster, queue);
  assert.equal(r.ordering, 'sorted');
  assert.equal(r.pending.get('J9')?.message.includes('already has a placement'), true);
  cluster.release('J9');
  assert.equal(next(sched, cluster, queue).r.ordering, 'classes');
});

test('a job submitted while it holds an allocation is seen', () => {
  const { sched, cluster, queue } = started();
  const first = cluster.allocatedJobs()[0];
  // The caller failed to persist a start and queued it again without releasing it.
  const again = job(first, { seq: 100, gpusPerNode: 8 });
  sched.submit(again);
  queue.push(again);
  const { r } = next(sched, cluster, queue);
  assert.equal(r.ordering, 'sorted');
  assert.equal(r.pending.get(first)?.message.includes('already has a placement'), true);
});

test('a queued job allocated after more allocations than the journal keeps is seen (every allocation read)', () => {
  const { sched, cluster, queue } = started();
  const first = cluster.allocatedJobs()[0];
  const placement = cluster.allocationOf(first) ?? wholeNode(0);
  cluster.release(first);
  for (let i = 0; i < 5000; i++) {
    cluster.allocate(`T${i}`, 'p1', placement);
    cluster.release(`T${i}`);
  }
  cluster.allocate('J8', 'p1', placement);
  assert.equal(next(sched, cluster, queue).r.ordering, 'sorted');
});

test('the check follows the cluster: a cycle on another cluster reads all of its allocations', () => {
  const { sched, cluster, queue } = started();
  const other = new ClusterModel(fleet);
  other.allocate('J7', 'p1', wholeNode(3));
  assert.equal(next(sched, other, queue).r.ordering, 'sorted');
  // And back on the first cluster, where J7 is not allocated: classes again.
  assert.equal(next(sched, cluster, queue).r.ordering, 'classes');
});
