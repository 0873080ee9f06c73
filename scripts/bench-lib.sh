# Shared by bench.sh and bench-smoke.sh: start and stop the gateway and its
# peers on loopback, each on free ports, each tracked by pid. Source it.

BENCH_PIDS=()
BENCH_TMP="$(mktemp -d /tmp/rig-bench.XXXXXX)"

bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${BENCH_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (bounded) until something listens on 127.0.0.1:$1.
wait_port() {
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    return 1
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}

# public_port LOG: waits (bounded) for the "listening on 127.0.0.1:PORT (public)"
# line the gateway (and the bare writer) logs, and prints PORT.
public_port() {
    local port
    for _ in $(seq 1 100); do grep -qs 'listening on' "$1" && break; sleep 0.05; done
    port="$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\) (public).*/\1/p' "$1")"
    [ -n "$port" ] || { cat "$1" >&2; return 1; }
    echo "$port"
}

# start_rigs N [ENV=VALUE...]: N independent gateway processes. Sets RIG_PIDS
# and RIG_PORTS (public ports).
start_rigs() {
    local n="$1"; shift
    RIG_PIDS=(); RIG_PORTS=()
    local i log port
    for i in $(seq 1 "$n"); do
        log="$BENCH_TMP/rig-$i-$RANDOM.log"
        env INBOUND_PORT=0 API_HTTP_PORT=0 RIG_BIND_ADDRESS=127.0.0.1 MAX_CONNECTIONS_PER_MINUTE=100000000 RIG_MAX_CONNECTIONS_PER_IP=0 \
            RIG_OUTBOX_CAPACITY="${RIG_OUTBOX_CAPACITY:-1000}" "$@" "$BIN/rig" 2>"$log" &
        RIG_PIDS+=("$!"); BENCH_PIDS+=("$!")
        port="$(public_port "$log")" || return 1
        RIG_PORTS+=("$port")
    done
}

stop_rigs() { local p; for p in "${RIG_PIDS[@]}"; do stop_pid "$p"; done; }

# start_bare THREADS MODE: the bare-writer baseline (`rig-loadgen bare`) in
# place of one gateway process: it sets RIG_PIDS and RIG_PORTS, so rig_args
# (SSE) and stop_rigs work unchanged.
start_bare() {
    local log="$BENCH_TMP/bare-$RANDOM.log" port
    "$BIN/rig-loadgen" bare --threads "$1" --mode "$2" 2>"$log" &
    RIG_PIDS=("$!"); BENCH_PIDS+=("$!")
    port="$(public_port "$log")" || return 1
    RIG_PORTS=("$port")
}

# Loadgen arguments for the rig processes: subscriber and publish URLs, pids.
# rig_args TRANSPORT [SUBSCRIPTIONS_JSON]
rig_args() {
    local transport="$1" p subs all='[{"eventType":"bench"}]'
    subs="$("$BIN/rig-loadgen" encode --value "${2:-$all}")"
    for p in "${RIG_PORTS[@]}"; do
        if [ "$transport" = ws ]; then
            printf -- '--sub-url\nhttp://127.0.0.1:%s/_rig/v1/connection/ws?subscriptions=%s\n' "$p" "$subs"
        else
            printf -- '--sub-url\nhttp://127.0.0.1:%s/_rig/v1/connection/sse?subscriptions=%s\n' "$p" "$subs"
        fi
        printf -- '--pub-url\nhttp://127.0.0.1:%s/_rig/v1/events\n' "$p"
    done
    for p in "${RIG_PIDS[@]}"; do printf -- '--pid\n%s\n' "$p"; done
}

start_nchan() {
    local dir="$BENCH_TMP/nchan-$RANDOM"
    mkdir -p "$dir"
    NCHAN_PORT="$(free_port)"
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$NCHAN_PORT|g" "$ROOT/bench/peers/nchan.conf.in" >"$dir/nchan.conf"
    nginx -p "$dir" -c "$dir/nchan.conf" -e "$dir/error.log" &
    NCHAN_PID="$!"; BENCH_PIDS+=("$!")
    wait_port "$NCHAN_PORT"
}

stop_nchan() { stop_pid "$NCHAN_PID"; }

start_pushpin() {
    local dir="$BENCH_TMP/pushpin-$RANDOM"
    mkdir -p "$dir/run" "$dir/log"
    PUSHPIN_PORT="$(free_port)"; PUSHPIN_PUB_PORT="$(free_port)"
    local backend; backend="$(free_port)"
    "$BIN/rig-loadgen" grip --port "$backend" --channel bench 2>/dev/null &
    GRIP_PID="$!"; BENCH_PIDS+=("$!")
    sed -e "s|@DIR@|$dir|g" -e "s|@HTTP_PORT@|$PUSHPIN_PORT|g" -e "s|@PUB_PORT@|$PUSHPIN_PUB_PORT|g" \
        -e "s|@PUSH_PORT@|$(free_port)|g" -e "s|@SUB_PORT@|$(free_port)|g" -e "s|@CMD_PORT@|$(free_port)|g" \
        "$ROOT/bench/peers/pushpin.conf.in" >"$dir/pushpin.conf"
    sed -e "s|@BACKEND_PORT@|$backend|g" "$ROOT/bench/peers/routes.in" >"$dir/routes"
    # Debian's internal.conf points the proxy at a system-wide zurl; use our own instance.
    sed -e 's|ipc:///var/run/zurl/zurl-|ipc://{rundir}/{ipc_prefix}zurl-|g' /usr/lib/pushpin/internal.conf >"$dir/internal.conf"
    pushpin --config "$dir/pushpin.conf" >"$dir/log/runner.log" 2>&1 &
    PUSHPIN_PID="$!"; BENCH_PIDS+=("$!")
    wait_port "$backend"; wait_port "$PUSHPIN_PORT"; wait_port "$PUSHPIN_PUB_PORT"
}

stop_pushpin() { stop_pid "$PUSHPIN_PID"; stop_pid "$GRIP_PID"; }

# Where scripts/bench.sh installs Sockudo (cargo install, outside the clone).
SOCKUDO_ROOT="${SOCKUDO_ROOT:-$HOME/.cache/rig-ci/sockudo}"
SOCKUDO_BIN="$SOCKUDO_ROOT/bin/sockudo"

# start_sockudo [PROTOCOL]: Sockudo (SOCKUDO_BIN) with its local in-memory
# adapter, one app, limits out of the way (connections, backend events/s, API
# rate limit) and tag filtering on. Sets SOCKUDO_PID and SOCKUDO_ARGS (the
# load generator's --sub-url/--pub-url/--pid/--format/--pusher-* for it);
# PROTOCOL 2 (Sockudo's V2, needed for tag filters) or 7 (Pusher, default).
start_sockudo() {
    local proto="${1:-7}" dir="$BENCH_TMP/sockudo-$RANDOM" port
    mkdir -p "$dir"
    port="$(free_port)"
    # Sockudo reads config/config.json relative to its working directory; an empty one keeps its defaults.
    (cd "$dir" && exec env HOST=127.0.0.1 PORT="$port" ADAPTER_DRIVER=local CACHE_DRIVER=memory QUEUE_DRIVER=none \
        APP_MANAGER_DRIVER=memory RATE_LIMITER_ENABLED=false METRICS_ENABLED=false TAG_FILTERING_ENABLED=true \
        SOCKUDO_DEFAULT_APP_ID=bench SOCKUDO_DEFAULT_APP_KEY=bench-key SOCKUDO_DEFAULT_APP_SECRET=bench-secret \
        SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS=1000000 SOCKUDO_MAX_CONNECTIONS=1000000 \
        SOCKUDO_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SECOND=10000000 SOCKUDO_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SECOND=10000000 \
        SOCKUDO_DEFAULT_APP_MAX_READ_REQUESTS_PER_SECOND=10000000 LOG_LEVEL=warn \
        "$SOCKUDO_BIN" >"$dir/sockudo.log" 2>&1) &
    SOCKUDO_PID="$!"; BENCH_PIDS+=("$!")
    wait_port "$port" || { tail -20 "$dir/sockudo.log" >&2; return 1; }
    SOCKUDO_ARGS=(--format pusher --sub-url "ws://127.0.0.1:$port/app/bench-key?protocol=$proto"
        --pub-url "http://127.0.0.1:$port/apps/bench/events" --pusher-key bench-key --pusher-secret bench-secret
        --pid "$SOCKUDO_PID")
}

stop_sockudo() { stop_pid "$SOCKUDO_PID"; }
