/**
 * Step 3 of a cycle's starts: hand each committed job to its driver, with its secrets, its datasets'
 * mount modes and the key its output is sealed with. A driver that fails to take a job reports it lost (observations.ts);
 * a stop asked for during the hand-over is sent once it is done (stop.ts).
 */
import type { Observation } from '../../drivers/driver.js';
import type { JobSpec } from '../../model/schemas.js';
import type { CommittedStart } from './commit-starts.js';
import type { CycleContext } from './context.js';
import { logKey } from './log-key.js';
import { handOverDone } from './stop.js';

export function handOver(
  ctx: CycleContext,
  c: CommittedStart,
  spec: JobSpec,
  startedAt: number,
  report: (o: Observation) => Promise<void>,
): void {
  const placement = ctx.state.cluster.allocationOf(c.id)!;
  ctx.state.handingOver.add(c.id);
  Promise.resolve(ctx.hooks.secretsFor?.({ id: c.id, org: c.org, spec }))
    .then(async (secrets) => {
      const key = await logKey(ctx.store, c.org, c.id, c.attempt, true);
      const datasets = ctx.hooks.datasetsFor?.({ id: c.id, org: c.org, spec });
      const job = { id: c.id, spec, placement, startedAt, attempt: c.attempt, secrets, logKey: key, datasets };
      return ctx.driver.start(c.repartitions ? { ...job, repartitions: c.repartitions } : job);
    })
    .catch((err) =>
      report({
        type: 'exited',
        jobId: c.id,
        at: ctx.state.now(),
        outcome: 'lost',
        exitCode: null,
        message: `driver failed to start the job: ${String(err)}`,
      }),
    )
    .finally(() => handOverDone(ctx, c.id));
}
