#!/usr/bin/env bash
# The benchmark suite, one command:   scripts/bench.sh
# Measures every target in DESIGN.md on this machine for the gateway and runs
# the same idle and fan-out scenarios against Pushpin, Nchan and Sockudo in the
# same run, and the fan-out against a bare writer (the kernel's floor).
# Writes results/<timestamp>/{runs.jsonl,report.md,latency.png}.
#   BENCH_SCALE=small (default: 1k and 10k connections) | full (adds 100k,
#                over several gateway and load-generator processes)
#   BENCH_PEERS=1 (default: pushpin nchan sockudo) | 0 (none) | a list of them,
#                e.g. "pushpin nchan" skips Sockudo, whose first install
#                (cargo install sockudo, cached in ~/.cache/rig-ci/sockudo)
#                takes about 22 minutes on 2 cores. Pushpin and Nchan come
#                from apt-get if missing.
#   BENCH_DURATION=seconds of publishing per fan-out run (default 10).
#   BENCH_SECTIONS="basics idle connect latency fanout floor" (default: all of
#                them) runs only the named sections; the report covers what ran.
#   The million-connection run is its own script: scripts/bench-million.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCALE="${BENCH_SCALE:-small}"
case "${BENCH_PEERS:-1}" in
    1) PEERS=" pushpin nchan sockudo " ;;
    0) PEERS=" " ;;
    *) PEERS=" ${BENCH_PEERS} " ;;
esac
peer() { [[ "$PEERS" == *" $1 "* ]]; }
DURATION="${BENCH_DURATION:-10}"
SECTIONS=" ${BENCH_SECTIONS:-basics idle connect latency fanout floor} "
section() { [[ "$SECTIONS" == *" $1 "* ]]; }
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== build (release)"
# One cargo invocation, so features unify once and nothing is built twice.
cargo build --release -p rig -p rig-loadgen -p rig-core --bins --example match_p99
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
OUT="$ROOT/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
JSONL="$OUT/runs.jsonl"

if { peer pushpin && ! command -v pushpin >/dev/null; } || { peer nchan && [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; }; then
    echo "== installing pushpin and nginx + nchan (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pushpin libnginx-mod-nchan >/dev/null
fi
source "$ROOT/scripts/bench-lib.sh"
if peer sockudo && [ ! -x "$SOCKUDO_BIN" ]; then
    echo "== installing sockudo 5.2 (cargo install, about 22 minutes on 2 cores; cached in $SOCKUDO_ROOT)"
    command -v protoc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null; }
    CARGO_TARGET_DIR="$HOME/.cache/rig-ci/sockudo-build/target" cargo install sockudo --version 5.2.0 --locked --root "$SOCKUDO_ROOT"
fi
# nginx's packaged service must not hold ports or fds we measure; we only ever
# run nginx with our own -p/-c.
ulimit -n "$(ulimit -Hn)"
echo "open files per process: $(ulimit -n)"

LG="$BIN/rig-loadgen"

record() { tee -a "$JSONL"; }

# Fan-out rate: ~250k deliveries/s at 10k+ connections, 100 events/s below.
rate_for() { python3 -c "print(min(100.0, 250000.0 / $1))"; }
procs_for() { echo $(( ($1 + 14999) / 15000 )); }

if section basics; then
echo "== start-up, idle RSS, binary size"
"$LG" startup --bin "$BIN/rig" --runs 5 | record

echo "== matching, 1M constrained subscriptions"
"$BIN/examples/match_p99" 1000000 | record
fi

case "$SCALE" in
    full) SIZES=(1000 10000 100000); IDLE=(10000 100000) ;;
    *) SIZES=(1000 10000); IDLE=(10000) ;;
esac

if section idle; then
echo "== idle connections (memory per connection)"
for n in "${IDLE[@]}"; do
    for transport in sse ws; do
        start_rigs "$(procs_for "$n")"
        mapfile -t args < <(rig_args "$transport")
        "$LG" run --label "idle" --transport "$transport" "${args[@]}" --conns "$n" --settle-ms 3000 | record
        stop_rigs
    done
    if peer sockudo && [ "$n" -le 19000 ]; then
        start_sockudo
        "$LG" run --label "idle" --target sockudo --transport pusher "${SOCKUDO_ARGS[@]}" --conns "$n" --settle-ms 3000 | record
        stop_sockudo
    fi
done
fi

if section connect; then
echo "== new connections per second with HS256 JWT"
start_rigs 1 JWT_SECRET_KEY=bench-secret
mapfile -t args < <(rig_args sse)
"$LG" run --label "connect-jwt" "${args[@]}" --conns 10000 --jwt-secret bench-secret --connect-concurrency 128 --settle-ms 200 | record
stop_rigs
fi

if section latency; then
echo "== latency at light load: 10k SSE connections, 2 events/s to all of them"
start_rigs 1
mapfile -t args < <(rig_args sse)
"$LG" run --label "latency" "${args[@]}" --conns 10000 --rate 2 --duration "$DURATION" --settle-ms 2000 | record
stop_rigs

echo "== latency at the target load: 10k SSE connections, 10k events/s, each event to one connection"
# Connection i subscribes to data.to == "c<i>"; event i carries data.to = "c<i mod 10000>".
start_rigs 1 'EXTRACTORS={"bench":{"to":{"stable_field_index":0,"event":{"json_pointer":"/data/to"}}}}'
mapfile -t args < <(rig_args sse '[{"eventType":"bench","oneOf":[{"to":"c__CONN__"}]}]')
"$LG" run --label "latency-targeted" "${args[@]}" --conns 10000 --rate 10000 --targeted --duration "$DURATION" --settle-ms 2000 | record
stop_rigs
fi

if section fanout; then
echo "== fan-out"
for n in "${SIZES[@]}"; do
    rate="$(rate_for "$n")"
    for transport in sse ws; do
        start_rigs "$(procs_for "$n")"
        mapfile -t args < <(rig_args "$transport")
        "$LG" run --label "fanout" --transport "$transport" "${args[@]}" --conns "$n" --rate "$rate" --duration "$DURATION" --settle-ms 2000 | record
        stop_rigs
    done
    # One instance of each peer holds at most ~19k connections (per-process fd cap).
    if peer nchan && [ "$n" -le 19000 ]; then
        start_nchan
        "$LG" run --label "fanout" --target nchan --format nchan --sub-url "http://127.0.0.1:$NCHAN_PORT/sub" \
            --pub-url "http://127.0.0.1:$NCHAN_PORT/pub" --pid "$NCHAN_PID" \
            --conns "$n" --rate "$rate" --duration "$DURATION" --settle-ms 2000 | record
        stop_nchan
    fi
    if peer pushpin && [ "$n" -le 19000 ]; then
        start_pushpin
        "$LG" run --label "fanout" --target pushpin --format pushpin --sub-url "http://127.0.0.1:$PUSHPIN_PORT/sub" \
            --pub-url "http://127.0.0.1:$PUSHPIN_PUB_PORT/publish/" --pid "$PUSHPIN_PID" --connect-concurrency 64 \
            --conns "$n" --rate "$rate" --duration "$DURATION" --settle-ms 4000 | record
        stop_pushpin
    fi
    if peer sockudo && [ "$n" -le 19000 ]; then
        start_sockudo
        "$LG" run --label "fanout" --target sockudo --transport pusher "${SOCKUDO_ARGS[@]}" \
            --conns "$n" --rate "$rate" --duration "$DURATION" --settle-ms 2000 | record
        stop_sockudo
    fi
    # The same fan-out with a filter, one connection in ten matching: our
    # `oneOf` constraint on data.to against Sockudo's tag filter (protocol V2).
    if [ "$n" -le 19000 ]; then
        start_rigs 1 'EXTRACTORS={"bench":{"to":{"stable_field_index":0,"event":{"json_pointer":"/data/to"}}}}'
        mapfile -t args < <(rig_args sse '[{"eventType":"bench","oneOf":[{"to":"__GROUP__"}]}]')
        "$LG" run --label "fanout-filter" "${args[@]}" --conns "$n" --rate "$rate" --match-every 10 \
            --duration "$DURATION" --settle-ms 2000 | record
        stop_rigs
        if peer sockudo; then
            start_sockudo 2
            "$LG" run --label "fanout-filter" --target sockudo --transport pusher "${SOCKUDO_ARGS[@]}" --match-every 10 \
                --conns "$n" --rate "$rate" --duration "$DURATION" --settle-ms 2000 | record
            stop_sockudo
        fi
    fi
done
fi

if section floor; then
echo "== fan-out floor: one gateway process against the bare writer, same connections and rates"
# The bare writer (rig-loadgen bare) writes one pre-encoded frame per socket and
# nothing else; the report divides our figures by the best of its four ways.
# 19k is what one process holds under the 20,000-descriptor cap.
for n in 1000 10000 19000; do
    for rate in 2 "$(python3 -c "print(round(250000.0 / $n, 1))")"; do
        start_rigs 1
        mapfile -t args < <(rig_args sse)
        "$LG" run --label "floor" "${args[@]}" --conns "$n" --rate "$rate" --duration "$DURATION" --settle-ms 2000 | record
        stop_rigs
        for bare in "1 write" "1 writev" "2 write" "2 writev"; do
            read -r threads mode <<<"$bare"
            start_bare "$threads" "$mode"
            mapfile -t args < <(rig_args sse)
            "$LG" run --label "floor" --target "bare-$mode-$threads" "${args[@]}" --conns "$n" --rate "$rate" \
                --duration "$DURATION" --settle-ms 2000 | record
            stop_rigs
        done
    done
done
fi

echo "== report"
PY=python3
VENV="$HOME/.cache/rig-ci/bench-venv"
if ! python3 -c 'import matplotlib' 2>/dev/null; then
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
        python3 -m venv "$VENV" && "$VENV/bin/pip" install -q matplotlib || echo "matplotlib unavailable: no plot" >&2
    fi
    [ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"
fi
"$PY" "$ROOT/scripts/bench_report.py" "$JSONL" "$OUT" --binary "$BIN/rig"
echo "results in $OUT"
