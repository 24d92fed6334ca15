/** `gigafab job submit --dry-run`: the cost estimate of POST /v1/jobs/estimate, in one sentence. */
import { euros } from '../model/money.js';
import type { CostEstimate } from '../model/prices.js';
import type { JobSpecInput } from '../model/schemas.js';
import type { GigafabClient } from './client.js';
import { formatDuration } from './output.js';

export async function estimateJob(client: GigafabClient, spec: JobSpecInput): Promise<CostEstimate> {
  return (await client.request<CostEstimate>('POST', '/v1/jobs/estimate', { body: spec })).data;
}

/** describeEstimate: e.g. "estimate: EUR 64.00 for 16 B200 GPUs (on-demand) × 1h at EUR 4.00 per GPU-hour …". */
export function describeEstimate(e: CostEstimate): string {
  return (
    `estimate: EUR ${euros(e.cost)} for ${e.gpus} ${e.gpuType} GPUs (${e.class}) × ${formatDuration(e.maxRuntimeSeconds)} ` +
    `at EUR ${euros(e.centsPerGpuHour)} per GPU-hour (price version ${e.priceVersion}, billed per ${e.granularity}); nothing submitted`
  );
}
