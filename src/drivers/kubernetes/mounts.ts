/**
 * A pod's scratch and dataset volumes (the Kubernetes form of ../job-mounts.ts).
 *
 * - Scratch: an `emptyDir` at /scratch, so it lives and dies with the pod (nothing to remove on forget).
 * - Datasets (only when the site sets datasetRoot): a `hostPath` of `<datasetRoot>/<id>` at
 *   /datasets/<id>, read-only unless the control plane said `rw`. Type `Directory` makes kubelet refuse
 *   to start a pod whose dataset is not staged on its node, rather than create an empty directory.
 * Volume names are `dataset-<i>`: a dataset id need not be a DNS label.
 */
import type { JobDataset } from '../../model/job-datasets.js';
import { CONTAINER_SCRATCH, datasetVolumes, mountEnv } from '../job-mounts.js';
import type { EnvVar } from './gang.js';

export interface PodVolume {
  name: string;
  emptyDir?: Record<string, string>;
  hostPath?: { path: string; type: 'Directory' };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface PodMounts {
  volumes: PodVolume[];
  volumeMounts: VolumeMount[];
  /** GIGAFAB_SCRATCH and GIGAFAB_DATASET_DIR_<ID>, pointing at the mount points. */
  env: EnvVar[];
}

export const SCRATCH_VOLUME = 'scratch';

/** podMounts: the scratch volume, plus one per dataset when the site stages them (datasetRoot). */
export function podMounts(datasetRoot: string | undefined, datasets: readonly JobDataset[] | undefined): PodMounts {
  const staged = datasetVolumes(datasetRoot, datasets);
  const volumes: PodVolume[] = [{ name: SCRATCH_VOLUME, emptyDir: {} }];
  const volumeMounts: VolumeMount[] = [{ name: SCRATCH_VOLUME, mountPath: CONTAINER_SCRATCH }];
  for (const [i, v] of staged.entries()) {
    const name = `dataset-${i}`;
    volumes.push({ name, hostPath: { path: v.host, type: 'Directory' } });
    volumeMounts.push({ name, mountPath: v.container, readOnly: v.mode === 'ro' });
  }
  // The job's own GIGAFAB_* names are refused before this (RESERVED_ENV), so nothing can clash here.
  const vars = mountEnv({ scratch: CONTAINER_SCRATCH, volumes: staged, inContainer: true }, {});
  return { volumes, volumeMounts, env: Object.entries(vars).map(([name, value]) => ({ name, value })) };
}
