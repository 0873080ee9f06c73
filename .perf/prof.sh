#!/usr/bin/env bash
# prof.sh N RATE DURATION transport out.data
set -euo pipefail
ROOT=/work/wt-perf; cd $ROOT
BIN=/root/.cache/target-perf/release
source scripts/bench-lib.sh
ulimit -n "$(ulimit -Hn)"
n=$1; rate=$2; dur=$3; transport=$4; out=$5
start_rigs 1 ${RIG_EXTRA:-}
mapfile -t args < <(rig_args "$transport")
"$BIN/rig-loadgen" run --label fanout --transport "$transport" "${args[@]}" --conns "$n" --rate "$rate" --duration "$dur" --settle-ms 2000 > /tmp/prof-run.json 2>/tmp/prof-run.err &
lg=$!
# wait for publishing to start: settle message
for i in $(seq 1 600); do grep -q "connected in" /tmp/prof-run.err && break; sleep 0.1; done
sleep 2.5
perf record -F 999 -g -p "${RIG_PIDS[0]}" -o "$out" -- sleep $((dur - 2)) 2>/dev/null
wait $lg
stop_rigs
python3 -c 'import json; d=json.load(open("/tmp/prof-run.json")); print(d["deliveries"], d["latency"])'
