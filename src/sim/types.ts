/**
 * Simulator data types. Times are virtual seconds (floats) on the trace's own clock.
 */
import type { GpuType } from '../model/fleet.js';

/** SimJob is one trace job after import: everything the simulator needs, nothing else. */
export interface SimJob {
  id: string;
  /** Submission time, virtual seconds. Sources must yield jobs in non-decreasing submitTime. */
  submitTime: number;
  org: string;
  project: string;
  /** null: any GPU type of the fleet. */
  gpuType: GpuType | null;
  gpusPerNode: number;
  nodes: number;
  /** Run time the job needs once started, seconds. */
  duration: number;
  /** Wall-clock limit, seconds: the job is stopped (timed out) at start + wallLimit if duration is longer. */
  wallLimit: number;
  /** Scheduler priority (default 100 = "normal"). */
  priority?: number;
}

/** JobSource: sync or async stream of jobs in submission order (never an array of the whole trace). */
export type JobSource = Iterable<SimJob> | AsyncIterable<SimJob>;

/** ImportStats: what an importer did with the rows it read (see src/sim/README.md). */
export interface ImportStats {
  rows: number;
  jobs: number;
  /** reason -> rows skipped for it. */
  skipped: Record<string, number>;
  /** adjustment -> rows changed by it (e.g. fractional GPU rounded up). */
  adjusted: Record<string, number>;
}

export function newImportStats(): ImportStats {
  return { rows: 0, jobs: 0, skipped: {}, adjusted: {} };
}

export function bump(counter: Record<string, number>, key: string, by = 1): void {
  counter[key] = (counter[key] ?? 0) + by;
}
