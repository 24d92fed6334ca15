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
import { datasetEnvName } from './job-mounts.js';

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

/**
 * The environment variable the control plane puts the session owner's public keys in (one per line),
 * among the job's secrets (never logged, never in a state file); the ssh preset writes them to the
 * run's authorized_keys.
 */
export const SSH_KEYS_ENV = 'GIGAFAB_SSH_AUTHORIZED_KEYS';

/** Variables a login through the session's sshd gets (its GPUs and where it is), set with sshd's SetEnv. */
const SSH_SESSION_ENV = ['CUDA_VISIBLE_DEVICES', 'CUDA_DEVICE_ORDER', 'GIGAFAB_JOB_ID', 'GIGAFAB_SCRATCH', 'GIGAFAB_WORKDIR'];

/**
 * The ssh preset: Debian's OpenSSH server (scripts/ensure-openssh-server.sh) as the session's own
 * process, in the foreground (-D), logging to the job's output (-e), with a config of its own and
 * none of the machine's (-f /dev/null): on 127.0.0.1 and the session's port only, a host key made
 * for this run, public keys only (no passwords, no PAM), exactly the owner's keys, and only the
 * account the job runs as may log in. It is reached through the workload proxy's TCP tunnel.
 * In an image the same script runs the image's own /usr/sbin/sshd (and ssh-keygen) as the
 * container's user, on the container's port. Without a key in the owner's profile the session
 * fails at once with a sentence saying so.
 */
function sshdLine(state: string | null, listen: string): string {
  return String.raw`set -e
${state ? `state=${state}\n` : ''}if [ -z "$${SSH_KEYS_ENV}" ]; then
  echo "gigafab: no SSH key in the profile of the session's owner: add one with 'gigafab ssh-key add ~/.ssh/id_ed25519.pub', then start a new session" >&2
  exit 2
fi
d="${'$'}{GIGAFAB_SCRATCH:-$PWD}/.gigafab-sshd"
umask 077
mkdir -p "$d"
printf '%s\n' "$${SSH_KEYS_ENV}" > "$d/authorized_keys"
unset ${SSH_KEYS_ENV}
rm -f "$d/host_key" "$d/host_key.pub"
ssh-keygen -q -t ed25519 -N "" -C "gigafab-session-$GIGAFAB_JOB_ID" -f "$d/host_key"
if [ "$(id -u)" = 0 ]; then mkdir -p -m 0755 /run/sshd; fi
env_opt=""
for n in ${SSH_SESSION_ENV.join(' ')}; do
  eval "v=\${$n:-}"
  if [ -n "$v" ]; then env_opt="$env_opt $n=$v"; fi
done
set -- -D -e -f /dev/null -o ListenAddress=${listen} -o Port="$GIGAFAB_PORT" -h "$d/host_key" \
  -o AuthorizedKeysFile="$d/authorized_keys" -o AuthenticationMethods=publickey \
  -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o UsePAM=no \
  -o StrictModes=no -o PidFile=none -o AllowUsers="$(id -un)" -o PermitRootLogin=prohibit-password \
  -o "Subsystem=sftp internal-sftp" -o PrintMotd=no -o ClientAliveInterval=30
if [ -n "$env_opt" ]; then set -- "$@" -o "SetEnv=$env_opt"; fi
${state ? LOGIN_IN_STATE : ''}
echo "gigafab: sshd for session $GIGAFAB_JOB_ID on ${listen}:$GIGAFAB_PORT; log in as $(id -un)" >&2
exec /usr/sbin/sshd "$@"`;
}

/**
 * With a state dataset, every login (shell, command, sftp) starts in it with HOME there: sshd's
 * ForceCommand runs this script, which then runs what the client asked for (sshd's own chdir goes to
 * the account's passwd home, which a session cannot change). Internal sftp cannot run from a
 * script, so sftp gets Debian's sftp-server binary.
 */
const LOGIN_IN_STATE = String.raw`umask 022
cat > "$d/login" <<EOF
cd '$state' || exit 1
HOME='$state'; export HOME
case "\${SSH_ORIGINAL_COMMAND:-}" in
  '') exec "\${SHELL:-/bin/sh}" -l ;;
  internal-sftp*) exec /usr/lib/openssh/sftp-server ;;
  *) exec "\${SHELL:-/bin/sh}" -c "\$SSH_ORIGINAL_COMMAND" ;;
esac
EOF
umask 077
set -- "$@" -o "ForceCommand=/bin/sh $d/login"`;

/**
 * stateDirExpr: a shell word for the session's state directory (its state dataset's mount, named by
 * the dataset's directory variable, job-mounts.ts), failing with a sentence where the site mounted
 * none; null without a state dataset.
 */
function stateDirExpr(spec: JobSpec): string | null {
  const id = spec.session?.stateDataset;
  if (!id) return null;
  return `"$${'{'}${datasetEnvName(id)}:?gigafab: the session's state dataset ${id} is not mounted on this node: its site stages no datasets (driver.datasetRoot)}"`;
}

/** isSshPreset: an `ssh` session without a command of its own (it runs the preset's sshd). */
export function isSshPreset(spec: JobSpec): boolean {
  return spec.kind === 'session' && spec.session?.preset === 'ssh' && !spec.command?.length;
}

/**
 * sessionCommand: the spec's command, or the preset's default one (Jupyter without a command; ssh).
 * `hostNetwork`: an image runs in the node's network namespace (the Slurm driver's podman), so its
 * sshd binds the address the driver names, like a host process — never every address of the node.
 */
export function sessionCommand(spec: JobSpec, o: { hostNetwork?: boolean } = {}): string[] | undefined {
  if (isSshPreset(spec)) {
    // In an image with a network namespace of its own sshd binds it, published on the host's loopback
    // only (podman.ts), like Jupyter there; on the host the address its driver names, else loopback.
    const listen = spec.image && !o.hostNetwork ? '0.0.0.0' : `"$${'{'}GIGAFAB_BIND:-127.0.0.1}"`;
    return ['/bin/sh', '-c', sshdLine(stateDirExpr(spec), listen)];
  }
  if (spec.command?.length || spec.kind !== 'session' || spec.session?.preset !== 'jupyter') return spec.command;
  // A host process binds the address its driver names (GIGAFAB_BIND: a Slurm node's address), else loopback.
  const ip = spec.image ? '0.0.0.0' : `"$${'{'}GIGAFAB_BIND:-127.0.0.1}"`;
  // The notebook root: the state dataset where the session keeps its work, else the run's scratch.
  const dir = stateDirExpr(spec) ?? (spec.image ? '/scratch' : '"$GIGAFAB_SCRATCH"');
  const line = `exec jupyter-notebook --ip=${ip} --port="$GIGAFAB_PORT" --notebook-dir=${dir} ${JUPYTER_FLAGS.join(' ')}`;
  return ['/bin/sh', '-c', line];
}
