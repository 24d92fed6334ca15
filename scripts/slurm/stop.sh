#!/usr/bin/env bash
# stop.sh — stop the localhost Slurm that scripts/slurm/setup.sh started, by PID only.
# Cancels running jobs, stops every slurmd and slurmctld, ends this cluster's job step daemons
# (slurmstepd) and the processes below them, and stops munged if setup.sh started it. Every PID
# comes from a pid file (or, for slurmstepd, from an environment naming this cluster's slurm.conf)
# and is checked against the expected command name first. Safe to run when nothing runs.
#   GIGAFAB_SLURM_DIR=/tmp/gigafab-slurm   GIGAFAB_SLURM_KEEP_MUNGE=1 leaves munged running.
set -uo pipefail
DIR="${GIGAFAB_SLURM_DIR:-/tmp/gigafab-slurm}"
KEEP_MUNGE="${GIGAFAB_SLURM_KEEP_MUNGE:-0}"
export SLURM_CONF="$DIR/etc/slurm.conf"
log() { printf '[gigafab-slurm %s] %s\n' "$(date +%T)" "$*" >&2; }

pid_of() { # pid_of PIDFILE COMM: the pid, only if that file names a live process with that name
  local f="$1" comm="$2" pid
  [ -s "$f" ] || return 1
  pid="$(tr -dc '0-9' <"$f")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  echo "$pid"
}
gone() { # gone PID: the process no longer exists (a zombie counts as gone)
  [ -d "/proc/$1" ] || return 0
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
stop_pids() { # stop_pids NAME PID...: SIGTERM all, wait up to 15 s, then SIGKILL what is left
  local name="$1" i p left=()
  shift
  [ "$#" -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null
  for ((i = 0; i < 150; i++)); do
    left=()
    for p in "$@"; do gone "$p" || left+=("$p"); done
    [ "${#left[@]}" -eq 0 ] && break
    sleep 0.1
  done
  if [ "${#left[@]}" -gt 0 ]; then
    kill -KILL "${left[@]}" 2>/dev/null
    log "killed $name (${#left[@]} of $#) after 15 s"
  fi
  log "stopped $# x $name"
}

# 1. cancel running jobs while the controller answers, and wait (bounded) for them to end
if [ -f "$SLURM_CONF" ] && pid_of "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
  running="$(squeue -h -t RUNNING,SUSPENDED,CONFIGURING,PENDING -o %A 2>/dev/null)"
  if [ -n "$running" ]; then
    echo "$running" | xargs -r -n 500 scancel 2>/dev/null
    for ((i = 0; i < 300; i++)); do
      [ -z "$(squeue -h -t RUNNING,SUSPENDED,CONFIGURING,COMPLETING -o %A 2>/dev/null)" ] && break
      sleep 0.1
    done
    log "cancelled $(echo "$running" | wc -l) job(s)"
  fi
fi

# 2. daemons: the nodes first, then the controller
slurmds=()
for f in "$DIR"/run/slurmd-*.pid; do
  [ -e "$f" ] || continue
  p="$(pid_of "$f" slurmd)" && slurmds+=("$p")
done
stop_pids slurmd "${slurmds[@]}"
p="$(pid_of "$DIR/run/slurmctld.pid" slurmctld)" && stop_pids slurmctld "$p"

# 3. step daemons left behind (only those whose environment names this cluster's slurm.conf),
#    with every process below them
PS_TREE=""
descendants() { # descendants PID: every child pid, recursively
  local c
  for c in $(awk -v p="$1" '$2 == p { print $1 }' <<<"$PS_TREE"); do
    echo "$c"
    descendants "$c"
  done
}
stepds=()
for d in /proc/[0-9]*; do
  [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
  { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" && stepds+=("${d#/proc/}")
done
if [ "${#stepds[@]}" -gt 0 ]; then
  PS_TREE="$(ps -eo pid=,ppid=)"
  kids=()
  for p in "${stepds[@]}"; do mapfile -t -O "${#kids[@]}" kids < <(descendants "$p"); done
  [ "${#kids[@]}" -gt 0 ] && stop_pids "job process" "${kids[@]}"
  stop_pids slurmstepd "${stepds[@]}"
fi

# 4. munged, only if setup.sh started it
if [ "$KEEP_MUNGE" != 1 ]; then
  p="$(pid_of "$DIR/run/munged.pid" munged)" && stop_pids munged "$p" && rm -f "$DIR/run/munged.pid"
fi
exit 0
