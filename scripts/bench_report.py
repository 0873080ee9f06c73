#!/usr/bin/env python3
"""Turns runs.jsonl (one JSON object per scenario, from rig-loadgen and
match_p99) into report.md and, when matplotlib is importable, latency.png.
Usage: bench_report.py RUNS.jsonl OUT_DIR [--binary PATH]"""
import json
import os
import sys


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                runs.append(json.loads(line))
    return runs


def ms(us):
    return f"{us / 1000:.2f}"


def delivered(r):
    """Deliveries as a share of what was due (every connection, every event)."""
    due = r.get("deliveries_expected") or 0
    return 100.0 * r["deliveries"] / due if due else 0.0


def done_cell(r):
    """`got/due`, with the share and a bold mark when some event missed some connection."""
    if not r.get("publish"):
        return "–"
    cell = f"{r['deliveries']}/{r['deliveries_expected']}"
    return cell if r["all_complete"] else f"{cell} (**{delivered(r):.1f} %, incomplete**)"


def floor_rows(runs):
    """Per (conns, rate): our run and the best bare-writer run (lowest p99 of the complete ones)."""
    ours = {(r["conns"], r["rate"]): r for r in runs if r["target"] == "rig"}
    out = []
    for key, rig in sorted(ours.items()):
        bare = [r for r in runs if r["target"].startswith("bare") and (r["conns"], r["rate"]) == key]
        pool = [r for r in bare if r["all_complete"]] or bare
        if pool:
            out.append((rig, min(pool, key=lambda r: r["latency"]["p99_us"]), bare))
    return out


def main():
    path, out = sys.argv[1], sys.argv[2]
    runs = load(path)
    by = lambda label: [r for r in runs if r.get("label") == label]
    lines = ["# Benchmark report", "", f"Machine: {os.cpu_count()} cores; every figure from one run of `scripts/bench.sh` "
             "(load generator, gateway and peers share the cores).", ""]

    # Targets.
    rows = []
    for r in [r for r in by("idle") if r["target"] == "rig"]:
        rows.append((f"memory per idle {r['transport'].upper()} connection, {r['conns']} conns ({r['procs']} gateway processes)",
                     "≤ 4 KiB", f"{r['kib_per_conn']:.1f} KiB ({r['connected']} held)", r["kib_per_conn"] <= 4.0))
    idle_sse = [r for r in by("idle") if r["transport"] == "sse" and r["target"] == "rig"]
    if idle_sse:
        biggest = max(idle_sse, key=lambda r: r["conns"])
        est = biggest["kib_per_conn"] * 250_000 / 1024
        rows.append(("250k idle SSE, total RSS (extrapolated from the largest idle run)", "≤ 1 GiB", f"≈ {est:.0f} MiB", est <= 1024))
    for r in by("connect-jwt"):
        per_core = r["connected"] / r["server_cpu_connect_secs"] if r["server_cpu_connect_secs"] else 0
        rows.append(("new SSE connections/s incl. HS256 JWT + subscription", "≥ 10k per core",
                     f"{r['conns_per_sec']:.0f}/s wall; {per_core:.0f} per gateway CPU-second", per_core >= 10_000))
    for r in by("fanout"):
        if r["target"] == "rig" and r["conns"] >= 10_000:
            l = r["latency"]
            rows.append((f"fan-out, {r['conns']} {r['transport'].upper()} conns at {r['rate']:g} ev/s", "≥ 250k/s, p99 ≤ 20 ms",
                         f"{r['deliveries_per_sec'] / 1000:.0f}k/s, p99 {ms(l['p99_us'])} ms{'' if r['all_complete'] else ' (incomplete)'}",
                         r["deliveries_per_sec"] >= 250_000 and l["p99_us"] <= 20_000 and r["all_complete"]))
    for r in by("latency-targeted"):
        l = r["latency"]
        rows.append((f"publish → receipt latency, {r['conns'] // 1000}k conns, {r['rate']:g} ev/s each to one connection{'' if r['all_complete'] else ' (incomplete)'}",
                     "p50 ≤ 0.5 ms, p99 ≤ 2 ms", f"p50 {ms(l['p50_us'])} ms, p99 {ms(l['p99_us'])} ms, p99.9 {ms(l['p999_us'])} ms",
                     l["p50_us"] <= 500 and l["p99_us"] <= 2000 and r["all_complete"]))
    for r in by("fanout") + by("latency"):
        if r["target"] == "rig" and r["conns"] == 10_000 and r["transport"] == "sse":
            l = r["latency"]
            rows.append((f"publish → receipt latency, 10k conns at {r['rate']:g} ev/s to all ({r['deliveries_per_sec'] / 1000:.0f}k deliveries/s)", "p50 ≤ 0.5 ms, p99 ≤ 2 ms",
                         f"p50 {ms(l['p50_us'])} ms, p99 {ms(l['p99_us'])} ms, p99.9 {ms(l['p999_us'])} ms",
                         l["p50_us"] <= 500 and l["p99_us"] <= 2000))
    for rig, best, _ in floor_rows(by("floor")):
        ratio = rig["latency"]["p99_us"] / best["latency"]["p99_us"] if best["latency"]["p99_us"] else float("inf")
        rows.append((f"fan-out p99 vs the bare writer, {rig['conns']} SSE conns at {rig['rate']:g} ev/s", "≤ 1.5×",
                     f"{ratio:.2f}× ({ms(rig['latency']['p99_us'])} vs {ms(best['latency']['p99_us'])} ms, {best['target']})"
                     f"{'' if rig['all_complete'] else ' (incomplete)'}", ratio <= 1.5 and rig["all_complete"]))
    for r in by("matching"):
        rows.append((f"matching, {r['subscriptions']} constrained subscriptions", "≤ 5 µs p99",
                     f"p50 {r['p50_us']:.2f} µs, p99 {r['p99_us']:.2f} µs, p99.9 {r['p999_us']:.2f} µs", r["p99_us"] <= 5))
    for r in by("startup"):
        rows.append(("binary size", "≤ 25 MB", f"{r['binary_bytes'] / 1e6:.1f} MB", r["binary_bytes"] <= 25e6))
        rows.append(("start-up (spawn → listening)", "≤ 100 ms", f"{r['startup_ms_median']:.1f} ms (max {r['startup_ms_max']:.1f})", r["startup_ms_median"] <= 100))
        rows.append(("idle RSS", "≤ 20 MB", f"{r['idle_rss_kib'] / 1024:.1f} MiB", r["idle_rss_kib"] <= 20 * 1024))
    lines += ["## Targets (DESIGN.md)", "", "| what | target | measured | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {'yes' if d else '**no**'} |" for a, b, c, d in rows]

    # Side by side.
    fan = sorted(by("fanout"), key=lambda r: (r["conns"], r["target"] != "rig", r["target"], r["transport"]))
    lines += ["", "## Fan-out side by side (same run; one SSE/WS subscriber per connection, one channel, ~150-byte events)", "",
              "| server | transport | conns | events/s | deliveries/s | delivered | p50 ms | p99 ms | p99.9 ms | max ms | server CPU s / 1M deliveries | KiB / conn | p99 vs rig SSE |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in fan:
        l = r["latency"]
        base = [b for b in fan if b["target"] == "rig" and b["transport"] == "sse" and b["conns"] == r["conns"]]
        ratio = f"{l['p99_us'] / base[0]['latency']['p99_us']:.2f}×" if base and base[0]["latency"]["p99_us"] else "–"
        cpu = r["server_cpu_publish_secs"] / r["deliveries"] * 1e6 if r["deliveries"] else 0
        done = done_cell(r)
        lines.append(f"| {r['target']} | {r['transport']} | {r['conns']} | {r['rate']:g} | {r['deliveries_per_sec'] / 1000:.0f}k | {done} | "
                     f"{ms(l['p50_us'])} | {ms(l['p99_us'])} | {ms(l['p999_us'])} | {ms(l['max_us'])} | {cpu:.2f} | {r['kib_per_conn']:.1f} | {ratio} |")
    filt = sorted(by("fanout-filter"), key=lambda r: (r["conns"], r["target"] != "rig", r["target"]))
    if filt:
        lines += ["", "## Fan-out with a filter (same run): 1 connection in 10 matches each event", "",
                  "Ours: each connection subscribes with `oneOf` `data.to == g<i mod 10>`; Sockudo: a tag filter `to == g<i mod 10>` "
                  "(protocol V2). Every event is for `g0`.", "",
                  "| server | conns | events/s | deliveries/s | delivered | p50 ms | p99 ms | p99.9 ms | server CPU s / 1M deliveries |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in filt:
            l = r["latency"]
            cpu = r["server_cpu_publish_secs"] / r["deliveries"] * 1e6 if r["deliveries"] else 0
            lines.append(f"| {r['target']} | {r['conns']} | {r['rate']:g} | {r['deliveries_per_sec'] / 1000:.1f}k | {done_cell(r)} | "
                         f"{ms(l['p50_us'])} | {ms(l['p99_us'])} | {ms(l['p999_us'])} | {cpu:.2f} |")
    peers_idle = [r for r in by("idle") if r["target"] != "rig"]
    if peers_idle:
        lines += ["", "## Idle memory per connection, peers (same run)", "", "| server | transport | conns held | KiB / conn |", "|---|---|---|---|"]
        lines += [f"| {r['target']} | {r['transport']} | {r['connected']} | {r['kib_per_conn']:.1f} |" for r in peers_idle]
    lines += ["", "KiB / conn: server RSS growth (all processes of the server) after the connections were opened, divided by their number.",
              "Latency: from the publisher's clock just before the HTTP publish to the subscriber's read of the event (same host clock).",
              "delivered: deliveries received / due (connections × events); a row marked incomplete lost events, so its latency covers only what arrived.", ""]

    floor = floor_rows(by("floor"))
    if floor:
        lines += ["## Fan-out against the bare writer (same run, one gateway process, SSE)", "",
                  "The bare writer (`rig-loadgen bare`) answers the same SSE connections with the same greeting and writes each "
                  "published frame, encoded once, to every socket: no subscription index, no outbox, no runtime. Best of "
                  "write / writev × 1 / 2 writer threads by p99 (complete runs first); ratio = ours / bare.", "",
                  "| conns | events/s | rig p50 ms | rig p99 ms | rig deliveries/s | rig delivered | best bare | bare p50 ms | bare p99 ms | bare deliveries/s | bare delivered | p50 × | p99 × | deliveries/s × |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for rig, best, _ in floor:
            rl, bl = rig["latency"], best["latency"]
            div = lambda a, b: f"{a / b:.2f}" if b else "–"
            lines.append(f"| {rig['conns']} | {rig['rate']:g} | {ms(rl['p50_us'])} | {ms(rl['p99_us'])} | {rig['deliveries_per_sec'] / 1000:.0f}k | {done_cell(rig)} | "
                         f"{best['target']} | {ms(bl['p50_us'])} | {ms(bl['p99_us'])} | {best['deliveries_per_sec'] / 1000:.0f}k | {done_cell(best)} | "
                         f"{div(rl['p50_us'], bl['p50_us'])} | {div(rl['p99_us'], bl['p99_us'])} | {div(rig['deliveries_per_sec'], best['deliveries_per_sec'])} |")
        lines += ["", "Every bare-writer run:", "", "| writer | conns | events/s | p50 ms | p99 ms | deliveries/s | delivered | CPU s / 1M deliveries |", "|---|---|---|---|---|---|---|---|"]
        for _, _, bare in floor:
            for r in sorted(bare, key=lambda r: r["target"]):
                cpu = r["server_cpu_publish_secs"] / r["deliveries"] * 1e6 if r["deliveries"] else 0
                lines.append(f"| {r['target']} | {r['conns']} | {r['rate']:g} | {ms(r['latency']['p50_us'])} | {ms(r['latency']['p99_us'])} | "
                             f"{r['deliveries_per_sec'] / 1000:.0f}k | {done_cell(r)} | {cpu:.2f} |")
        lines.append("")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available: no latency.png", file=sys.stderr)
        return
    fig, (ax, dx) = plt.subplots(2, 1, figsize=(8, 8), height_ratios=[3, 1], sharex=True)
    series = {}
    for r in fan:
        series.setdefault(f"{r['target']} {r['transport']}", []).append(r)
    styles = {"p50_us": ":", "p99_us": "-", "p999_us": "--"}
    for i, (name, rs) in enumerate(sorted(series.items())):
        rs.sort(key=lambda r: r["conns"])
        color = f"C{i}"
        xs = [r["conns"] for r in rs]
        for key, style in styles.items():
            ax.plot(xs, [r["latency"][key] / 1000 for r in rs], style, marker="o", color=color, label=f"{name} {key[:-3]}")
        # Incomplete runs: a cross on their p99, since their latency leaves out what never arrived.
        bad = [r for r in rs if not r["all_complete"]]
        ax.plot([r["conns"] for r in bad], [r["latency"]["p99_us"] / 1000 for r in bad], "x", color="red", markersize=12)
        dx.plot(xs, [delivered(r) for r in rs], "-", marker="o", color=color, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("publish → receipt latency (ms)")
    ax.set_title("Fan-out latency percentiles (p50 dotted, p99 solid, p99.9 dashed; red × = events lost)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    dx.set_xlabel("connections")
    dx.set_ylabel("delivered %")
    dx.set_ylim(0, 105)
    dx.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.png"), dpi=120)


if __name__ == "__main__":
    main()
