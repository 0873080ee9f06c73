"""Kafka client for the gateway's tests: a real third-party client
(confluent-kafka, i.e. librdkafka) so the tests do not check the gateway
against its own code. Avro bodies are encoded and decoded with fastavro and
framed in the Confluent wire format (magic byte 0, 4-byte big-endian schema id).

Usage: kafka_producer.py BOOTSTRAP. Reads one JSON command per line on stdin,
answers one line: "ok", a JSON object (consume), or "error: <reason>".
  {"op": "create_topic", "topic": "rig", "partitions": 1}
  {"op": "produce", "topic": "rig", "value": "<text>", "headers": [["k", "v"]]}
  {"op": "produce", "topic": "rig", "avro": {"id": 1, "schema": {...}, "record": {...}}, "headers": [...]}
  {"op": "consume", "topic": "rig", "count": 1, "timeout": 10, "avro_schema": {...}}
      -> {"messages": [{"partition": 0, "key": "k" | null, "headers": [["k", "v"]],
                        "value": "<text>" | null, "avro": <decoded data> | null}]}
     Reads every partition from the beginning, continuing where the previous
     consume of the same topic stopped (no consumer group: nothing to join).
"""
import io
import json
import struct
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic
import fastavro

bootstrap = sys.argv[1]
producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 3000, "socket.timeout.ms": 2000})
admin = AdminClient({"bootstrap.servers": bootstrap})
consumers = {}


def avro_value(spec):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(spec["schema"]), spec["record"])
    return b"\x00" + struct.pack(">I", spec["id"]) + buf.getvalue()


def text(b):
    if b is None:
        return None
    try:
        return b.decode()
    except UnicodeDecodeError:
        return b.hex()


def consumer_for(topic):
    if topic not in consumers:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "rig-test-reader", "enable.auto.commit": False})
        meta = c.list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None:
            raise RuntimeError(str(meta.error))
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        consumers[topic] = c
    return consumers[topic]


def consume(cmd):
    c = consumer_for(cmd["topic"])
    schema = fastavro.parse_schema(cmd["avro_schema"]) if "avro_schema" in cmd else None
    out = []
    deadline = time.time() + cmd.get("timeout", 10)
    while len(out) < cmd.get("count", 1) and time.time() < deadline:
        m = c.poll(0.2)
        if m is None or m.error() is not None:
            continue
        decoded = None
        if schema is not None and m.value() and m.value()[:1] == b"\x00":
            decoded = fastavro.schemaless_reader(io.BytesIO(m.value()[5:]), schema)
        out.append({
            "partition": m.partition(),
            "key": text(m.key()),
            "headers": [[k, text(v)] for k, v in (m.headers() or [])],
            "value": None if decoded is not None else text(m.value()),
            "avro": decoded,
        })
    return {"messages": out}


def run(cmd):
    if cmd["op"] == "create_topic":
        topic = NewTopic(cmd["topic"], num_partitions=cmd.get("partitions", 1), replication_factor=1)
        futures = admin.create_topics([topic], request_timeout=3)
        for f in futures.values():
            try:
                f.result(timeout=5)
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise
        return None
    if cmd["op"] == "consume":
        return consume(cmd)
    value = avro_value(cmd["avro"]) if "avro" in cmd else cmd["value"].encode()
    headers = [(k, v.encode()) for k, v in cmd.get("headers", [])]
    outcome = []
    producer.produce(cmd["topic"], value=value, headers=headers, on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(5)
    if not outcome:
        raise RuntimeError("no delivery report")
    if outcome[0] is not None:
        raise RuntimeError(str(outcome[0]))
    return None


for line in sys.stdin:
    try:
        result = run(json.loads(line))
        print("ok" if result is None else json.dumps(result), flush=True)
    except Exception as e:  # reported to the test, which decides
        print(f"error: {e}", flush=True)
