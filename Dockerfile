# The gateway as RIG users run it:
#   docker build -t rig . && docker run -p 4000:4000 -p 4010:4010 -e KAFKA_BROKERS=kafka:9092 rig
# Build stage: the release binary from source (librdkafka is built from its
# bundled sources, hence the C toolchain).
FROM rust:1.94-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG RIG_GIT_COMMIT=unknown
RUN RIG_GIT_COMMIT="${RIG_GIT_COMMIT}" cargo build --release --locked -p rig \
    && cp target/release/rig /rig

# Runtime: the binary, CA certificates for outbound HTTPS, and RIG's uid 1000.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 rig \
    && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin rig
COPY --from=build /rig /usr/local/bin/rig
USER 1000:1000
# Public HTTP/HTTPS, internal HTTP/HTTPS, cluster (TCP peer links, UDP gossip).
EXPOSE 4000 4001 4010 4011 4020 4020/udp
# SIGTERM drains: readiness goes 503, clients are told to reconnect, in-flight
# requests finish (RIG_SHUTDOWN_GRACE_MS); give `docker stop -t` at least that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rig"]
