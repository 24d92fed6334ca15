/** Fair-share usage: rebuilt from the job history at recovery, charged for running jobs every cycle. */
import { placementGpuEquivalents } from '../../model/gpu-sharing.js';
import { parseJson } from '../../model/json.js';
import { PlacementSchema } from '../../model/schemas.js';
import { chargeUsage, decayUsage } from '../../scheduler/index.js';
import type { Store } from '../../store/open-store.js';
import type { Policy } from '../policy.js';
import type { SchedulingState } from './scheduling-state.js';

const weightsOf = (policy: Policy) => new Map(Object.entries(policy.fairShare.gpuTypeWeights));

/** recoverUsage rebuilds fair-share usage from the job history (4 half-lives back). */
export async function recoverUsage(state: SchedulingState, store: Store, policy: Policy): Promise<void> {
  const now = state.now();
  const halfLife = policy.fairShare.halfLifeDays * 86400;
  const since = new Date(now - 4 * halfLife * 1000).toISOString();
  const rows = await store.db
    .selectFrom('jobs')
    .select(['project_id', 'spec', 'placement', 'started_at', 'finished_at'])
    .where('started_at', 'is not', null)
    .where((eb) => eb.or([eb('finished_at', 'is', null), eb('finished_at', '>=', since)]))
    .execute();
  const weights = weightsOf(policy);
  const usage = new Map<string, number>();
  for (const r of rows) {
    const placement = parseJson(r.placement ?? 'null', PlacementSchema.nullable(), 'placement of a started job');
    if (!placement || !r.started_at) continue;
    const end = r.finished_at ? Date.parse(r.finished_at) : now;
    const seconds = Math.max(0, (end - Date.parse(r.started_at)) / 1000);
    const gpus = placementGpuEquivalents(placement);
    const decay = 2 ** (-Math.max(0, now - end) / 1000 / halfLife);
    const w = weights.get(placement.gpuType) ?? 1;
    usage.set(r.project_id, (usage.get(r.project_id) ?? 0) + gpus * seconds * w * decay);
  }
  state.usage = usage;
  state.usageAt = now;
}

/** chargeRunning decays usage to `now` and charges what running jobs used since the last charge. */
export function chargeRunning(state: SchedulingState, policy: Policy, now: number): void {
  const elapsed = Math.max(0, (now - state.usageAt) / 1000);
  if (elapsed === 0) return;
  const charges = [...state.running.values()].map((r) => ({
    project: r.project,
    gpuType: r.gpuType,
    gpus: r.gpus,
    seconds: elapsed,
  }));
  state.usage = chargeUsage(decayUsage(state.usage, elapsed, policy.fairShare.halfLifeDays * 86400), charges, weightsOf(policy));
  state.usageAt = now;
}
