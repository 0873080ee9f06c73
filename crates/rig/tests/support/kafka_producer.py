"""Kafka producer for the gateway's tests: a real third-party client
(confluent-kafka, i.e. librdkafka) so the tests do not check the gateway
against its own code. Avro bodies are encoded with fastavro and framed in the
Confluent wire format (magic byte 0, 4-byte big-endian schema id).

Usage: kafka_producer.py BOOTSTRAP. Reads one JSON command per line on stdin,
answers one line: "ok" or "error: <reason>".
  {"op": "create_topic", "topic": "rig"}
  {"op": "produce", "topic": "rig", "value": "<text>", "headers": [["k", "v"]]}
  {"op": "produce", "topic": "rig", "avro": {"id": 1, "schema": {...}, "record": {...}}, "headers": [...]}
"""
import io
import json
import struct
import sys

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
import fastavro

bootstrap = sys.argv[1]
producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 3000, "socket.timeout.ms": 2000})
admin = AdminClient({"bootstrap.servers": bootstrap})


def avro_value(spec):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(spec["schema"]), spec["record"])
    return b"\x00" + struct.pack(">I", spec["id"]) + buf.getvalue()


def run(cmd):
    if cmd["op"] == "create_topic":
        futures = admin.create_topics([NewTopic(cmd["topic"], num_partitions=1, replication_factor=1)], request_timeout=3)
        for f in futures.values():
            try:
                f.result(timeout=5)
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise
        return
    value = avro_value(cmd["avro"]) if "avro" in cmd else cmd["value"].encode()
    headers = [(k, v.encode()) for k, v in cmd.get("headers", [])]
    outcome = []
    producer.produce(cmd["topic"], value=value, headers=headers, on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(5)
    if not outcome:
        raise RuntimeError("no delivery report")
    if outcome[0] is not None:
        raise RuntimeError(str(outcome[0]))


for line in sys.stdin:
    try:
        run(json.loads(line))
        print("ok", flush=True)
    except Exception as e:  # reported to the test, which decides
        print(f"error: {e}", flush=True)
