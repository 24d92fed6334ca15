/** jobCycle: the JobCycle port (jobs/ports.ts) over the live scheduling state. */
import type { JobCycle } from '../jobs/ports.js';
import type { CycleContext } from './context.js';
import { stopOnDriver } from './stop.js';

export function jobCycle(ctx: CycleContext): JobCycle {
  const { state } = ctx;
  return {
    queuedCount: (org) => state.queue.countOf(org),
    enqueue: (id, row, spec) => {
      state.enqueue(id, row, spec);
      state.poke();
    },
    dequeue: (id) => {
      state.dequeue(id);
      state.poke();
    },
    stop: (id, grace) => stopOnDriver(ctx, id, grace),
    isRunning: (id) => state.running.has(id),
    noteCheckpoint: (id, at) => {
      const r = state.running.get(id);
      if (r) r.lastCheckpointAt = at;
    },
    pendingReason: (id) => state.pending.get(id) ?? null,
    // A job with no reason yet (submitted since the last cycle) was not seen by that cycle.
    reasonCycle: (id) => (state.pending.has(id) ? state.reasonsCycle : null),
    explanation: (id) => ({
      explain: state.explanations.get(id),
      priority: state.priorities.get(id),
      computedAt: state.explainedAt,
      cycle: state.explainedCycle,
    }),
  };
}
