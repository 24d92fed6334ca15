/**
 * Images and rendezvous on Slurm: what each node's task runs. Every task (one per node, srun) runs the
 * node script, which sets the node's own rendezvous variables (NODE_RANK from SLURM_NODEID,
 * MASTER_ADDR the first node's address) and then either execs the host command or — for an image —
 * pulls it and runs it with podman in the foreground.
 *
 * Why podman inside the step rather than Slurm's native `--container` (oci.conf + runc): --container
 * needs an unpacked OCI bundle on every node and does no pulling, no registry credentials and no
 * per-job memory/shm options; podman pulls (with the tenant's credentials), caches, and takes the same
 * options as on the `local` driver, so both drivers share one behaviour (podman.ts). The step's
 * signals still reach the job: podman forwards SIGTERM to the container, and on SIGTERM the node
 * script runs `podman stop -t <grace>` with the stop's grace (read from slurm.json); `--rm` makes
 * conmon remove the container even when Slurm's final SIGKILL took the podman client.
 *
 * Registry credentials: one 0600 authfile per node in the run directory, which that node's script
 * removes right after its pull (the directory is on the shared filesystem, readable by root only).
 *
 * Scratch and datasets (job-mounts.ts): each node makes its own scratch `<run dir>/scratch/node-<i>`
 * (GIGAFAB_SCRATCH; /scratch in a container) and checks that every dataset directory is staged on it
 * before anything runs; a missing one ends the job with `dataset_not_staged: <id>`.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobSpec } from '../model/schemas.js';
import { mountEnv, type Volume } from './job-mounts.js';
import { type ContainerEnv, containerEnv, needsPull, PODMAN, podmanRunArgs, pullFailure } from './podman.js';
import { imageRegistry } from './runnable.js';

/**
 * The node script (sh). $1 run directory, $2 container name base ('' for a host job), $3 image to pull
 * first ('' for none), $4 extra pull flags, $5 GPU passthrough (devices|none), $6 the dataset
 * directories that must exist (space-separated); then the podman run arguments (image jobs) or the
 * host command.
 */
export const NODE_SCRIPT = [
  'dir=$1; base=$2; pull=$3; pullflags=$4; gpumode=$5; datasets=$6; shift 6',
  'i=$SLURM_NODEID; [ -n "$i" ] || i=0',
  'for d in $datasets; do',
  '  [ -d "$d" ] && continue',
  '  id=$(basename "$d"); printf \'%s\\n\' "$id" > "$dir/dataset_not_staged.$i"',
  '  echo "[gigafab] node $i: dataset_not_staged: $id (no directory $d on this node)"; exit 125',
  'done',
  // The scratch parent is 0700 (made by the driver): a node's own directory may be open to the image's user.
  'scratch="$dir/scratch/node-$i"; mkdir -p "$scratch" && chmod 777 "$scratch" || exit 125',
  'first=$(scontrol show hostnames "$SLURM_JOB_NODELIST" 2>/dev/null | head -n 1)',
  `addr=$(scontrol show node "$first" 2>/dev/null | sed -n 's/.*NodeAddr=\\([^ ]*\\).*/\\1/p' | head -n 1)`,
  'm=$addr; [ -n "$m" ] || m=$first; [ -n "$m" ] || m=127.0.0.1',
  'export MASTER_ADDR="$m" NODE_RANK=$i RANK=$i GIGAFAB_NODE_INDEX=$i',
  '[ -n "$base" ] || { export GIGAFAB_SCRATCH="$scratch"; exec "$@"; }',
  'set -- --volume "$scratch:/scratch:rw" "$@"',
  'auth="$dir/registry-auth.$i.json"',
  'if [ -n "$pull" ]; then',
  '  echo "[gigafab] node $i: pulling image $pull"',
  `  if ! out=$(${PODMAN} pull --quiet --authfile "$auth" $pullflags "$pull" 2>&1); then`,
  '    rm -f "$auth"; printf \'%s\\n\' "$out" > "$dir/pull_failed.$i"; exit 125',
  '  fi',
  '  echo "[gigafab] node $i: pulled image $pull"',
  'fi',
  'rm -f "$auth"',
  'if [ "$gpumode" = devices ] && [ -n "$CUDA_VISIBLE_DEVICES" ]; then',
  '  for g in $(echo "$CUDA_VISIBLE_DEVICES" | tr , " "); do set -- --device "/dev/nvidia$g" "$@"; done',
  '  for d in /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools; do [ -e "$d" ] && set -- --device "$d" "$@"; done',
  'fi',
  // Slurm decides each node's GPUs (gres): the container gets them as the step has them.
  'if [ -n "$CUDA_VISIBLE_DEVICES" ]; then',
  '  export NVIDIA_VISIBLE_DEVICES="$CUDA_VISIBLE_DEVICES"; set -- --env CUDA_VISIBLE_DEVICES --env NVIDIA_VISIBLE_DEVICES "$@"',
  'fi',
  'name="$base-n$i"',
  `stop_container() { g=$(sed -n 's/.*"graceSeconds":\\([0-9]*\\).*/\\1/p' "$dir/slurm.json" 2>/dev/null); g=\${g:-10}; [ "$g" -gt 0 ] && g=$((g - 1)); ${PODMAN} stop -t "$g" "$name" >/dev/null 2>&1; }`,
  "trap 'stop_container' TERM INT",
  `${PODMAN} run --rm --name "$name" "$@" &`,
  'pid=$!',
  // wait returns early when a trapped signal arrives: wait again for podman's own status.
  'while :; do wait "$pid"; code=$?; kill -0 "$pid" 2>/dev/null || break; done',
  'exit "$code"',
].join('\n');

export interface SlurmContainerPlan {
  /** The sbatch command (the batch script runs it once per node). */
  command: string[];
  /** The job's variables that go into sbatch's environment (runtime names travel inline instead). */
  env: Record<string, string>;
}

/**
 * slurmTaskCommand: the command each node's task runs, for a host command or an image. `vars`: the
 * job's variables (env, secrets, GIGAFAB_*, rendezvous); registryAuth: `user:password` for the pull.
 */
export function slurmTaskCommand(o: {
  jobId: string;
  attempt: number;
  dir: string;
  spec: JobSpec;
  vars: Record<string, string>;
  secretNames: ReadonlySet<string>;
  nodes: number;
  registryAuth?: string;
  gpuPassthrough: 'devices' | 'none';
  /** The job's dataset mounts (job-mounts.ts datasetVolumes). */
  datasets?: readonly Volume[];
}): SlurmContainerPlan {
  const { spec } = o;
  const datasets = o.datasets ?? [];
  const head = ['/bin/sh', '-c', NODE_SCRIPT, `gigafab-node-${o.jobId}`, o.dir];
  const staged = datasets.map((v) => v.host).join(' ');
  // GIGAFAB_SCRATCH: each node's script sets a host job's own; a container's is the mount point.
  const mounts = mountEnv({ scratch: '', volumes: datasets, inContainer: !!spec.image }, o.vars);
  if (!spec.image) {
    delete mounts.GIGAFAB_SCRATCH;
    return { command: [...head, '', '', '', 'none', staged, ...(spec.command ?? [])], env: { ...o.vars, ...mounts } };
  }
  const cenv: ContainerEnv = containerEnv({ ...o.vars, ...mounts }, o.secretNames);
  const pull = needsPull(spec.image) ? spec.image : '';
  if (pull) {
    const auths = o.registryAuth ? { [imageRegistry(spec.image)]: { auth: Buffer.from(o.registryAuth).toString('base64') } } : {};
    for (let i = 0; i < o.nodes; i++) {
      writeFileSync(join(o.dir, `registry-auth.${i}.json`), JSON.stringify({ auths }), { mode: 0o600 });
    }
  }
  const pullFlags = /^(localhost|127\.0\.0\.1):/.test(imageRegistry(spec.image)) ? '--tls-verify=false' : '';
  const run = podmanRunArgs({
    spec,
    env: cenv,
    gpus: [],
    checkpointFile: join(o.dir, 'checkpoints'),
    gpuPassthrough: 'none',
    volumes: datasets, // the scratch volume is per node: the node script adds it
  }).slice(1); // without the leading `run`: the node script adds `run --rm --name`
  const base = `gigafab-${o.jobId}-a${o.attempt}`;
  return { command: [...head, base, pull, pullFlags, o.gpuPassthrough, staged, ...run], env: cenv.byName };
}

/**
 * containerEnding: the reason a job ended, from the files its node scripts left: a dataset not staged
 * on a node (`dataset_not_staged: <id>`), a failed pull (`image_pull_failed: <reason>: <detail>`), or
 * the kernel's OOM kill under a memory limit.
 */
export function containerEnding(
  files: { pullFailed: string | null; datasetNotStaged?: string | null },
  spec: { image?: string; memory?: string } | null,
  exitCode: number | null,
  stopped: boolean,
): string | null {
  if (files.datasetNotStaged) return `dataset_not_staged: ${files.datasetNotStaged.trim()}`;
  if (files.pullFailed !== null) {
    const { reason, detail } = pullFailure(files.pullFailed);
    return `image_pull_failed: ${reason}: ${detail}`;
  }
  if (!stopped && spec?.image && spec.memory && exitCode === 137)
    return `oom_killed: the container exceeded its memory limit of ${spec.memory} (exit code 137)`;
  return null;
}

/** readPullFailed: the first node's pull failure in a run directory, if any. */
export function readPullFailed(dir: string): string | null {
  return readFirstNodeFile(dir, 'pull_failed');
}

/** readDatasetNotStaged: the id of the dataset the first failing node did not have, if any. */
export function readDatasetNotStaged(dir: string): string | null {
  return readFirstNodeFile(dir, 'dataset_not_staged');
}

/** The first `<prefix>.<node index>` file of a run directory, if any. */
function readFirstNodeFile(dir: string, prefix: string): string | null {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(`${prefix}.`) && /^\d+$/.test(n.slice(prefix.length + 1)));
  } catch {
    return null;
  }
  return names.length ? readFileSync(join(dir, names.sort()[0]), 'utf8') : null;
}
