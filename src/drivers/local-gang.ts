/**
 * Gangs on the local driver: a job placed on several nodes that all live on this one machine (a test
 * rig or a workstation split into nodes) runs one rank per placed node, side by side on this host.
 * One wrapper process (the job's pid, so stop, deadline and reattach work as for one rank) starts
 * every rank with its own NODE_RANK/RANK/GIGAFAB_NODE_INDEX and CUDA_VISIBLE_DEVICES (the rest of the
 * rendezvous variables are the same for all ranks: MASTER_ADDR is 127.0.0.1), waits for all of them
 * and records the gang's status.
 *
 * Ranks of an image run in containers `<container>-r<rank>` (host network, so rank 0's MASTER_PORT is
 * reachable at 127.0.0.1), each given its own GPUs. Gang rule: the first rank that ends with a non-zero
 * status ends the gang — the others get SIGTERM (host ranks) or `podman stop -t 10` (containers) — and its
 * status is the job's; `exit_code.failed` names that rank.
 */

/**
 * The gang wrapper (sh). $1 exit file, $2 rank count, $3 container name base ('' for host ranks),
 * $4 podman's path, $5 GPU passthrough (cdi|devices|none), then one CUDA_VISIBLE_DEVICES value per
 * rank, then the host command, or podman's run arguments without `run` and the name.
 */
export const GANG_WRAPPER = [
  'exit_file=$1; n=$2; base=$3; podman=$4; gpumode=$5; shift 5',
  'i=0; while [ "$i" -lt "$n" ]; do eval "cvd_$i=\\$1"; shift; i=$((i + 1)); done',
  "trap ':' TERM INT HUP",
  'stop_others() {',
  '  if [ -z "$base" ]; then kill -TERM 0; return; fi',
  '  j=0',
  '  while [ "$j" -lt "$n" ]; do',
  '    if [ "$j" != "$1" ]; then "$podman" stop -t 10 "$base-r$j" >/dev/null 2>&1 & fi',
  '    j=$((j + 1))',
  '  done',
  '}',
  'rank() {',
  '  r=$1; shift',
  // Like the one-rank wrapper: the rank's shell outlives signals to record its status; the command gets the default.
  "  trap ':' TERM INT HUP",
  '  eval "cvd=\\$cvd_$r"',
  '  export RANK=$r NODE_RANK=$r GIGAFAB_NODE_INDEX=$r CUDA_VISIBLE_DEVICES="$cvd"',
  '  if [ -z "$base" ]; then',
  '    "$@"; code=$?',
  '  else',
  '    name="$base-r$r"; export NVIDIA_VISIBLE_DEVICES="$cvd"',
  '    for g in $(echo "$cvd" | tr , " "); do',
  '      [ "$gpumode" = cdi ] && set -- --device "nvidia.com/gpu=$g" "$@"',
  '      [ "$gpumode" = devices ] && set -- --device "/dev/nvidia$g" "$@"',
  '    done',
  '    if [ -n "$cvd" ] && [ "$gpumode" = devices ]; then',
  '      for d in /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools; do [ -e "$d" ] && set -- --device "$d" "$@"; done',
  '    fi',
  '    "$podman" run --name "$name" "$@"; code=$?',
  `    oom=$("$podman" inspect --format '{{.State.OOMKilled}}' "$name" 2>/dev/null)`,
  '    [ "$oom" = true ] && : > "$exit_file.oom"',
  '    "$podman" rm -f "$name" >/dev/null 2>&1',
  '  fi',
  `  printf '%s\\n' "$code" > "$exit_file.$r"`,
  // The first failing rank (noclobber makes the claim atomic) ends the others.
  `  if [ "$code" != 0 ] && (set -C; printf '%s\\n' "$r" > "$exit_file.failed") 2>/dev/null; then stop_others "$r"; fi`,
  '  exit "$code"',
  '}',
  'pids=; i=0',
  'while [ "$i" -lt "$n" ]; do rank "$i" "$@" & pids="$pids $!"; i=$((i + 1)); done',
  'code=0',
  // wait returns early when a trapped signal arrives: wait again until the rank has really ended.
  'for p in $pids; do while :; do wait "$p"; c=$?; kill -0 "$p" 2>/dev/null || break; done; [ "$code" = 0 ] && code=$c; done',
  '[ -f "$exit_file.failed" ] && code=$(cat "$exit_file.$(cat "$exit_file.failed")")',
  `printf '%s\\n' "$code" > "$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"`,
  'exit "$code"',
].join('\n');

/** The container of one rank of a gang. */
export function rankContainer(container: string, rank: number): string {
  return `${container}-r${rank}`;
}

/**
 * gangArgv: the arguments of `/bin/sh` for a gang. cvds: each rank's CUDA_VISIBLE_DEVICES. rest: the
 * host command, or podman's run arguments without `run` and `--name` (podmanRunArgs(...).slice(1)).
 */
export function gangArgv(o: {
  jobId: string;
  exitFile: string;
  cvds: readonly string[];
  container?: { base: string; podman: string; gpuPassthrough: 'cdi' | 'devices' | 'none' };
  rest: readonly string[];
}): string[] {
  const c = o.container;
  return [
    '-c',
    GANG_WRAPPER,
    `gigafab-job-${o.jobId}`,
    o.exitFile,
    String(o.cvds.length),
    c?.base ?? '',
    c?.podman ?? '',
    c?.gpuPassthrough ?? 'none',
    ...o.cvds,
    ...o.rest,
  ];
}
