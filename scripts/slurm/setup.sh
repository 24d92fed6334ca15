#!/usr/bin/env bash
# setup.sh — a real Slurm cluster on this one machine for gigafab's Slurm driver tests and benchmark.
#
#   sudo bash scripts/slurm/setup.sh          # install (if missing), configure, start; idempotent
#   source /tmp/gigafab-slurm/env.sh           # SLURM_CONF and the node list, for sbatch/squeue/...
#   sudo bash scripts/slurm/stop.sh           # stop everything setup.sh started, by PID
#
# It installs Slurm and munge from Debian's packages when they are missing (apt-get, as root,
# non-interactive), writes its configuration into a scratch directory, starts munged (unless one
# already answers), slurmctld and one slurmd per node (all on this host, distinct node names and
# ports), each node with fake GPUs: gres "device files" that are symlinks to /dev/null, so jobs get
# real CUDA_VISIBLE_DEVICES values. It returns once every node is idle. Run it again with the same
# settings and it only checks that everything still answers; with other settings it restarts.
# No systemd, no cgroups, no slurmdbd (sacct is not available), no slurmrestd.
#
# Settings (environment variables, all optional):
#   GIGAFAB_SLURM_DIR=/tmp/gigafab-slurm   configs, state, logs, pid files, env.sh
#   GIGAFAB_SLURM_NODES=4                  nodes, named PREFIX01, PREFIX02, ...
#   GIGAFAB_SLURM_NODE_PREFIX=gpu
#   GIGAFAB_SLURM_GPUS=8                   fake GPUs per node
#   GIGAFAB_SLURM_CPUS=32                  CPUs each node claims (more than the machine has is fine)
#   GIGAFAB_SLURM_MEM_MB=16384             memory each node claims
#   GIGAFAB_SLURM_CTLD_PORT=16817 GIGAFAB_SLURM_SLURMD_PORT=16818 GIGAFAB_SLURM_NODE_PORT_BASE=16900
#                                          (node i listens on NODE_PORT_BASE+i; the defaults keep
#                                          clear of Slurm's standard 6817-6820)
#   GIGAFAB_SLURM_MIN_JOB_AGE=3600         seconds a finished job stays visible to squeue
#   GIGAFAB_SLURM_KILL_WAIT=5              seconds between SIGTERM and SIGKILL when Slurm ends a job
#   GIGAFAB_SLURM_SCHED_PARAMS=batch_sched_delay=0
#   GIGAFAB_SLURM_KEEP_STATE=0             1: keep jobs and job ids across restarts
#   GIGAFAB_SLURM_FORCE_RESTART=0          1: restart even when running with this configuration
#   GIGAFAB_SLURM_TIMEOUT=120              seconds to wait for each daemon
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${GIGAFAB_SLURM_DIR:-/tmp/gigafab-slurm}"
NODES="${GIGAFAB_SLURM_NODES:-4}"
PREFIX="${GIGAFAB_SLURM_NODE_PREFIX:-gpu}"
GPUS="${GIGAFAB_SLURM_GPUS:-8}"
CPUS="${GIGAFAB_SLURM_CPUS:-32}"
MEM_MB="${GIGAFAB_SLURM_MEM_MB:-16384}"
CTLD_PORT="${GIGAFAB_SLURM_CTLD_PORT:-16817}"
SLURMD_PORT="${GIGAFAB_SLURM_SLURMD_PORT:-16818}"
NODE_PORT_BASE="${GIGAFAB_SLURM_NODE_PORT_BASE:-16900}"
MIN_JOB_AGE="${GIGAFAB_SLURM_MIN_JOB_AGE:-3600}"
KILL_WAIT="${GIGAFAB_SLURM_KILL_WAIT:-5}"
SCHED_PARAMS="${GIGAFAB_SLURM_SCHED_PARAMS:-batch_sched_delay=0}"
KEEP_STATE="${GIGAFAB_SLURM_KEEP_STATE:-0}"
FORCE_RESTART="${GIGAFAB_SLURM_FORCE_RESTART:-0}"
TIMEOUT="${GIGAFAB_SLURM_TIMEOUT:-120}"
CLUSTER=gigafab
PARTITION=gpu
HOST="$(hostname -s)"

log() { printf '[gigafab-slurm %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# pid_alive PIDFILE COMM: prints the pid when the file names a live process with that command name
pid_alive() {
  local f="$1" comm="$2" pid
  [ -s "$f" ] || return 1
  pid="$(tr -dc '0-9' <"$f")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  echo "$pid"
}
# wait_for SECONDS CMD...: retries CMD every 0.1 s; gives up early when WATCH_PIDFILE's daemon died
WATCH_PIDFILE="" WATCH_COMM=""
wait_for() {
  local secs="$1" i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -n "$WATCH_PIDFILE" ] && [ "$i" -ge 10 ] && ! pid_alive "$WATCH_PIDFILE" "$WATCH_COMM" >/dev/null; then
      log "$WATCH_COMM is not running"
      return 1
    fi
    sleep 0.1
  done
  return 1
}

[ "$(uname -s)" = Linux ] || die "needs Linux (Slurm's daemons from Debian's packages)"
[ "$(id -u)" = 0 ] || die "run as root: apt-get, munged and the Slurm daemons need it"
for v in NODES GPUS CPUS MEM_MB CTLD_PORT SLURMD_PORT NODE_PORT_BASE MIN_JOB_AGE KILL_WAIT TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "GIGAFAB_SLURM_$v must be a positive integer (got '${!v}')"
done
[[ "$PREFIX" =~ ^[a-z][a-z0-9-]*$ ]] || die "GIGAFAB_SLURM_NODE_PREFIX: lower-case letters, digits and '-', starting with a letter"

width=${#NODES}
[ "$width" -lt 2 ] && width=2
NODE_NAMES=()
for ((i = 1; i <= NODES; i++)); do NODE_NAMES+=("$(printf "%s%0${width}d" "$PREFIX" "$i")"); done
if [ "$NODES" = 1 ]; then NODELIST="${NODE_NAMES[0]}"; else
  NODELIST="$PREFIX[$(printf "%0${width}d" 1)-$(printf "%0${width}d" "$NODES")]"
fi
if [ "$NODES" = 1 ]; then PORTS="$((NODE_PORT_BASE + 1))"; else PORTS="$((NODE_PORT_BASE + 1))-$((NODE_PORT_BASE + NODES))"; fi
NODES_CONF="NodeName=$NODELIST NodeAddr=127.0.0.1 Port=$PORTS CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$GPUS State=UNKNOWN"

# ------------------------------------------------------------------ 1. packages
PKGS=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "Slurm is not installed and there is no apt-get to install ${missing[*]}"
  t=$(now)
  log "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' maintainer scripts try to start the daemons through systemd or invoke-rc.d. On a
  # machine without systemd that is refused or fails, which is harmless: they are started below.
  apt-get update -q >/dev/null 2>&1 || log "warning: apt-get update failed; trying the install anyway"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"/tmp/gigafab-slurm-apt.log" 2>&1 ||
    { tail -20 /tmp/gigafab-slurm-apt.log >&2; die "apt-get install failed (log: /tmp/gigafab-slurm-apt.log)"; }
  log "installed in $(since "$t") s"
fi
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null ||
  die "slurmctld, slurmd or sbatch not on PATH after installing"

# ------------------------------------------------------------------ 2. configuration
mkdir -p "$DIR"/{etc,ctld,spool,log,run,dev}
for ((i = 0; i < GPUS; i++)); do ln -sfn /dev/null "$DIR/dev/nvidia$i"; done

render() { # render TEMPLATE OUT: replaces every @KEY@ literally
  R_HOST="$HOST" R_STATE="$DIR" R_CLUSTER="$CLUSTER" R_PARTITION="$PARTITION" R_CTLD_PORT="$CTLD_PORT" \
    R_SLURMD_PORT="$SLURMD_PORT" R_GPU_MAX_INDEX="$((GPUS - 1))" R_MIN_JOB_AGE="$MIN_JOB_AGE" \
    R_KILL_WAIT="$KILL_WAIT" R_SCHED_PARAMS="$SCHED_PARAMS" R_NODES="$NODES_CONF" R_NODELIST="$NODELIST" awk '
    function rep(line, key, val,   i, out) {
      out = ""
      while ((i = index(line, key)) > 0) { out = out substr(line, 1, i - 1) val; line = substr(line, i + length(key)) }
      return out line
    }
    BEGIN { n = split("HOST STATE CLUSTER PARTITION CTLD_PORT SLURMD_PORT GPU_MAX_INDEX MIN_JOB_AGE KILL_WAIT SCHED_PARAMS NODES NODELIST", keys, " ") }
    { for (k = 1; k <= n; k++) $0 = rep($0, "@" keys[k] "@", ENVIRON["R_" keys[k]]); print }' "$1" >"$2"
  if grep -v '^#' "$2" | grep -q '@[A-Z_]*@'; then die "unfilled placeholder in $1"; fi
}
new_conf="$(mktemp /tmp/gigafab-slurm-conf.XXXXXX)"
new_gres="$(mktemp /tmp/gigafab-slurm-conf.XXXXXX)"
trap 'rm -f "$new_conf" "$new_gres"' EXIT
render "$HERE/slurm.conf.in" "$new_conf"
render "$HERE/gres.conf.in" "$new_gres"
export SLURM_CONF="$DIR/etc/slurm.conf"

write_env() {
  cat >"$DIR/env.sh" <<EOF
# source this file to talk to gigafab's localhost Slurm (scripts/slurm/setup.sh)
export SLURM_CONF="$SLURM_CONF"
export GIGAFAB_SLURM_DIR="$DIR"
export GIGAFAB_SLURM_PARTITION="$PARTITION"
export GIGAFAB_SLURM_NODELIST="$NODELIST"
export GIGAFAB_SLURM_NODE_NAMES="${NODE_NAMES[*]}"
export GIGAFAB_SLURM_GPUS="$GPUS"
EOF
  chmod 0644 "$DIR/env.sh"
}

# ------------------------------------------------------------------ 3. already running?
all_idle() { [ "$(sinfo -h -N -t idle,mixed,allocated -o '%N %t' 2>/dev/null | grep -cv '[*~#!%$@^-]$')" -ge "$NODES" ]; }
ctld_pid="$(pid_alive "$DIR/run/slurmctld.pid" slurmctld || true)"
slurmd_alive=0
slurmd_any=""
for f in "$DIR"/run/slurmd-*.pid; do
  [ -e "$f" ] || continue
  if p="$(pid_alive "$f" slurmd)"; then slurmd_alive=$((slurmd_alive + 1)); slurmd_any="$p"; fi
done
if [ "$FORCE_RESTART" != 1 ] && [ -n "$ctld_pid" ] && [ "$slurmd_alive" = "$NODES" ] &&
  cmp -s "$new_conf" "$DIR/etc/slurm.conf" && cmp -s "$new_gres" "$DIR/etc/gres.conf" &&
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && scontrol ping 2>/dev/null | grep -q 'is UP'; then
  if ! all_idle; then
    # A node left down or drained (by a test, say) is given back; running jobs keep running.
    scontrol update nodename="$NODELIST" state=resume >/dev/null 2>&1 || true
    wait_for 15 all_idle || log "warning: not every node is idle: $(sinfo -h -N -o '%N %t %E' | grep -v ' idle ' | head -3 | tr '\n' ';')"
  fi
  write_env
  log "already running with this configuration (slurmctld $ctld_pid, $slurmd_alive slurmd)"
  cat "$DIR/env.sh"
  exit 0
fi
if [ -n "$ctld_pid$slurmd_any" ]; then
  log "restarting: stopping the running daemons first"
  GIGAFAB_SLURM_DIR="$DIR" GIGAFAB_SLURM_KEEP_MUNGE=1 bash "$HERE/stop.sh"
fi
mv "$new_conf" "$DIR/etc/slurm.conf"
mv "$new_gres" "$DIR/etc/gres.conf"
chmod 0644 "$DIR/etc/slurm.conf" "$DIR/etc/gres.conf"
if [ "$KEEP_STATE" != 1 ]; then
  rm -rf "$DIR/ctld" "$DIR/spool"
  mkdir -p "$DIR/ctld" "$DIR/spool"
fi

# ------------------------------------------------------------------ 4. munged
# munge's standard key and socket, so every Slurm command finds it without options.
t=$(now)
if [ ! -s /etc/munge/munge.key ]; then
  install -d -o munge -g munge -m 0700 /etc/munge
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already answers (left alone)"
else
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --force
  wait_for "$TIMEOUT" sh -c 'munge -n | unmunge' || die "munged did not come up (see /var/log/munge/munged.log)"
  cp /run/munge/munged.pid "$DIR/run/munged.pid" # so that stop.sh stops it, and only then
  log "munged up (pid $(cat "$DIR/run/munged.pid")) in $(since "$t") s"
fi

# ------------------------------------------------------------------ 5. slurmctld
t=$(now)
: >"$DIR/log/slurmctld.log"
ctld_args=(-f "$SLURM_CONF")
[ "$KEEP_STATE" = 1 ] || ctld_args+=(-c) # -c: start without the previous job state
slurmctld "${ctld_args[@]}" || die "slurmctld failed to start: $(tail -5 "$DIR/log/slurmctld.log")"
WATCH_PIDFILE="$DIR/run/slurmctld.pid" WATCH_COMM=slurmctld
wait_for "$TIMEOUT" sh -c 'scontrol ping | grep -q "is UP"' ||
  die "slurmctld not answering: $(tail -5 "$DIR/log/slurmctld.log")"
log "slurmctld up (pid $(cat "$DIR/run/slurmctld.pid")) on port $CTLD_PORT in $(since "$t") s"

# ------------------------------------------------------------------ 6. one slurmd per node
t=$(now)
rm -f "$DIR"/run/slurmd-*.pid "$DIR"/log/slurmd-*.log
for n in "${NODE_NAMES[@]}"; do
  mkdir -p "$DIR/spool/$n"
  slurmd -N "$n" -f "$SLURM_CONF" || die "slurmd $n failed to start: $(tail -5 "$DIR/log/slurmd-$n.log" 2>/dev/null)"
done
WATCH_PIDFILE="$DIR/run/slurmd-${NODE_NAMES[0]}.pid" WATCH_COMM=slurmd
if ! wait_for "$TIMEOUT" all_idle; then
  # Nodes left down or drained by an earlier run (GIGAFAB_SLURM_KEEP_STATE=1): resume them once.
  scontrol update nodename="$NODELIST" state=resume >/dev/null 2>&1 || true
  wait_for 15 all_idle || die "nodes not idle: $(sinfo -h -N -o '%N %t %E' | grep -v ' idle ' | head -5 | tr '\n' ';') $(tail -3 "$DIR/log/slurmd-${NODE_NAMES[0]}.log")"
fi
WATCH_PIDFILE=""
log "$NODES slurmd up, nodes $NODELIST idle with gpu:$GPUS each, in $(since "$t") s"

write_env
log "ready: source $DIR/env.sh"
cat "$DIR/env.sh"
