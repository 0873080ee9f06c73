#!/usr/bin/env bash
# Smoke version of the benchmark, run by scripts/test.sh: a few hundred SSE and
# WebSocket connections on one gateway (all events, and one connection in ten
# through a oneOf filter), SSE on the bare-writer baseline and, when it is
# installed, Sockudo over the Pusher protocol; a few seconds of events each.
# Fails if any event missed a connection it was due to. Installs nothing;
# builds the gateway and the load generator (debug unless BENCH_PROFILE=release).
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
# The filter rows' mode: one connection in ten matches each event (oneOf on data.to).
start_rigs 1 'EXTRACTORS={"bench":{"to":{"stable_field_index":0,"event":{"json_pointer":"/data/to"}}}}'
mapfile -t args < <(rig_args sse '[{"eventType":"bench","oneOf":[{"to":"__GROUP__"}]}]')
timeout 120 "$BIN/rig-loadgen" run --label "smoke-filter" "${args[@]}" --match-every 10 \
    --conns "$CONNS" --rate 50 --duration 3 --settle-ms 300 --require-complete
stop_rigs
# Sockudo's Pusher mode only where scripts/bench.sh already installed it: its
# build takes about 22 minutes, too long for CI.
if [ -x "$SOCKUDO_BIN" ]; then
    for proto in 7 2; do
        start_sockudo "$proto"
        filter=(); [ "$proto" = 2 ] && filter=(--match-every 10)
        timeout 120 "$BIN/rig-loadgen" run --label "smoke-sockudo-v$proto" --target sockudo --transport pusher \
            "${SOCKUDO_ARGS[@]}" "${filter[@]}" --conns "$CONNS" --rate 50 --duration 3 --settle-ms 300 --require-complete
        stop_sockudo
    done
else
    echo "bench smoke: $SOCKUDO_BIN not installed (scripts/bench.sh installs it): Sockudo's Pusher mode not run"
fi
echo "bench smoke: every event reached every connection it was due to (gateway sse, ws and filtered, bare writer)"
