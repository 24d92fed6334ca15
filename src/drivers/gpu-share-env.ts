/**
 * shareEnv: the variables a job on part of one GPU sees, whatever the driver: GIGAFAB_GPU_MILLI
 * (its share), and for a time-sliced share the CUDA MPS client limits: the active thread
 * percentage (its share of the SMs) and the pinned device memory limit of its one visible device
 * (`0=<MiB>M`). A MIG instance is isolated by the hardware and gets GIGAFAB_MIG_PROFILE instead.
 */
import type { NodeAllocation } from '../model/job.js';

export function shareEnv(alloc: NodeAllocation | undefined): Record<string, string> {
  if (!alloc || alloc.milli === undefined) return {};
  const env: Record<string, string> = { GIGAFAB_GPU_MILLI: String(alloc.milli) };
  if (alloc.migProfile !== undefined) {
    env.GIGAFAB_MIG_PROFILE = alloc.migProfile;
    return env;
  }
  env.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = String(Math.max(1, Math.ceil(alloc.milli / 10)));
  if (alloc.memoryMiB !== undefined) env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT = `0=${alloc.memoryMiB}M`;
  return env;
}
