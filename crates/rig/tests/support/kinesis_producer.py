"""Kinesis producer for the gateway's tests: boto3 (not the gateway's own
code) against a local Kinesis (moto). Usage: kinesis_producer.py ENDPOINT.
Reads one JSON command per line, answers "ok" or "error: <reason>":
  {"op": "create_stream", "stream": "s"}   (waits until ACTIVE; fine if it exists)
  {"op": "put", "stream": "s", "data": "<text>"}
"""
import json
import sys

import boto3
from botocore.config import Config

client = boto3.client(
    "kinesis",
    endpoint_url=sys.argv[1],
    region_name="eu-west-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
)


def run(cmd):
    if cmd["op"] == "create_stream":
        try:
            client.create_stream(StreamName=cmd["stream"], ShardCount=1)
        except client.exceptions.ResourceInUseException:
            pass
        client.get_waiter("stream_exists").wait(StreamName=cmd["stream"], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    else:
        client.put_record(StreamName=cmd["stream"], Data=cmd["data"].encode(), PartitionKey="k")


for line in sys.stdin:
    try:
        run(json.loads(line))
        print("ok", flush=True)
    except Exception as e:
        print(f"error: {e!r}", flush=True)
