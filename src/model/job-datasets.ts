/**
 * The datasets a job declared, as its driver is told to mount them. The control plane decides the
 * mode (a dataset the job only reads, or whose data class forbids writes from jobs, is `ro`); the
 * driver only follows it and never sees other datasets' ids.
 */
export interface JobDataset {
  /** Dataset id: the directory `<datasetRoot>/<id>` a site stages it in. */
  id: string;
  mode: 'ro' | 'rw';
}

/** Dataset ids a driver accepts as a directory name: no separators, no `..`, nothing podman's `--volume` parses. */
export const DATASET_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
