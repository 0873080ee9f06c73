#!/usr/bin/env python3
"""Soak run (not in CI): churn, publishing and proxy traffic against one
gateway for SOAK_SECONDS (default 600), sampling the gateway's RSS and open
file descriptors; then checks they ended flat and writes a markdown report.

    python3 scripts/soak.py --rig target/release/rig [--seconds 600] [--out results/soak.md]

Traffic, all at once, for the whole run:
- a steady population of SSE, WebSocket and long-polling clients, each living
  0.5-5 s before it disconnects (some mid-stream) and is replaced;
- events published at --rate per second over HTTP (half matching a subscription);
- proxy requests at --proxy-rate per second through an API definition to a
  local HTTP backend (http target), plus some to a path that matches nothing.
Every received event is checked to be one that was published. Stdlib only.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PUBLISHED = set()
STATS = {"connections": 0, "received": 0, "unknown": 0, "published": 0, "proxied_ok": 0, "proxied_other": 0, "errors": 0}
ERRORS = {}


def error(kind):
    STATS["errors"] += 1
    ERRORS[kind] = ERRORS.get(kind, 0) + 1


def free_ports(n):
    """n distinct free ports (all held until all are picked, so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("0.0.0.0", 0))  # the gateway binds every address
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


async def request(port, method, path, body=b"", headers=()):
    return await asyncio.wait_for(_request(port, method, path, body, headers), timeout=15)


async def _request(port, method, path, body, headers):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


def note_event(text):
    try:
        event = json.loads(text)
    except ValueError:
        return
    if event.get("type") == "soak":
        STATS["received"] += 1
        if event.get("id") not in PUBLISHED:
            STATS["unknown"] += 1


async def sse_client(port, subs, life):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /_rig/v1/connection/sse?subscriptions={subs} HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    STATS["connections"] += 1
    end = time.monotonic() + life
    buf = b""
    try:
        while time.monotonic() < end:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=max(0.01, end - time.monotonic()))
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        note_event(line[6:])
    except asyncio.TimeoutError:
        pass
    writer.transport.abort() if random.random() < 0.3 else writer.close()


async def ws_client(port, subs, life):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /_rig/v1/connection/ws?subscriptions={subs} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        f"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        error("ws upgrade refused")
        writer.close()
        return
    STATS["connections"] += 1
    end = time.monotonic() + life
    try:
        while time.monotonic() < end:
            b0, b1 = await asyncio.wait_for(reader.readexactly(2), timeout=max(0.01, end - time.monotonic()))
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(n)
            if b0 & 0x0F == 1:
                note_event(payload)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    writer.transport.abort()


async def lp_client(port, subs, life):
    end = time.monotonic() + life
    cookie = ""
    while time.monotonic() < end:
        first = not cookie
        path = f"/_rig/v1/connection/longpolling?subscriptions={subs}" if first else "/_rig/v1/connection/longpolling"
        status, data = await request(port, "GET", path, headers=[] if first else [("cookie", cookie)])
        if status != 200:
            error(f"long-poll status {status}")
            return
        head, _, body = data.partition(b"\r\n\r\n")
        jar = dict(c.split("=", 1) for c in cookie.split("; ") if "=" in c)
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"set-cookie:"):
                k, _, v = line.split(b":", 1)[1].split(b";")[0].strip().decode().partition("=")
                jar[k] = v
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        if first:  # the answer to the opening request is just "ok"
            STATS["connections"] += 1
            continue
        try:
            doc = json.loads(body)
            doc = json.loads(doc) if isinstance(doc, str) else doc  # RIG sends the body as a JSON string
            for e in doc.get("events", []):
                note_event(json.dumps(e))
        except ValueError:
            error("long-poll body not JSON")


async def population(port, size, stop):
    subs = "%5B%7B%22eventType%22%3A%22soak%22%7D%5D"
    kinds = [sse_client, ws_client, lp_client]

    async def one(i):
        while not stop.is_set():
            try:
                await kinds[i % 3](port, subs, random.uniform(0.5, 5.0))
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError) as e:
                error(f"client {type(e).__name__}")
                await asyncio.sleep(0.2)

    await asyncio.gather(*(one(i) for i in range(size)))


async def paced(rate, stop, action):
    interval, n = 1.0 / rate, 0
    start = time.monotonic()
    while not stop.is_set():
        n += 1
        try:
            await action(n)
        except (OSError, asyncio.TimeoutError) as e:
            error(f"request {type(e).__name__}")
        delay = start + n * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", required=True)
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", "600")))
    ap.add_argument("--clients", type=int, default=150)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--proxy-rate", type=float, default=100)
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    apis = [{"id": "soak", "name": "soak", "version_data": {"default": {"endpoints": [
        {"id": "get", "method": "GET", "path_regex": "/soak/api/(.*)", "path_replacement": "/\\1"},
        {"id": "post", "method": "POST", "path_regex": "/soak/api/(.*)", "path_replacement": "/\\1"}]}},
        "proxy": {"use_env": False, "target_url": "127.0.0.1", "port": backend.server_address[1]}}]
    inbound, api = free_ports(2)
    env = dict(os.environ, INBOUND_PORT=str(inbound), API_HTTP_PORT=str(api), LOG_LEVEL="warn",
               PROXY_CONFIG_FILE=json.dumps(apis), MAX_CONNECTIONS_PER_MINUTE="1000000")
    # A long-polling client that goes away leaves its session (and its buffer of
    # up to RIG_LONGPOLL_BUFFER events) until RIG_LONGPOLL_SESSION_TIMEOUT_MS, an
    # hour by default: memory is bounded by that, but would only level off after
    # an hour. A 30 s timeout lets the bound show within the run.
    env.setdefault("RIG_LONGPOLL_SESSION_TIMEOUT_MS", "30000")
    # Likewise the resume window fills for RIG_RESUME_MAX_AGE_MS (5 min by
    # default) before it levels off; a 60 s age shows its bound early.
    env.setdefault("RIG_RESUME_MAX_AGE_MS", "60000")
    rig = subprocess.Popen([a.rig], env=env)
    for _ in range(200):
        if rig.poll() is not None:
            sys.exit(f"soak: the gateway exited at start (code {rig.returncode})")
        try:
            socket.create_connection(("127.0.0.1", inbound), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    samples = [(0.0, *sample(rig.pid))]
    stop = asyncio.Event()

    async def publish(n):
        event_type = "soak" if n % 2 else "nobody"
        eid = f"e{n}"
        PUBLISHED.add(eid)
        body = json.dumps({"specversion": "1.0", "type": event_type, "id": eid, "source": "soak", "data": {"n": n}}).encode()
        status, _ = await request(inbound, "POST", "/_rig/v1/events", body, [("content-type", "application/cloudevents+json")])
        STATS["published"] += 1
        if status != 202:
            error(f"publish status {status}")

    async def proxy(n):
        path = f"/soak/api/item/{n}" if n % 10 else "/nothing/here"
        status, _ = await request(inbound, "GET", path)
        STATS["proxied_ok" if status == 200 else "proxied_other"] += 1

    async def sampler():
        t0 = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(10)
            samples.append((time.monotonic() - t0, *sample(rig.pid)))
            print(f"soak: t={samples[-1][0]:.0f}s rss={samples[-1][1]} KiB fds={samples[-1][2]} {STATS} {ERRORS}", flush=True)

    async def timer():
        await asyncio.sleep(a.seconds)
        stop.set()

    await asyncio.gather(timer(), sampler(), population(inbound, a.clients, stop),
                         paced(a.rate, stop, publish), paced(a.proxy_rate, stop, proxy))
    await asyncio.sleep(3)  # let closed connections go
    end = sample(rig.pid)
    rig.send_signal(signal.SIGTERM)
    rig.wait(timeout=30)

    # Warmed up once every bounded buffer has had time to fill.
    fill_s = max(int(env["RIG_LONGPOLL_SESSION_TIMEOUT_MS"]), int(env["RIG_RESUME_MAX_AGE_MS"])) / 1000 + 30
    warm = next((s for s in samples if s[0] >= fill_s), samples[min(1, len(samples) - 1)])
    peak_rss = max(s[1] for s in samples)
    growth = end[0] - warm[1]
    flat_rss = growth <= max(4096, warm[1] * 0.10)  # within 4 MiB or 10% of the warmed-up RSS
    flat_fds = end[1] <= samples[0][2] + 2
    lines = [
        f"# Soak run ({a.seconds} s)", "",
        f"- long-polling session timeout: {env['RIG_LONGPOLL_SESSION_TIMEOUT_MS']} ms; resume window max age: {env['RIG_RESUME_MAX_AGE_MS']} ms",
        f"- traffic: {a.clients} churning clients (SSE/WS/long-polling, 0.5-5 s lives), {a.rate:g} events/s, {a.proxy_rate:g} proxy requests/s",
        f"- totals: {json.dumps(STATS)}; errors by kind: {json.dumps(ERRORS)}", "",
        "| | RSS KiB | open fds |", "|---|---|---|",
        f"| start | {samples[0][1]} | {samples[0][2]} |",
        f"| after warm-up (t={warm[0]:.0f} s) | {warm[1]} | {warm[2]} |",
        f"| peak RSS | {peak_rss} | |",
        f"| end (clients gone) | {end[0]} | {end[1]} |", "",
        f"RSS growth after warm-up: {growth} KiB ({'flat' if flat_rss else 'NOT flat'}); fds back to start: {'yes' if flat_fds else 'NO'}; "
        f"events received that were never published: {STATS['unknown']}.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if a.out:
        with open(a.out, "w") as f:
            f.write(report)
    ok = flat_rss and flat_fds and STATS["unknown"] == 0 and STATS["received"] > 0 and STATS["proxied_ok"] > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())
