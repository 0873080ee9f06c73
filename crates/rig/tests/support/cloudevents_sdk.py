"""Sends CloudEvents the way the official Python SDK (PyPI cloudevents 2.2)
writes them, in every mode, and prints each event id it sent, one per line.

  python3 cloudevents_sdk.py <http-url> <kafka-bootstrap or -> <topic> <type> <id-prefix>

HTTP: binary and structured, for spec 0.3 and 1.0, with both of the SDK's
APIs (cloudevents.core, new in 2.x, and the long-standing cloudevents.v1).
Kafka (when a bootstrap is given): binary and structured the same way; the
v1 API's structured Kafka message carries no ce_ header and a content-type
taken from datacontenttype.
"""
import json
import sys
import urllib.request
import warnings

warnings.simplefilter("ignore")

from cloudevents.core.bindings import http as core_http  # noqa: E402
from cloudevents.core.bindings import kafka as core_kafka  # noqa: E402
from cloudevents.core.formats.json import JSONFormat  # noqa: E402
from cloudevents.core.v03.event import CloudEvent as Core03  # noqa: E402
from cloudevents.core.v1.event import CloudEvent as Core10  # noqa: E402
from cloudevents.v1.http import CloudEvent as V1Event  # noqa: E402
from cloudevents.v1.conversion import to_binary as v1_http_binary  # noqa: E402
from cloudevents.v1.conversion import to_structured as v1_http_structured  # noqa: E402
from cloudevents.v1.kafka import to_binary as v1_kafka_binary  # noqa: E402
from cloudevents.v1.kafka import to_structured as v1_kafka_structured  # noqa: E402


def attrs(spec, event_id, event_type):
    return {"specversion": spec, "type": event_type, "source": "/sdk/python", "id": event_id,
            "datacontenttype": "application/json", "subject": "sdk"}


def post(url, headers, body):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 202:
            raise SystemExit(f"{url}: {r.status} {r.read()!r}")


def main():
    url, bootstrap, topic, event_type, prefix = sys.argv[1:6]
    sent = []
    fmt = JSONFormat()
    for spec, core in (("0.3", Core03), ("1.0", Core10)):
        for mode in ("binary", "structured"):
            eid = f"{prefix}-py-http-core-{mode}-{spec}"
            msg = getattr(core_http, f"to_{mode}")(core(attributes=attrs(spec, eid, event_type), data={"sdk": "python"}), fmt)
            post(url, dict(msg.headers), msg.body)
            sent.append(eid)
            eid = f"{prefix}-py-http-v1-{mode}-{spec}"
            conv = v1_http_binary if mode == "binary" else v1_http_structured
            headers, body = conv(V1Event(attrs(spec, eid, event_type), {"sdk": "python"}))
            post(url, dict(headers), body)
            sent.append(eid)
    if bootstrap != "-":
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": bootstrap})
        for spec, core in (("0.3", Core03), ("1.0", Core10)):
            for mode in ("binary", "structured"):
                eid = f"{prefix}-py-kafka-core-{mode}-{spec}"
                msg = getattr(core_kafka, f"to_{mode}")(core(attributes=attrs(spec, eid, event_type), data={"sdk": "python"}), fmt)
                producer.produce(topic, value=msg.value, key=msg.key, headers=list(msg.headers.items()))
                sent.append(eid)
                eid = f"{prefix}-py-kafka-v1-{mode}-{spec}"
                conv = v1_kafka_binary if mode == "binary" else v1_kafka_structured
                msg = conv(V1Event(attrs(spec, eid, event_type), {"sdk": "python"}))
                producer.produce(topic, value=msg.value, key=msg.key, headers=list(msg.headers.items()))
                sent.append(eid)
        if producer.flush(10) != 0:
            raise SystemExit("kafka: messages left unsent")
    for eid in sent:
        print(eid)


if __name__ == "__main__":
    main()
