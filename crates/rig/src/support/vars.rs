//! The table of every environment variable the gateway reads (name, default,
//! documentation): pure data at the ground floor, so the parsing toolkit can
//! fall back on the documented defaults and `--help` can list them.

/// One documented variable.
pub struct Var {
    pub name: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
    /// Where the name comes from: `RIG 3.0`, `RIG 1.x` (same name, same meaning) or `new`.
    pub origin: &'static str,
}

const fn rig(name: &'static str, default: &'static str, doc: &'static str) -> Var {
    Var { name, default, doc, origin: "RIG 3.0" }
}

const fn rig1(name: &'static str, default: &'static str, doc: &'static str) -> Var {
    Var { name, default, doc, origin: "RIG 1.x" }
}

const fn ours(name: &'static str, default: &'static str, doc: &'static str) -> Var {
    Var { name, default, doc, origin: "new" }
}

/// All variables, in the order `--help` lists them.
pub const VARS: &[Var] = &[
    rig("INBOUND_PORT", "4000", "Public HTTP port: frontend connections, event publishing, proxy. RIG 1.x's PORT is read when this is not set."),
    rig("API_HTTP_PORT", "4010", "Internal HTTP port: management API, health. Keep it private."),
    rig("INBOUND_HTTPS_PORT", "4001", "Public HTTPS port (HTTP/1.1 and HTTP/2), when HTTPS is on."),
    rig("API_HTTPS_PORT", "4011", "Internal HTTPS port, when HTTPS is on."),
    ours("RIG_EXTRA_CA_CERTS", "", "PEM files (comma-separated) of CA certificates that every outbound HTTPS client trusts besides the system roots: JWKS, SUBSCRIPTION_CHECK/SUBMISSION_CHECK URLs, the schema registry, proxy backends, OTLP and Zipkin. For private CAs. (Kafka has KAFKA_SSL_CA_CERTFILE.)"),
    rig("HTTPS_CERTFILE", "", "PEM certificate (chain) file; with HTTPS_KEYFILE it turns HTTPS on for both ports (HTTP stays on)."),
    rig("HTTPS_KEYFILE", "", "PEM private key file; may be PKCS#8 encrypted (ENCRYPTED PRIVATE KEY)."),
    rig("HTTPS_KEYFILE_PASS", "", "Pass phrase of an encrypted HTTPS_KEYFILE."),
    rig("CORS", "*", "Origins allowed to read public-port responses: * (any, without credentials) or a comma-separated list (a listed Origin is echoed with Vary: Origin, others get the first entry; long-polling allows credentials only then)."),
    rig("EXTRACTORS", "", "Extractor config: a JSON file path or inline JSON (event type -> field -> pointers)."),
    rig("MAX_CONNECTIONS_PER_MINUTE", "5000", "New SSE/WS/long-polling connections accepted per node per wall-clock minute."),
    ours("RIG_MAX_SUBSCRIPTIONS", "256", "Subscriptions one connection may hold (query parameter, PUT, JWT-inferred together); more is refused with 400."),
    ours("RIG_MAX_SUBSCRIPTION_CLAUSES", "256", "oneOf clauses one subscription may have; more is refused with 400."),
    ours("RIG_MAX_SUBSCRIPTION_BYTES", "32768", "Bytes of the subscription list a client sends (subscriptions parameter, PUT body); more is refused with 400."),
    ours("RIG_MAX_SESSIONS_PER_CONNECTION", "16", "JWT sessions one connection may belong to (its own and those of the bearer tokens its subscription PUTs carry); a PUT beyond it, or with more bearer tokens, is refused with 400."),
    ours("RIG_MAX_LONGPOLL_SESSIONS_PER_IP", "1000", "Long-polling sessions (RIG 3.0's and Phoenix's /socket/longpoll) one client address may hold at once (0: no limit); a new one beyond it gets 429. Behind a load balancer every client shares its address: raise it or use 0."),
    rig("SUBSCRIPTION_CHECK", "NO_CHECK", "NO_CHECK, JWT_VALIDATION, or the URL of a service that authorizes subscription requests (2xx allows)."),
    rig("SUBMISSION_CHECK", "NO_CHECK", "NO_CHECK, JWT_VALIDATION, or the URL of a service that authorizes POST /_rig/v1/events (2xx allows)."),
    ours("RIG_CHECK_TIMEOUT_MS", "5000", "Timeout for external check services and JWKS fetches; a timed-out check denies."),
    rig("JWT_SECRET_KEY", "", "HS* shared secret, or a PEM public key or X.509 certificate for RS*/PS*/ES*/EdDSA."),
    rig("JWT_ALG", "HS256", "JWT algorithm: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA. Tokens with another alg are refused."),
    rig("JWT_SESSION_FIELD", "/jti", "JSON Pointer to the session id in JWT claims (blacklisting kills that session's connections)."),
    ours("JWT_JWKS_URL", "", "URL of a JSON Web Key Set; keys are matched by kid and refetched when an unknown kid appears."),
    ours("JWT_JWKS_REFRESH_MS", "300000", "Period of the regular JWKS refetch."),
    ours("JWT_JWKS_MIN_REFETCH_MS", "5000", "Least time between refetches triggered by unknown key ids; failed fetches count too, and misses while a fetch runs wait for it."),
    rig1("JWT_USER_FIELD", "", "Claim (name or JSON Pointer) naming the user. Set, it turns on the privileged-user rule: extractor fields tied to this claim may only be constrained to the caller's own value unless the caller has a privileged role. Also names users in the presence API (else `sub`)."),
    rig1("JWT_ROLES_FIELD", "roles", "Claim (name or JSON Pointer) holding the caller's roles (a string or a list)."),
    rig1("PRIVILEGED_ROLES", "", "Comma-separated roles that may subscribe to other users' events."),
    rig1("SESSION_ROLE", "user", "Role whose Phoenix channel members count as sessions: GET /rg/sessions lists the users present in channel role:<SESSION_ROLE> (a user who does not have the role, e.g. a system user, is not listed)."),
    ours("RIG_MAX_PRESENCES", "100000", "Phoenix channel presences (a device in a user: or role: topic) this node tracks at once; a join that would track more is refused with an error reply naming this variable."),
    rig("NODE_HOST", "127.0.0.1", "This node's address as its peers reach it (an IP or a name); the node is named rig@NODE_HOST."),
    rig("NODE_COOKIE", "", "Cluster secret: authenticates every gossip datagram and peer link (required in a cluster); also the key that signs connection tokens (random per start if empty)."),
    rig("DISCOVERY_TYPE", "", "dns: the cluster is every address DNS_NAME resolves to, re-resolved every 5 s. Empty: standalone unless RIG_CLUSTER_PEERS is set."),
    rig("DNS_NAME", "localhost", "DNS name resolving to every node (e.g. a Kubernetes headless service), with DISCOVERY_TYPE=dns."),
    ours("RIG_CLUSTER_PEERS", "", "Static peers, host[:port],... (default port RIG_CLUSTER_PORT); non-empty turns the cluster on. Combines with DNS discovery."),
    ours("RIG_CLUSTER_PORT", "4020", "Cluster port, the same on every node: UDP for gossip (membership, replicated state), TCP for forwarded events."),
    ours("RIG_CLUSTER_GOSSIP_INTERVAL_MS", "500", "Gossip round period; failure detection and state convergence scale with it."),
    ours("RIG_CLUSTER_PEER_QUEUE", "10000", "Events queued per peer node; when it is full (slow or unreachable peer) further events are dropped for that peer, counted and logged."),
    ours("RIG_CLUSTER_PEER_GRACE_MS", "60000", "How long a peer the failure detector gave up on (a partition, a pause) keeps its link and event queue: when it comes back within this time the queued events are delivered. Freed at once when DNS discovery no longer lists the peer or another node takes its address."),
    ours("RIG_CLUSTER_ENCRYPT", "false", "Encrypt all cluster traffic (peer links and gossip) with ChaCha20-Poly1305 under keys derived from NODE_COOKIE, for clusters whose traffic crosses networks you do not trust. Authentication is mutual either way; every node needs the same setting."),
    rig("LOG_LEVEL", "warn", "debug, info, warn or error."),
    rig("PROMETHEUS_METRICS_ENABLED", "true", "Serve Prometheus metrics at GET /metrics on the internal port."),
    rig("LOG_FMT", "erlang", "erlang (readable console lines), json (one JSON object per line: time, level, message, target, fields, trace_id in a request) or gcl (the same with Google Cloud Logging's severity)."),
    ours("RIG_BIND_ADDRESS", "0.0.0.0", "Address the public ports bind to, and the internal ones unless RIG_API_BIND_ADDRESS is set."),
    ours("RIG_API_BIND_ADDRESS", "", "Address the internal ports (API_HTTP_PORT, API_HTTPS_PORT) bind to; empty: RIG_BIND_ADDRESS. E.g. 127.0.0.1 keeps the management API on the host while the public port listens on all interfaces. A warning is logged at start when the internal API listens beyond loopback without RIG_API_TOKEN."),
    ours("RIG_API_TOKEN", "", "When set, every internal-port route except GET /health (for probes) requires Authorization: Bearer <token> (401 otherwise), /metrics included (Prometheus: authorization credentials). Nodes of a cluster send it to each other's internal port, so give them the same token."),
    ours("RIG_API_ALLOWED_HOSTS", "", "Host names (comma-separated) the internal port answers to besides IP literals and localhost. Against DNS rebinding, a request with another Host is refused (403) when it arrived on a loopback address, and on every address once this list is set."),
    ours("RIG_SHUTDOWN_GRACE_MS", "10000", "On SIGTERM: time for connected clients to leave after being told to reconnect elsewhere."),
    ours("RIG_MAX_BODY_BYTES", "1048576", "Largest request body accepted on either port; larger gets 413."),
    ours("RIG_MAX_BATCH_EVENTS", "100", "Events one batched-mode publish (content-type application/cloudevents-batch+json) may carry; more is 413. Each event is checked and dispatched in order; the answer lists each one's fate."),
    ours("RIG_BODY_READ_TIMEOUT_MS", "30000", "A request body (either port, proxied requests included) must arrive in full within this time after its head; otherwise 408 and the connection is closed."),
    ours("RIG_MAX_CONNECTIONS_PER_IP", "10000", "Open connections one client address may hold, over all ports (IPv6: per /64); further ones are refused (429 on plain HTTP) and counted in rig_connections_refused_per_ip_total. Behind a load balancer every client has its address: raise it, or 0 for no limit."),
    ours("RIG_OUTBOX_CAPACITY", "256", "Frames queued per SSE/WS connection before the slow-client policy applies."),
    ours("RIG_SLOW_CLIENT_POLICY", "drop_oldest", "Full outbox: drop_oldest (count it, send rig.events_missed) or disconnect (rig.connection_closed / WS 1013)."),
    ours("RIG_WRITE_TIMEOUT_MS", "20000", "An SSE/WebSocket write that makes no progress this long (the client stopped reading) ends the connection with a reset; a killed session's close notice gets at most 1 s."),
    ours("RIG_WS_CONTROL_FRAME_RATE", "10", "Control frames (pings, pongs) per second a WebSocket client may send, in bursts of up to as many; more closes the connection with 1008. Pings are answered with one pong for the newest. 0: no limit."),
    ours("RIG_RESUME_WINDOW", "10000", "Recent events kept for clients resuming with Last-Event-ID / last_event_id; 0 disables resuming."),
    ours("RIG_RESUME_WINDOW_BYTES", "67108864", "Upper bound on the memory the resume window holds."),
    ours("RIG_RESUME_MAX_AGE_MS", "300000", "Events older than this leave the resume window."),
    ours("RIG_HEARTBEAT_INTERVAL_MS", "15000", "Idle heartbeat period: SSE comment, WebSocket ping."),
    ours("RIG_LONGPOLL_BUFFER", "200", "Events kept per long-polling session."),
    ours("RIG_LONGPOLL_WAIT_MS", "5000", "How long a poll waits for an event before answering with none."),
    ours("RIG_LONGPOLL_SESSION_TIMEOUT_MS", "3600000", "Idle time after which a long-polling session is dropped."),
    // Event sources (crates/rig/src/source).
    rig("KAFKA_BROKERS", "", "Kafka brokers, host:port,...; non-empty enables the Kafka consumer. RIG 1.x's KAFKA_HOSTS is read when this is not set, and KAFKA_ENABLED=false empties it."),
    rig("KAFKA_SOURCE_TOPICS", "rig", "Kafka topics whose CloudEvents are delivered to frontends."),
    rig("KAFKATOFILTER_KAFKA_GROUP_ID", "rig-kafka-to-filter", "Kafka consumer group; the same on every node, so each message is read once per cluster. RIG 1.x's KAFKA_CONSUMER_GROUP and 2.x's KAFKA_GROUP_ID are read when this is not set."),
    rig("KAFKA_RESTART_DELAY_MS", "", "Longest wait between Kafka reconnection attempts (empty: RIG_SOURCE_BACKOFF_MAX_MS)."),
    rig("KAFKA_SERIALIZER", "", "avro: the kafka target and the request log produce binary-mode Avro with the endpoint's schema subject (needs KAFKA_SCHEMA_REGISTRY_HOST). Consuming decodes Avro whenever a value is in the wire format."),
    rig("KAFKA_SCHEMA_REGISTRY_HOST", "", "Confluent-compatible schema registry, host:port or URL; schemas are fetched by id and cached."),
    rig("KAFKA_SSL_ENABLED", "false", "TLS to the Kafka brokers, with the KAFKA_SSL_* files (relative paths start at the working directory)."),
    rig("KAFKA_SSL_CA_CERTFILE", "ca.crt.pem", "CA certificate PEM for Kafka TLS (empty: system roots)."),
    rig("KAFKA_SSL_CERTFILE", "client.crt.pem", "Client certificate PEM for Kafka TLS (empty: none)."),
    rig("KAFKA_SSL_KEYFILE", "client.key.pem", "Client private key PEM for Kafka TLS, may be encrypted (empty: none)."),
    rig("KAFKA_SSL_KEYFILE_PASS", "", "Passphrase of an encrypted KAFKA_SSL_KEYFILE."),
    rig("KAFKA_SASL", "", "SASL credentials: plain:<user>:<password>, scram_sha_256:<user>:<password> or scram_sha_512:<user>:<password>."),
    ours("RIG_KAFKA_CONFIG", "", "Extra librdkafka properties for every Kafka client (consumers and producer), key=value,... (e.g. session.timeout.ms=6000)."),
    rig("NATS_SERVERS", "", "NATS servers, host:port,...; non-empty enables the NATS consumer."),
    rig("NATS_SOURCE_TOPICS", "rig", "NATS subjects whose CloudEvents are delivered to frontends."),
    rig("NATSTOFILTER_QUEUE_GROUP", "rig-nats-to-filter", "NATS queue group; the same on every node, so each message is read once per cluster."),
    rig("KINESIS_ENABLED", "false", "Consume CloudEvents from an Amazon Kinesis stream (credentials from the standard AWS chain)."),
    rig("KINESIS_STREAM", "RIG-outbound", "Kinesis stream consumed."),
    rig("KINESIS_APP_NAME", "Reactive-Interaction-Gateway", "Kinesis application name (RIG's lease table; logged only: every node reads every shard)."),
    rig("KINESIS_AWS_REGION", "eu-west-1", "AWS region of the Kinesis stream."),
    rig("KINESIS_ENDPOINT", "", "Custom Kinesis endpoint URL for the consumer and kinesis targets (e.g. a local Kinesis for tests)."),
    rig("KINESIS_DYNAMODB_ENDPOINT", "", "Accepted for compatibility; unused (no lease table)."),
    rig("KINESIS_CLIENT_JAR", "./kinesis-client/target/rig-kinesis-client-1.0-SNAPSHOT.jar", "Accepted for compatibility; unused (Kinesis is read natively, no Java)."),
    rig("KINESIS_OTP_JAR", "", "Accepted for compatibility; unused (Kinesis is read natively, no Java)."),
    rig("KINESIS_LOG_LEVEL", "INFO", "Accepted for compatibility; unused (use LOG_LEVEL)."),
    ours("RIG_KINESIS_POLL_INTERVAL_MS", "1000", "Pause between Kinesis GetRecords calls per shard."),
    // Tracing (crates/rig/src/telemetry).
    ours("OTEL_EXPORTER_OTLP_ENDPOINT", "", "OpenTelemetry: OTLP/HTTP base URL (spans go to <url>/v1/traces, JSON encoding); empty: no OTLP export."),
    ours("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "OpenTelemetry: full OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT."),
    ours("OTEL_EXPORTER_OTLP_HEADERS", "", "OpenTelemetry: extra export request headers, key=value,..."),
    ours("OTEL_SERVICE_NAME", "", "OpenTelemetry: service.name of the spans (empty: ZIPKIN_SERVICE_NAME, i.e. rig)."),
    ours("OTEL_TRACES_SAMPLER", "parentbased_always_on", "OpenTelemetry sampler: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio."),
    ours("OTEL_TRACES_SAMPLER_ARG", "", "Ratio in [0, 1] for the traceidratio samplers (empty: 1)."),
    ours("OTEL_BSP_SCHEDULE_DELAY", "5000", "OpenTelemetry: longest time (ms) a finished span waits before its batch is exported."),
    ours("OTEL_BSP_MAX_QUEUE_SIZE", "2048", "OpenTelemetry: finished spans queued for export; beyond it they are dropped and counted."),
    ours("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512", "OpenTelemetry: spans per export request."),
    rig("ZIPKIN_ADDR", "", "Zipkin v2 spans URL (e.g. http://zipkin:9411/api/v2/spans); empty: no Zipkin export."),
    rig("ZIPKIN_SERVICE_NAME", "rig", "Service name of exported spans."),
    rig("JAEGER_HOST", "", "RIG's Jaeger agent (UDP) exporter is not supported (Jaeger retired its agent); a warning says so. Use OTEL_EXPORTER_OTLP_ENDPOINT=http://<jaeger>:4318."),
    rig("JAEGER_PORT", "6831", "Accepted for compatibility; unused (see JAEGER_HOST)."),
    rig("JAEGER_SERVICE_NAME", "rig", "Accepted for compatibility; unused (see JAEGER_HOST)."),
    ours("RIG_SOURCE_BACKOFF_MAX_MS", "20000", "Longest wait between reconnection attempts to a broker (the first retry is after 100 ms)."),
    // Reverse proxy (crates/rig/src/proxy).
    rig("PROXY_CONFIG_FILE", "", "API definitions loaded at start: a file path or inline JSON, an array of definitions. An invalid one stops the start."),
    rig("PROXY_RECV_TIMEOUT", "5000", "Milliseconds an HTTP backend has to answer a proxied request (then 504)."),
    rig("PROXY_HTTP_ASYNC_RESPONSE_TIMEOUT", "5000", "Milliseconds a request with response_from http_async waits for POST /v3/responses (then 504)."),
    rig("PROXY_KAFKA_RESPONSE_TIMEOUT", "5000", "Milliseconds a request with response_from kafka waits for its Kafka response (then 504)."),
    rig("PROXY_KINESIS_RESPONSE_TIMEOUT", "5000", "Milliseconds a request with response_from kinesis waits (nothing delivers Kinesis responses; then 504)."),
    rig("REQUEST_LOG", "", "Request-log sinks for proxied requests, comma-separated: console (a line on stdout), kafka (needs KAFKA_BROKERS)."),
    rig("HOST", "localhost", "This gateway's host name; proxied requests carry forwarded: for=<client>;by=<address HOST resolves to>."),
    ours("RIG_PUBLIC_APIS_ENDPOINT", "false", "true: answer GET /apis on the public port with the active API definitions (backend hosts and ports included), as RIG 1.x did; an API endpoint for /apis takes precedence. Off by default: anyone reaching the public port could read them."),
    // Publish targets, asynchronous responses, Kafka request log (crates/rig/src/proxy/publish).
    rig("PROXY_KAFKA_RESPONSE_TOPICS", "rig-proxy-response", "Kafka topics with responses for requests waiting with response_from kafka: headers rig-correlation and rig-response-code (others go to the client), value = body."),
    rig("PROXY_KAFKA_RESPONSE_KAFKA_GROUP_ID", "rig-proxy-response", "Consumer group of PROXY_KAFKA_RESPONSE_TOPICS; the same on every node."),
    rig("PROXY_NATS_RESPONSE_TIMEOUT", "60000", "Milliseconds a request to a nats target with response_from nats waits for the reply (then 504)."),
    rig("PROXY_KINESIS_REQUEST_REGION", "eu-west-1", "AWS region of kinesis targets (credentials from the standard AWS chain, endpoint KINESIS_ENDPOINT if set)."),
    rig("KAFKA_LOG_TOPIC", "rig-request-log", "Topic of REQUEST_LOG=kafka."),
    rig("KAFKA_LOG_SCHEMA", "", "Avro subject of request-log records when KAFKA_SERIALIZER=avro (empty: JSON)."),
    ours("RIG_KAFKA_PRODUCE_TIMEOUT_MS", "5000", "How long producing to Kafka (kafka target, request log) may wait for the broker; then the request fails with 503."),
    // RIG 1.x Phoenix channels at /socket (crates/rig/src/transport/phoenix, session/channel.rs).
    rig1("KAFKA_USER_FIELD", "user", "Field of a plain JSON Kafka message (not a CloudEvent) naming the user it is for: the message is pushed as event `message` to Phoenix channel user:<value> on every node (a name, or a JSON Pointer). Empty: such messages are counted as failed."),
];

/// The documented default of `name`; every variable read must be in [`VARS`].
pub(crate) fn default_of(name: &str) -> &'static str {
    VARS.iter().find(|v| v.name == name).map(|v| v.default).unwrap_or_else(|| panic!("{name} is missing from VARS"))
}
