/**
 * Podman for the local and Slurm drivers: the `podman run` command line of a job, the wrapper that
 * records its status, and pulling its image (a visible phase, with registry credentials in a 0600
 * authfile that exists only for the pull).
 *
 * Why these choices (see docs and ../shared/notes/containers-on-localhost.md):
 * - runtime runc with ulimits below the host's hard limits (crun fails on hybrid cgroups; root here
 *   cannot raise limits); scripts/ensure-podman.sh sets both in containers.conf.
 * - `--log-driver passthrough`: the container writes straight into the job's output (our log file or
 *   the log sealer's pipe); podman keeps no copy of tenant output in its storage.
 * - `--network host`: ranks of a gang reach MASTER_ADDR:MASTER_PORT on the nodes' own addresses (NCCL
 *   needs the host's interfaces anyway). Sessions and services instead get a bridge network with
 *   their one port published on 127.0.0.1 (RunOptions.publish).
 * - environment values never on a command line: `--env NAME` takes each value from podman's own
 *   environment, which the driver builds from scratch (like a host job's).
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesOf } from '../model/job.js';
import type { JobSpec } from '../model/schemas.js';
import { type Volume, volumeArgs } from './job-mounts.js';
import { imageRegistry } from './runnable.js';

export const PODMAN = 'podman';
/** GIGAFAB_CHECKPOINT_FILE inside a container. */
export const CONTAINER_CHECKPOINT_FILE = '/gigafab/checkpoints';

/** Container name of one run of a job: found again by name after a restart. */
export function containerName(jobId: string, attempt: number): string {
  return `gigafab-${jobId}-a${attempt}`;
}

export interface RunOptions {
  /** Container name; absent: the caller adds one (the Slurm node script names it per node). */
  name?: string;
  spec: JobSpec;
  /** The job's environment, split by containerEnv. */
  env: ContainerEnv;
  /** Host GPU indices given to the job ([] for none). */
  gpus: readonly number[];
  /**
   * The run's checkpoint file on the host, mounted alone at CONTAINER_CHECKPOINT_FILE: the container
   * sees nothing else of the run's directory (it holds the exit status and state the driver trusts).
   */
  checkpointFile: string;
  /** How GPUs reach the container (see GpuPassthrough). */
  gpuPassthrough: Exclude<GpuPassthrough, 'auto'>;
  /** Bind mounts: the run's scratch and the job's datasets (job-mounts.ts). */
  volumes?: readonly Volume[];
  /**
   * A session's or service's port (workload-port.ts): the container gets its own network namespace
   * with that one port published on 127.0.0.1 (not `--network host`, which would expose every port
   * it binds on all of the machine's interfaces).
   */
  publish?: { hostPort: number; containerPort: number };
}

/** podmanRunArgs: the arguments after `podman` that run the job's image in the foreground. */
export function podmanRunArgs(o: RunOptions): string[] {
  const { spec } = o;
  if (!spec.image) throw new Error('podmanRunArgs needs spec.image');
  const args = [
    'run',
    ...(o.name ? ['--name', o.name] : []),
    '--log-driver',
    'passthrough',
    '--network',
    o.publish ? 'bridge' : 'host',
    ...(o.publish ? ['--publish', `127.0.0.1:${o.publish.hostPort}:${o.publish.containerPort}`] : []),
    '--pull',
    'never',
  ];
  args.push('--label', 'gigafab.job=1', '--stop-signal', 'SIGTERM');
  for (const n of Object.keys(o.env.byName)) args.push('--env', n);
  for (const [n, v] of Object.entries(o.env.inline)) args.push('--env', `${n}=${v}`);
  const r = spec.resources;
  if (r?.memory) args.push('--memory', String(bytesOf(r.memory)));
  if (r?.shmSize) args.push('--shm-size', String(bytesOf(r.shmSize)));
  if (r?.cpus) args.push('--cpus', String(r.cpus));
  if (spec.workingDir) args.push('--workdir', spec.workingDir);
  args.push('--volume', `${o.checkpointFile}:${CONTAINER_CHECKPOINT_FILE}:rw`);
  args.push(...volumeArgs(o.volumes ?? []));
  args.push(...gpuArgs(o.gpus, o.gpuPassthrough));
  if (spec.command?.length) args.push('--entrypoint', JSON.stringify(spec.command));
  args.push(spec.image, ...(spec.args ?? []));
  return args;
}

/** Variables podman itself reads: a job's value for them cannot travel in podman's environment. */
const RUNTIME_ENV =
  /^(PATH|HOME|TMPDIR|DOCKER_CONFIG|REGISTRY_AUTH_FILE|CONTAINER_HOST|CONTAINER_CONNECTION|CONTAINERS_\w*|XDG_\w*)$/;

export interface ContainerEnv {
  /** Passed as `--env NAME`, the value in podman's own environment (never on a command line). */
  byName: Record<string, string>;
  /** Passed as `--env NAME=value`: names podman itself reads (never secrets). */
  inline: Record<string, string>;
}

/** containerEnv: how each of a job's variables reaches the container; a secret named like a runtime variable is refused. */
export function containerEnv(vars: Record<string, string>, secretNames: ReadonlySet<string>): ContainerEnv {
  const out: ContainerEnv = { byName: {}, inline: {} };
  for (const [n, v] of Object.entries(vars)) {
    if (!RUNTIME_ENV.test(n)) out.byName[n] = v;
    else if (secretNames.has(n)) throw new Error(`secret variable ${n} is reserved for the container runtime; rename it`);
    else out.inline[n] = v;
  }
  return out;
}

/** findPodman: podman's absolute path on PATH, or null when it is not installed. */
export function findPodman(path: string): string | null {
  for (const d of path.split(':')) if (d && existsSync(join(d, PODMAN))) return join(d, PODMAN);
  return null;
}

/**
 * How a job's GPUs reach its container: `cdi` (a CDI spec from nvidia-ctk: `--device nvidia.com/gpu=N`),
 * `devices` (the device nodes of exactly the job's GPUs plus the control nodes), `none` (only the
 * CUDA/NVIDIA_VISIBLE_DEVICES variables: rigs whose GPUs are stand-ins), `auto`: cdi where a spec
 * exists, else devices.
 */
export type GpuPassthrough = 'auto' | 'cdi' | 'devices' | 'none';

export function resolvePassthrough(mode: GpuPassthrough): Exclude<GpuPassthrough, 'auto'> {
  if (mode !== 'auto') return mode;
  return nvidiaCdiPresent() ? 'cdi' : 'devices';
}

function gpuArgs(gpus: readonly number[], mode: Exclude<GpuPassthrough, 'auto'>): string[] {
  if (gpus.length === 0 || mode === 'none') return [];
  if (mode === 'cdi') return gpus.flatMap((g) => ['--device', `nvidia.com/gpu=${g}`]);
  const nodes = gpus.map((g) => `/dev/nvidia${g}`);
  const missing = nodes.find((n) => !existsSync(n));
  if (missing) throw new Error(`GPU device ${missing} does not exist on this node: cannot pass the job's GPUs to its container`);
  for (const n of ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools']) if (existsSync(n)) nodes.push(n);
  return nodes.flatMap((n) => ['--device', n]);
}

/** Whether a CDI spec for NVIDIA GPUs is installed (then `--device nvidia.com/gpu=N` works). */
export function nvidiaCdiPresent(): boolean {
  return ['/etc/cdi/nvidia.yaml', '/var/run/cdi/nvidia.yaml', '/etc/cdi/nvidia.json'].some((p) => existsSync(p));
}

/**
 * The container wrapper (sh): runs `podman run …` as a child (so the shell survives to record its
 * status), records whether the container was OOM-killed, removes the container, writes the status.
 * $1 exit file, $2 container name, $3 podman's path, the rest: podman's arguments.
 */
export const CONTAINER_WRAPPER = [
  'exit_file=$1; name=$2; podman=$3; shift 3',
  "trap ':' TERM INT HUP",
  '"$podman" "$@"',
  'code=$?',
  `oom=$("$podman" inspect --format '{{.State.OOMKilled}}' "$name" 2>/dev/null)`,
  `[ "$oom" = true ] && : > "$exit_file.oom"`,
  '"$podman" rm -f "$name" >/dev/null 2>&1',
  `printf '%s\\n' "$code" > "$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"`,
  'exit "$code"',
].join('\n');

/**
 * Whether an image is pulled before the job runs: always, except images that exist only in this host's
 * storage (`localhost/…` without a port: built or imported here). Pulling every time makes the registry
 * check the job's own credentials, so one tenant never runs another's private image from the cache.
 */
export function needsPull(image: string): boolean {
  return !/^localhost\//.test(image);
}

export interface PullResult {
  ok: boolean;
  /** Machine-readable reason when !ok: unauthorized, not_found, unreachable, or failed. */
  reason?: string;
  /** podman's last error line (no credentials in it). */
  detail?: string;
  /** Image size in bytes after a successful pull. */
  bytes?: number;
}

/**
 * pullImage: `podman pull` with the registry credentials (`user:password`) in a 0600 authfile inside
 * `dir` that is removed as soon as the pull ends.
 */
export async function pullImage(
  image: string,
  dir: string,
  auth: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<PullResult> {
  const args = ['pull', '--quiet'];
  const authFile = join(dir, 'registry-auth.json');
  // Without credentials an empty authfile: never fall back to the host's own logins (they are not the tenant's).
  const auths = auth ? { [imageRegistry(image)]: { auth: Buffer.from(auth).toString('base64') } } : {};
  writeFileSync(authFile, JSON.stringify({ auths }), { mode: 0o600 });
  args.push('--authfile', authFile);
  // A registry on this machine's loopback (the tests' own) speaks plain HTTP; every other one TLS.
  if (/^(localhost|127\.0\.0\.1):/.test(imageRegistry(image))) args.push('--tls-verify=false');
  args.push(image);
  try {
    const { code, stderr } = await run(args, env);
    if (code !== 0) return { ok: false, ...pullFailure(stderr) };
  } finally {
    rmSync(authFile, { force: true });
  }
  const size = await run(['image', 'inspect', '--format', '{{.Size}}', image], env);
  const bytes = Number(size.stdout.trim());
  return { ok: true, bytes: Number.isFinite(bytes) ? bytes : undefined };
}

/** pullFailure: podman's error text as a reason code and one line of detail. */
export function pullFailure(stderr: string): { reason: string; detail: string } {
  const lines = stderr.trim().split('\n');
  const detail = (lines.at(-1) ?? '').replace(/^Error: /, '').slice(0, 300);
  const t = stderr.toLowerCase();
  const reason = /unauthorized|authentication required|denied/.test(t)
    ? 'unauthorized'
    : /manifest unknown|not found|name unknown/.test(t)
      ? 'not_found'
      : /connection refused|no such host|i\/o timeout|network is unreachable/.test(t)
        ? 'unreachable'
        : 'failed';
  return { reason, detail };
}

/** podman's own status of a container by name: running, exited, … or null when there is none. */
export async function containerState(name: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  const r = await run(['container', 'inspect', '--format', '{{.State.Status}}', name], env);
  return r.code === 0 ? r.stdout.trim() : null;
}

/** stopContainer: SIGTERM to the container, SIGKILL after graceSeconds (podman stop -t). */
export async function stopContainer(name: string, graceSeconds: number, env: NodeJS.ProcessEnv): Promise<void> {
  await run(['stop', '-t', String(Math.max(0, Math.round(graceSeconds))), name], env);
}

export function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(PODMAN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (err) => resolve({ code: null, stdout, stderr: `${stderr}${err.message}` }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
