#!/usr/bin/env bash
# quick idle-memory probe: idle.sh N transport...
set -euo pipefail
ROOT=/work/wt-perf; cd $ROOT
BIN=/root/.cache/target-perf/release
source scripts/bench-lib.sh
ulimit -n "$(ulimit -Hn)"
n=$1; shift
for transport in "$@"; do
  start_rigs 1 ${RIG_EXTRA:-}
  mapfile -t args < <(rig_args "$transport")
  "$BIN/rig-loadgen" run --label idle --transport "$transport" "${args[@]}" --conns "$n" --settle-ms 3000 | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["transport"], d["connected"], d["rss_before_kib"], d["rss_after_kib"], "%.2f KiB/conn"%d["kib_per_conn"], "%.0f conn/s"%d["conns_per_sec"])'
  stop_rigs
done
