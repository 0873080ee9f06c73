#!/usr/bin/env bash
# fanout.sh N RATE DURATION transport...
set -euo pipefail
ROOT=/work/wt-perf; cd $ROOT
BIN=/root/.cache/target-perf/release
source scripts/bench-lib.sh
ulimit -n "$(ulimit -Hn)"
n=$1; rate=$2; dur=$3; shift 3
for transport in "$@"; do
  start_rigs 1 ${RIG_EXTRA:-}
  mapfile -t args < <(rig_args "$transport")
  "$BIN/rig-loadgen" run --label fanout --transport "$transport" "${args[@]}" --conns "$n" --rate "$rate" --duration "$dur" --settle-ms 2000 ${LG_EXTRA:-} | tee -a /work/wt-perf/.perf/runs.jsonl | python3 -c '
import json,sys; d=json.loads(sys.stdin.read()); l=d["latency"]
print(d["transport"], d["connected"], "deliv %d/%d"%(d["deliveries"],d["deliveries_expected"]), "%.0fk/s"%(d["deliveries_per_sec"]/1000), "cpu/1M %.2f"%(d["server_cpu_publish_secs"]/max(1,d["deliveries"])*1e6), {k:l[k] for k in l if k.startswith("p") or k=="max_ms"})'
  stop_rigs
done
