/**
 * The command of a session preset (model/workloads.ts) when its spec gives none: Jupyter Notebook
 * (Debian's `jupyter-notebook`, scripts/ensure-jupyter.sh) on the session's port, at the root of its
 * own host name (the proxy's URL scheme is `<job-id>.<base-domain>`, so base_url stays `/`).
 *
 * No Jupyter token or password: the workload proxy authenticates every request (the owning org's
 * principals only) and the notebook is reachable only through it. A host process binds 127.0.0.1;
 * in a container it binds the container's own network namespace, published on the host's loopback
 * only (podman.ts). allow_origin/allow_remote_access accept the proxy's host names, which Jupyter's
 * own loopback checks do not know.
 */
import type { JobSpec } from '../model/schemas.js';

const JUPYTER_FLAGS = [
  '--no-browser',
  "--NotebookApp.token=''",
  "--NotebookApp.password=''",
  "--NotebookApp.base_url='/'",
  "--NotebookApp.allow_origin='*'",
  '--NotebookApp.allow_remote_access=True',
  // Jobs run as the driver's user; Jupyter refuses root unless told (containers often run as root).
  '--allow-root',
];

/** sessionCommand: the spec's command, or the preset's default one (a Jupyter session without a command). */
export function sessionCommand(spec: JobSpec): string[] | undefined {
  if (spec.command?.length || spec.kind !== 'session' || spec.session?.preset !== 'jupyter') return spec.command;
  const ip = spec.image ? '0.0.0.0' : '127.0.0.1';
  const dir = spec.image ? '/scratch' : '"$GIGAFAB_SCRATCH"';
  const line = `exec jupyter-notebook --ip=${ip} --port="$GIGAFAB_PORT" --notebook-dir=${dir} ${JUPYTER_FLAGS.join(' ')}`;
  return ['/bin/sh', '-c', line];
}
