/**
 * A job's cost estimate before it is submitted: all its GPUs for its whole time limit (rounded up to
 * the granularity) at the price in effect now for its GPU type and class. For `any` GPU type, the
 * dearest priced type of the fleet: an estimate is an upper bound, never a surprise.
 */
import { costNumerator, type PriceTimeline, roundCents } from '../model/cost.js';
import { invalid } from '../model/errors.js';
import type { Fleet } from '../model/fleet.js';
import { specGpuEquivalents } from '../model/gpu-sharing.js';
import { PRIORITY_CLASSES } from '../model/job.js';
import type { CostEstimate } from '../model/prices.js';
import type { JobSpec } from '../model/schemas.js';
import { usageClass } from '../model/usage.js';

export function estimateCost(
  prices: PriceTimeline,
  fleet: Pick<Fleet, 'gpuTypes' | 'nodeTypes'>,
  spec: Pick<
    JobSpec,
    'gpuType' | 'gpusPerNode' | 'nodes' | 'maxRuntimeSeconds' | 'priorityClass' | 'gpuFraction' | 'migProfile' | 'kind'
  >,
  now: number,
): CostEstimate {
  const cls = usageClass(PRIORITY_CLASSES[spec.priorityClass], false, spec.kind);
  if (spec.gpuType !== 'any' && !fleet.gpuTypes.includes(spec.gpuType)) {
    throw invalid('unknown_gpu_type', `GPU type ${spec.gpuType} is not in the fleet (${fleet.gpuTypes.join(', ')})`, [
      { path: 'gpuType', message: `one of ${fleet.gpuTypes.join(', ')} or any` },
    ]);
  }
  const candidates = spec.gpuType === 'any' ? fleet.gpuTypes : [spec.gpuType];
  const priced = candidates
    .map((gpuType) => ({ gpuType, price: prices.priceAt(now, gpuType, cls) }))
    .filter((c) => c.price !== null)
    .sort((a, b) => (b.price?.centsPerGpuHour ?? 0) - (a.price?.centsPerGpuHour ?? 0));
  const best = priced[0];
  if (!best?.price) {
    throw invalid(
      'no_price',
      `no price is in effect for ${spec.gpuType} GPUs of class ${cls}; an operator sets one with POST /v1/price-versions`,
    );
  }
  const gpus = specGpuEquivalents(fleet, spec, best.gpuType);
  const g = best.price.granularityMs;
  const billedMs = Math.ceil((spec.maxRuntimeSeconds * 1000) / g) * g;
  return {
    gpuType: best.gpuType,
    class: cls,
    gpus,
    maxRuntimeSeconds: spec.maxRuntimeSeconds,
    centsPerGpuHour: best.price.centsPerGpuHour,
    granularity: best.price.granularity,
    priceVersion: best.price.version,
    cost: roundCents(costNumerator(gpus, billedMs, best.price.centsPerGpuHour)),
  };
}
