/**
 * GPU sharing: a job may take part of ONE GPU, either a time-sliced fraction (milli-GPU, optionally
 * with a GPU memory limit) or a MIG instance of a profile the GPU type offers. Plain data and pure
 * helpers shared by the scheduler, the API, the drivers and the console.
 *
 * MIG layouts come from the fleet file (NodeTypeSpec.mig). The demo fleet's B200 and RTX PRO 6000
 * Blackwell layouts follow NVIDIA's MIG user guide, "Supported MIG Profiles"
 * (https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html): B200 has
 * 7 compute and 8 memory slices (1g.23gb x7, 1g.45gb x4, 2g.45gb x3, 3g.90gb x2, 4g.90gb x1,
 * 7g.180gb x1); RTX PRO 6000 Blackwell has 4 and 4 (1g.24gb x4, 2g.48gb x2, 4g.96gb x1).
 */
import type { Fleet, GpuType, SiteSpec } from './fleet.js';
import type { NodeAllocation, Placement } from './job.js';

/** Milli-GPU in one whole GPU. */
export const MILLI_PER_GPU = 1000;

/** MigProfileSpec: one MIG GPU-instance profile, e.g. `1g.23gb` (1 compute slice, 1 memory slice). */
export interface MigProfileSpec {
  name: string;
  computeSlices: number;
  memorySlices: number;
  memoryGiB: number;
  /** Most instances of this profile one GPU can hold. */
  maxInstances: number;
}

/** MigLayoutSpec: a GPU type's MIG geometry: slices per GPU and the profiles it offers. */
export interface MigLayoutSpec {
  computeSlices: number;
  memorySlices: number;
  profiles: MigProfileSpec[];
}

/** migLayoutOf: the MIG layout of a GPU type (from the first node type of that GPU type that declares one). */
export function migLayoutOf(fleet: Pick<Fleet, 'nodeTypes'>, gpuType: GpuType): MigLayoutSpec | undefined {
  for (const t of fleet.nodeTypes) if (t.gpuType === gpuType && t.mig) return t.mig;
  return undefined;
}

/** migProfileOf: a profile of a GPU type's layout, by name. */
export function migProfileOf(
  fleet: Pick<Fleet, 'nodeTypes'>,
  gpuType: GpuType,
  name: string,
): { layout: MigLayoutSpec; profile: MigProfileSpec } | undefined {
  const layout = migLayoutOf(fleet, gpuType);
  const profile = layout?.profiles.find((p) => p.name === name);
  return layout && profile ? { layout, profile } : undefined;
}

/** migProfileMilli: a MIG profile's compute fraction in milli-GPU (what quotas and fair share count). */
export function migProfileMilli(layout: MigLayoutSpec, profile: MigProfileSpec): number {
  return Math.round((profile.computeSlices * MILLI_PER_GPU) / layout.computeSlices);
}

/** siteAllowsSharing: whether a site lets jobs share GPUs (fractions and MIG). Off unless the fleet says so. */
export function siteAllowsSharing(site: Pick<SiteSpec, 'gpuSharing'>): boolean {
  return site.gpuSharing === true;
}

/** allocationMilli: the milli-GPU one node allocation holds (whole GPUs count 1000 each). */
export function allocationMilli(a: NodeAllocation): number {
  return a.milli ?? a.gpus.length * MILLI_PER_GPU;
}

/** placementMilli: the milli-GPU a whole placement holds. */
export function placementMilli(p: Placement): number {
  let m = 0;
  for (const a of p.nodes) m += allocationMilli(a);
  return m;
}

/** placementGpuEquivalents: GPU-equivalents a placement holds (a 250-milli share is 0.25). */
export function placementGpuEquivalents(p: Placement): number {
  return placementMilli(p) / MILLI_PER_GPU;
}

/** describeShare: "250 milli-GPU" / "MIG 1g.23gb" for a shared allocation, or undefined for whole GPUs. */
export function describeShare(a: Pick<NodeAllocation, 'milli' | 'migProfile' | 'memoryMiB'>): string | undefined {
  if (a.migProfile) return `MIG ${a.migProfile}`;
  if (a.milli === undefined) return undefined;
  return `${a.milli} milli-GPU (time-sliced${a.memoryMiB ? `, ${a.memoryMiB} MiB GPU memory` : ''})`;
}

/**
 * specGpuEquivalents: GPU-equivalents a job spec asks for on a GPU type: a fraction's milli / 1000,
 * a MIG profile's compute fraction (1 when the type lacks the profile: such a job never starts
 * there), else nodes x GPUs per node.
 */
export function specGpuEquivalents(
  fleet: Pick<Fleet, 'nodeTypes'>,
  spec: { gpusPerNode: number; nodes: number; gpuFraction?: number; migProfile?: string },
  gpuType: GpuType,
): number {
  if (spec.gpuFraction !== undefined) return spec.gpuFraction / MILLI_PER_GPU;
  if (spec.migProfile !== undefined) {
    const found = migProfileOf(fleet, gpuType, spec.migProfile);
    return found ? migProfileMilli(found.layout, found.profile) / MILLI_PER_GPU : 1;
  }
  return spec.gpusPerNode * spec.nodes;
}

/**
 * GpuPartitionMode: how a GPU is partitioned, node state that outlives the jobs on it. `mig`: MIG
 * mode is on (instances are cut from it; whole-GPU and time-sliced work cannot use it); `whole`:
 * MIG mode is off. A GPU changes mode only while idle (no allocation on it).
 */
export type GpuPartitionMode = 'whole' | 'mig';

/** Why a GPU is re-partitioned: the only reason today, a start that needs the other mode. */
export type RepartitionReason = 'mig_repartition';

/** GpuRepartition: one node-level operation, GPU `gpu` of `node` switched `from` → `to` before a start. */
export interface GpuRepartition {
  node: string;
  gpu: number;
  from: GpuPartitionMode;
  to: GpuPartitionMode;
  reason: RepartitionReason;
}

/** partitionModeFor: the mode a node allocation needs its GPU(s) in (a MIG instance: mig; anything else: whole). */
export function partitionModeFor(a: Pick<NodeAllocation, 'migProfile'>): GpuPartitionMode {
  return a.migProfile !== undefined ? 'mig' : 'whole';
}

/**
 * shareSentence: the slice of one GPU a job or replica asks for, in words ("250 milli-GPU (0.25
 * GPU-equivalents) of one B200 GPU, time-sliced"), or null for whole GPUs. CLI and console share it.
 */
export function shareSentence(
  ask: { gpuFraction?: number; gpuMemoryMiB?: number; migProfile?: string },
  gpuType: string,
): string | null {
  if (ask.migProfile) return `MIG instance ${ask.migProfile} of one ${gpuType} GPU`;
  if (ask.gpuFraction === undefined) return null;
  const mem = ask.gpuMemoryMiB ? `, ${ask.gpuMemoryMiB} MiB GPU memory` : '';
  return `${ask.gpuFraction} milli-GPU (${ask.gpuFraction / 1000} GPU-equivalents) of one ${gpuType} GPU, time-sliced${mem}`;
}
