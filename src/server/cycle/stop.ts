/**
 * The one "stop now or after the hand-over" rule: a job whose start is committed but not yet handed
 * to its driver cannot be stopped on the driver yet, so the stop (with the grace asked for now) is
 * kept and sent right after the hand-over.
 */
import type { CycleContext } from './context.js';

/** stopOnDriver: the one way a started job is told to stop. */
export async function stopOnDriver(ctx: Pick<CycleContext, 'state' | 'driver'>, id: string, graceSeconds: number): Promise<void> {
  if (ctx.state.handingOver.has(id)) ctx.state.stopAfterStart.set(id, graceSeconds);
  else await ctx.driver.stop(id, graceSeconds);
}

/** handOverDone: the driver has the job (or failed to take it); a stop asked for meanwhile is sent now. */
export function handOverDone(ctx: Pick<CycleContext, 'state' | 'driver'>, id: string): void {
  ctx.state.handingOver.delete(id);
  const grace = ctx.state.stopAfterStart.get(id);
  if (grace === undefined) return;
  ctx.state.stopAfterStart.delete(id);
  void ctx.driver.stop(id, grace);
}
