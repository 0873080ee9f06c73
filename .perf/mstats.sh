#!/usr/bin/env bash
# mstats.sh N transport : malloc_stats of the gateway before and with N idle conns
set -euo pipefail
ROOT=/work/wt-perf; cd $ROOT
BIN=/root/.cache/target-perf/release
source scripts/bench-lib.sh
ulimit -n "$(ulimit -Hn)"
n=$1; transport=$2
start_rigs 1 ${RIG_EXTRA:-}
pid=${RIG_PIDS[0]}
log=$(ls -t $BENCH_TMP/rig-*.log | head -1)
mapfile -t args < <(rig_args "$transport")
gdb -p $pid -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1
"$BIN/rig-loadgen" run --label idle --transport "$transport" "${args[@]}" --conns "$n" --settle-ms 8000 > /tmp/mstats-run.json 2>/dev/null &
lg=$!
sleep 5; while ! grep -q . /tmp/mstats-run.json 2>/dev/null; do
  c=$(ls /proc/$pid/fd | wc -l); [ "$c" -ge "$n" ] && break; sleep 0.5; done
sleep 2
grep VmRSS /proc/$pid/status
gdb -p $pid -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1
wait $lg
cat "$log" | grep -E "Arena|system bytes|in use bytes|Total" | tail -40
stop_rigs
