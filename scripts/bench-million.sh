#!/usr/bin/env bash
# A million idle SSE connections on this machine, measured:   scripts/bench-million.sh
# One process may hold 20,000 descriptors here, so the connections are spread
# over as many independent gateway processes as that needs (MILLION_PER_PROCESS
# each, default 18,000) and as many load-generator processes, from source
# addresses over 127.0.0.0/8 (MILLION_SOURCES, default 200; each address has
# ~28k ephemeral ports). Reports connect rate and time to open, total gateway
# RSS, kernel socket memory (/proc/net/sockstat), gateway CPU while idle
# (heartbeat sweeps, MILLION_IDLE_SECS) and the delivery time of events
# published to all of them (MILLION_EVENTS over 4 s). Writes
# results/million-<timestamp>/{million.json,report.md}.
#   MILLION_CONNS=1000000   fewer for a quick look (e.g. 100000)
#   MILLION_STALL_MS=20000  a load-generator process stops connecting after this long without progress
#   MILLION_GRACE_MS=180000 how long the events may take to reach every connection
#   MILLION_PER_PROCESS=18000 connections per gateway process (each holds one descriptor)
# Needs ~2 GiB for the gateways at 2.2 KiB a connection, ~3.5 KiB of kernel memory
# per socket (two per connection) and ~5 KiB per connection in the load
# generator; the script refuses to start with less MemAvailable than it estimates.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
N="${MILLION_CONNS:-1000000}"
PER="${MILLION_PER_PROCESS:-18000}"
SOURCES="${MILLION_SOURCES:-200}"
IDLE="${MILLION_IDLE_SECS:-35}"
EVENTS="${MILLION_EVENTS:-2}"
G=$(( (N + PER - 1) / PER ))
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The same cargo invocation as bench.sh, so the two share one build.
cargo build --release -p rig -p rig-loadgen -p rig-core --bins --example match_p99
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
OUT="$ROOT/results/million-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
source "$ROOT/scripts/bench-lib.sh"
ulimit -n "$(ulimit -Hn)"

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
# Kernel pages held by TCP sockets (sockstat's "mem", in pages) and sockets in use.
tcp_mem_pages() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
tcp_inuse() { awk '$1 == "TCP:" { print $3 }' /proc/net/sockstat; }
slab_kib() { awk '$1 == "Slab:" { print $2 }' /proc/meminfo; }

need_kib=$(( N * (2200 + 7000 + 5000) / 1024 ))
avail_kib="$(meminfo MemAvailable)"
files_max="$(cat /proc/sys/fs/file-max)"
echo "== $N connections over $G gateway processes and $G load-generator processes, $SOURCES source addresses"
echo "   estimated memory $(( need_kib / 1024 )) MiB, available $(( avail_kib / 1024 )) MiB; fs.file-max $files_max (needs > $(( 2 * N )))"
if [ "$avail_kib" -lt "$need_kib" ]; then
    echo "not enough memory for $N connections: lower MILLION_CONNS" >&2
    exit 1
fi
if [ "$files_max" -le $(( 2 * N + 10000 )) ]; then
    echo "fs.file-max $files_max is below two descriptors per connection" >&2
    exit 1
fi

slab0="$(slab_kib)"; tcpmem0="$(tcp_mem_pages)"; avail0="$(meminfo MemAvailable)"
start_rigs "$G"
mapfile -t args < <(rig_args sse)
LOG="$OUT/loadgen.log"
# A few events to every connection after the idle window; each gateway gets each event.
"$BIN/rig-loadgen" run --label million "${args[@]}" --conns "$N" --procs "$G" --sources "$SOURCES" \
    --read-buf 512 --connect-concurrency 64 --connect-stall-ms "${MILLION_STALL_MS:-20000}" --settle-ms $(( IDLE * 1000 )) \
    --rate "$(python3 -c "print($EVENTS / 4)")" --duration 4 --grace-ms "${MILLION_GRACE_MS:-180000}" >"$OUT/run.json" 2>"$LOG" &
LG_PID="$!"; BENCH_PIDS+=("$LG_PID")
# Sample the kernel while the connections are open and idle (the run prints
# "open after" once every subscriber process is ready, then idles).
for _ in $(seq 1 1800); do
    grep -q "open after" "$LOG" 2>/dev/null && break
    kill -0 "$LG_PID" 2>/dev/null || break
    sleep 1
done
sleep $(( IDLE / 2 ))
slab1="$(slab_kib)"; tcpmem1="$(tcp_mem_pages)"; inuse1="$(tcp_inuse)"; avail1="$(meminfo MemAvailable)"
cp /proc/net/sockstat "$OUT/sockstat-open.txt"
# "RSS PSS ANONYMOUS" of a process in KiB, one read of its smaps_rollup; zeros
# for a process that is gone. Summed RSS counts the pages of the one binary file
# once per process; the proportional set size (Pss) counts each shared page once
# over all of them, so its sum is what the gateways hold together. Anonymous is their heap.
mem_of() {
    awk '$1 == "Rss:" { r = $2 } $1 == "Pss:" { p = $2 } $1 == "Anonymous:" { a = $2 } END { print r + 0, p + 0, a + 0 }' \
        "/proc/$1/smaps_rollup" 2>/dev/null | head -n 1
}
rss1=0; pss1=0; anon1=0
for p in "${RIG_PIDS[@]}"; do
    read -r r s a < <(mem_of "$p"; echo 0 0 0)
    rss1=$(( rss1 + r )); pss1=$(( pss1 + s )); anon1=$(( anon1 + a ))
done
lgrss=0
for p in $(pgrep -P "$LG_PID" || true) "$LG_PID"; do read -r r _ < <(mem_of "$p"; echo 0 0 0); lgrss=$(( lgrss + r )); done
wait "$LG_PID" || echo "load generator exited with $?" >&2
stop_rigs
cat "$LOG" >&2

python3 - "$OUT" "$N" "$G" "$SOURCES" "$slab0" "$slab1" "$tcpmem0" "$tcpmem1" "$inuse1" "$avail0" "$avail1" "$rss1" "$lgrss" "$pss1" "$anon1" <<'EOF'
import json, os, sys
out, n, g, sources, slab0, slab1, tcp0, tcp1, inuse, avail0, avail1, rss, lgrss, pss, anon = sys.argv[1:]
n, g = int(n), int(g)
r = json.loads(open(os.path.join(out, "run.json")).read().strip().splitlines()[-1])
page = os.sysconf("SC_PAGE_SIZE")
held = r["connected"]
lat = r["latency"]
m = {
    "conns": n, "gateway_processes": g, "source_addresses": int(sources), "held": held, "failed": r["failed"],
    "connect_secs": r["connect_secs"], "conns_per_sec": r["conns_per_sec"],
    "gateway_rss_mib": r["rss_after_kib"] / 1024, "gateway_rss_growth_mib": (r["rss_after_kib"] - r["rss_before_kib"]) / 1024,
    "gateway_kib_per_conn": r["kib_per_conn"], "gateway_rss_sampled_mib": int(rss) / 1024,
    "gateway_pss_sampled_mib": int(pss) / 1024, "gateway_anon_sampled_mib": int(anon) / 1024,
    "tcp_sockets_in_use": int(inuse), "tcp_buffer_mem_mib": (int(tcp1) - int(tcp0)) * page / 2**20,
    "slab_growth_mib": (int(slab1) - int(slab0)) / 1024, "mem_available_drop_mib": (int(avail0) - int(avail1)) / 1024,
    "loadgen_rss_mib": int(lgrss) / 1024,
    "idle_secs": r["idle_secs"], "idle_cpu_secs": r["server_cpu_idle_secs"],
    "idle_cpu_cores": r["server_cpu_idle_secs"] / r["idle_secs"] if r["idle_secs"] else 0,
    "events": (r.get("publish") or {}).get("events", 0), "deliveries": r["deliveries"], "deliveries_expected": r["deliveries_expected"],
    "all_complete": r["all_complete"], "delivery_p50_ms": lat["p50_us"] / 1000, "delivery_p99_ms": lat["p99_us"] / 1000,
    "delivery_max_ms": lat["max_us"] / 1000, "first_error": r["first_error"],
}
json.dump(m, open(os.path.join(out, "million.json"), "w"), indent=1)
rows = [
    ("connections held", f"{held} of {n} ({r['failed']} failed), {g} gateway processes, {sources} source addresses"),
    ("time to open, connect rate", f"{m['connect_secs']:.1f} s, {m['conns_per_sec']:.0f} connections/s"),
    ("gateway RSS, all processes (target ≤ 2.5 GiB)", f"{m['gateway_rss_mib']:.0f} MiB ({m['gateway_kib_per_conn']:.2f} KiB per connection of growth)"),
    ("gateways' memory while idle: Pss summed (the shared binary counted once) / anonymous", f"{m['gateway_pss_sampled_mib']:.0f} MiB / {m['gateway_anon_sampled_mib']:.0f} MiB (summed RSS {m['gateway_rss_sampled_mib']:.0f} MiB)"),
    ("kernel: TCP sockets in use / TCP buffer memory", f"{m['tcp_sockets_in_use']} / {m['tcp_buffer_mem_mib']:.0f} MiB (sockstat mem)"),
    ("kernel: slab growth (socket, inode, file, epoll objects)", f"{m['slab_growth_mib']:.0f} MiB"),
    ("MemAvailable drop, everything (gateways + load generator + kernel)", f"{m['mem_available_drop_mib']:.0f} MiB (load generator RSS {m['loadgen_rss_mib']:.0f} MiB)"),
    ("gateway CPU while idle (heartbeat sweeps)", f"{m['idle_cpu_secs']:.2f} CPU-s over {m['idle_secs']:.0f} s = {100 * m['idle_cpu_cores']:.1f} % of one core"),
    ("events published to every connection", f"{m['events']}: {m['deliveries']} of {m['deliveries_expected']} deliveries{'' if m['all_complete'] else ' (INCOMPLETE)'}"),
    ("publish → receipt", f"p50 {m['delivery_p50_ms']:.0f} ms, p99 {m['delivery_p99_ms']:.0f} ms, last connection {m['delivery_max_ms']:.0f} ms"),
]
text = "# Million idle connections\n\n| what | measured |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n"
open(os.path.join(out, "report.md"), "w").write(text)
print(text)
EOF
echo "results in $OUT"
