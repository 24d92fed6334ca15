/**
 * A job's scratch directory and dataset mounts on a node (local and Slurm drivers).
 *
 * - Scratch: one directory per run (attempt) of the job, inside the run's own directory, so it goes with
 *   the job's other files when the driver forgets the job (erasure). GIGAFAB_SCRATCH names it; a
 *   container sees it read-write at /scratch.
 * - Datasets: the site stages each dataset in `<datasetRoot>/<id>`; a container sees it at
 *   /datasets/<id>, read-only unless the control plane said `rw` (JobDataset.mode). A host job gets the
 *   path in GIGAFAB_DATASET_DIR_<ID> (containers get it too, pointing at the mount); the host cannot
 *   make a directory read-only for one process, so there the mode is the site's file permissions.
 *   (Not GIGAFAB_DATASET_<ID>: that prefix carries the manifests, named after datasets' names.)
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DATASET_DIR_NAME, type JobDataset } from '../model/job-datasets.js';
import type { JobSpec } from '../model/schemas.js';

export const CONTAINER_SCRATCH = '/scratch';
export const CONTAINER_DATASETS = '/datasets';

/** A bind mount into a container: host path, path inside, mode. */
export interface Volume {
  host: string;
  container: string;
  mode: 'ro' | 'rw';
  /** The dataset mounted (absent: scratch). */
  dataset?: string;
}

/** The scratch directory of a run, given its directory. */
export function scratchDir(runDir: string): string {
  return join(runDir, 'scratch');
}

/** scratchVolume: a run's scratch directory, read-write at /scratch. */
export function scratchVolume(host: string): Volume {
  return { host, container: CONTAINER_SCRATCH, mode: 'rw' };
}

/** datasetEnvName: the variable holding a dataset's directory (`ds_1a2b` → GIGAFAB_DATASET_DIR_DS_1A2B). */
export function datasetEnvName(id: string): string {
  return `GIGAFAB_DATASET_DIR_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * datasetVolumes: where a job's datasets are on this node and where its container sees them. [] when
 * the site stages no datasets (no datasetRoot: jobs reach their data through the manifests alone).
 */
export function datasetVolumes(datasetRoot: string | undefined, datasets: readonly JobDataset[] | undefined): Volume[] {
  if (!datasetRoot || !datasets?.length) return [];
  // podman's --volume and the Slurm node script's list would split such a path.
  if (/[:,\s]/.test(datasetRoot)) throw new Error(`datasetRoot ${datasetRoot} must not contain ':', ',' or spaces`);
  return datasets.map((d) => {
    if (!DATASET_DIR_NAME.test(d.id)) throw new Error(`dataset id ${JSON.stringify(d.id)} cannot name a directory`);
    return { host: join(datasetRoot, d.id), container: `${CONTAINER_DATASETS}/${d.id}`, mode: d.mode, dataset: d.id };
  });
}

/** firstUnstaged: the first dataset whose directory is missing on this node (null: all are staged). */
export function firstUnstaged(volumes: readonly Volume[]): Volume | null {
  return volumes.find((v) => !isDirectory(v.host)) ?? null;
}

/** unstagedReason: the message a job ends with when one of its datasets is not staged. */
export function unstagedReason(v: Volume): string {
  return `dataset_not_staged: ${v.dataset} (no directory ${v.host} on this node)`;
}

/**
 * createStateDir: a session's state dataset starts empty: its directory is made on first use (under the
 * site's datasetRoot, which must exist) rather than waiting to be staged, as data the session reads would be.
 */
export function createStateDir(spec: Pick<JobSpec, 'session'>, volumes: readonly Volume[]): void {
  const v = volumes.find((x) => x.dataset !== undefined && x.dataset === spec.session?.stateDataset && x.mode === 'rw');
  if (!v || isDirectory(v.host) || !isDirectory(dirname(v.host))) return;
  mkdirSync(v.host, { mode: 0o770 });
}

/**
 * removeStateDir: a deleted dataset's state directory (`<datasetRoot>/<id>`) goes with everything a
 * session wrote in it; nothing there is done. false: the site stages no datasets (no datasetRoot).
 */
export function removeStateDir(datasetRoot: string | undefined, id: string): boolean {
  if (!datasetRoot) return false;
  if (!DATASET_DIR_NAME.test(id)) throw new Error(`dataset id ${JSON.stringify(id)} cannot name a directory`);
  rmSync(join(datasetRoot, id), { recursive: true, force: true });
  return true;
}

/**
 * stateNotMounted: why a session's state dataset (session.stateDataset) is not among the run's mounts
 * (the site stages no datasets), or null. Such a session would otherwise work in scratch and lose its work.
 */
export function stateNotMounted(spec: Pick<JobSpec, 'session'>, volumes: readonly Volume[]): string | null {
  const id = spec.session?.stateDataset;
  if (!id || volumes.some((v) => v.dataset === id && v.mode === 'rw')) return null;
  return `session_state_unavailable: the state dataset ${id} is not mounted read-write here (the site stages no datasets: driver.datasetRoot)`;
}

/**
 * mountEnv: GIGAFAB_SCRATCH and the dataset directories as the job sees them (inside a container: the
 * mount points). A name that a variable of the job already uses is refused rather than overwritten.
 */
export function mountEnv(
  o: { scratch: string; volumes: readonly Volume[]; inContainer: boolean },
  taken: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = { GIGAFAB_SCRATCH: o.inContainer ? CONTAINER_SCRATCH : o.scratch };
  for (const v of o.volumes) {
    if (!v.dataset) continue;
    const name = datasetEnvName(v.dataset);
    if (name in taken || name in out) throw new Error(`the job's variable ${name} clashes with a dataset's directory variable`);
    out[name] = o.inContainer ? v.container : v.host;
  }
  return out;
}

/** volumeArgs: podman's `--volume host:container:mode` for each. */
export function volumeArgs(volumes: readonly Volume[]): string[] {
  return volumes.flatMap((v) => ['--volume', `${v.host}:${v.container}:${v.mode}`]);
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
