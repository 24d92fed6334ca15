/**
 * The datasets a job declared, as its driver is told to mount them. The control plane decides the
 * mode (a dataset the job only reads, or whose data class forbids writes from jobs, is `ro`); the
 * driver only follows it and never sees other datasets' ids.
 */
import type { JobSpec } from './schemas.js';

export interface JobDataset {
  /** Dataset id: the directory `<datasetRoot>/<id>` a site stages it in. */
  id: string;
  mode: 'ro' | 'rw';
}

/** Dataset ids a driver accepts as a directory name: no separators, no `..`, nothing podman's `--volume` parses. */
export const DATASET_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * declaredDatasets: the datasets a job reads and writes, counting a session's state dataset as written
 * (session.stateDataset), so residency, mounts and manifests treat it like any dataset in `writes`.
 */
export function declaredDatasets(spec: Pick<JobSpec, 'datasets' | 'session'>): { reads: string[]; writes: string[] } {
  const reads = spec.datasets?.reads ?? [];
  const writes = spec.datasets?.writes ?? [];
  const state = spec.session?.stateDataset;
  return { reads, writes: state && !writes.includes(state) ? [...writes, state] : writes };
}

/** declaredDatasetIds: every dataset id the job declares, once each. */
export function declaredDatasetIds(spec: Pick<JobSpec, 'datasets' | 'session'>): string[] {
  const d = declaredDatasets(spec);
  return [...new Set([...d.reads, ...d.writes])];
}
