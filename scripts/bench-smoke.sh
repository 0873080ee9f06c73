#!/usr/bin/env bash
# Smoke version of the benchmark, run by scripts/test.sh: a few hundred SSE and
# WebSocket connections on one gateway, and SSE on the bare-writer baseline, a
# few seconds of events; fails if any event did not reach every connection. Installs nothing; builds the gateway
# and the load generator (debug unless BENCH_PROFILE=release).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PROFILE="${BENCH_PROFILE:-debug}"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build "${flag[@]}" -p rig -p rig-loadgen
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"
source "$ROOT/scripts/bench-lib.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

CONNS="${SMOKE_CONNS:-300}"
start_rigs 1
for transport in sse ws; do
    mapfile -t args < <(rig_args "$transport")
    timeout 120 "$BIN/rig-loadgen" run --label "smoke-$transport" --transport "$transport" "${args[@]}" \
        --conns "$CONNS" --rate 50 --duration 3 --settle-ms 300 --require-complete
done
stop_rigs
# The bare-writer baseline of the fan-out rows, each way it writes.
for bare in "1 write" "2 writev"; do
    read -r threads mode <<<"$bare"
    start_bare "$threads" "$mode"
    mapfile -t args < <(rig_args sse)
    timeout 120 "$BIN/rig-loadgen" run --label "smoke-bare-$mode-$threads" --target bare "${args[@]}" \
        --conns "$CONNS" --rate 50 --duration 3 --settle-ms 300 --require-complete
    stop_rigs
done
echo "bench smoke: every event reached all $CONNS connections (gateway sse and ws, bare writer)"
