#!/usr/bin/env bash
# Writes the FGD authors' arrival orders (Go math/rand; see scripts/fgd-go-orders/main.go) for the
# given openb workloads, as DIR/<workload>.csv for `gigafab simulate --scenario fgd --arrival-order DIR`.
#
#   scripts/fgd-go-orders.sh default gpushare40 ... --out DIR [--seeds 42-51] [--tune 1.3]
#                            [--trace-dir ../shared/traces/alibaba-gpu-v2023-openb]
#
# The orders are derived from the traces (research/evaluation licence): keep DIR out of git.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
trace_dir="$root/../shared/traces/alibaba-gpu-v2023-openb"
seeds="42-51"
tune="1.3"
out=""
workloads=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --tune) tune="$2"; shift 2 ;;
    --trace-dir) trace_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "fgd-go-orders.sh: unknown option $1" >&2; exit 1 ;;
    *) workloads+=("$1"); shift ;;
  esac
done
if [ -z "$out" ] || [ "${#workloads[@]}" -eq 0 ]; then
  echo "usage: scripts/fgd-go-orders.sh WORKLOAD... --out DIR [--seeds 42-51] [--tune 1.3] [--trace-dir DIR]" >&2
  exit 1
fi
"$root/scripts/ensure-go.sh"
bin="$root/.cache/fgd-go-orders/fgd-go-orders"
mkdir -p "$(dirname "$bin")"
# A go.mod without requirements: nothing is downloaded.
(cd "$root/scripts/fgd-go-orders" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE="${GOCACHE:-$root/.cache/fgd-go-orders/gocache}" \
  GOPATH="${GOPATH:-$root/.cache/fgd-go-orders/gopath}" go build -o "$bin" .)
mkdir -p "$out"
for w in "${workloads[@]}"; do
  "$bin" -pods "$trace_dir/openb_pod_list_$w.csv" -nodes "$trace_dir/openb_node_list_gpu_node.csv" \
    -seeds "$seeds" -tune "$tune" -out "$out/$w.csv"
  echo "$out/$w.csv: $(($(wc -l <"$out/$w.csv") - 1)) rows"
done
