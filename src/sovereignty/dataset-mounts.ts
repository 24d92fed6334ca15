/**
 * Which of a job's datasets its driver mounts, and how. Rule: a dataset in `reads` is read-only; one in
 * `writes` is read-write, except that data of a class in READ_ONLY_CLASSES is read-only whatever the
 * job declares. `health` (GDPR Art. 9 special category) is the record a clinic or lab keeps: jobs
 * derive from it and write their results into a dataset of their own, never into the source.
 */
import { declaredDatasets, type JobDataset } from '../model/job-datasets.js';
import type { JobSpec } from '../model/schemas.js';
import type { DataClass } from './residency.js';
import type { DatasetRecord } from './service.js';

/** Data classes jobs never write, even when they declare the dataset in `writes`. */
export const READ_ONLY_CLASSES: readonly DataClass[] = ['health'];

/**
 * jobDatasets: the mounts of a job's declared datasets, from its organisation's own live datasets only.
 * A declared id that is not one of them (erased after submission) throws: the job must not run without
 * its data, and another organisation's dataset is never mounted.
 */
export function jobDatasets(spec: JobSpec, orgDatasets: readonly DatasetRecord[]): JobDataset[] | undefined {
  const declared = declaredDatasets(spec);
  const reads = declared.reads;
  const writes = new Set(declared.writes);
  const ids = [...new Set([...reads, ...writes])];
  if (ids.length === 0) return undefined;
  const live = new Map(orgDatasets.filter((d) => !d.deletedAt).map((d) => [d.id, d]));
  return ids.map((id) => {
    const d = live.get(id);
    if (!d) throw new Error(`dataset ${id} is not a dataset of the job's organisation (erased after submission?)`);
    const writable = writes.has(id) && !READ_ONLY_CLASSES.includes(d.classification);
    return { id, mode: writable ? 'rw' : 'ro' };
  });
}
