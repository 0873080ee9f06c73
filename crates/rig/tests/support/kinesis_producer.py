"""Kinesis client for the gateway's tests: boto3 (not the gateway's own
code) against a local Kinesis (moto). Usage: kinesis_producer.py ENDPOINT.
Reads one JSON command per line, answers "ok", a JSON object (read) or
"error: <reason>":
  {"op": "create_stream", "stream": "s"}   (waits until ACTIVE; fine if it exists)
  {"op": "put", "stream": "s", "data": "<text>"}
  {"op": "read", "stream": "s", "count": 1, "timeout": 10}
      -> {"records": [{"key": "<partition key>", "data": "<text>"}]}
     Every shard from the start, continuing where the previous read stopped.
"""
import json
import sys
import time

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


iterators = {}


def read(cmd):
    stream = cmd["stream"]
    if stream not in iterators:
        shards = client.list_shards(StreamName=stream)["Shards"]
        iterators[stream] = [
            client.get_shard_iterator(StreamName=stream, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            for s in shards
        ]
    out = []
    deadline = time.time() + cmd.get("timeout", 10)
    while len(out) < cmd.get("count", 1) and time.time() < deadline:
        its = []
        for it in iterators[stream]:
            got = client.get_records(ShardIterator=it)
            out.extend({"key": r["PartitionKey"], "data": r["Data"].decode()} for r in got["Records"])
            its.append(got["NextShardIterator"])
        iterators[stream] = its
        if len(out) < cmd.get("count", 1):
            time.sleep(0.1)
    return {"records": out}


def run(cmd):
    if cmd["op"] == "read":
        return read(cmd)
    if cmd["op"] == "create_stream":
        try:
            client.create_stream(StreamName=cmd["stream"], ShardCount=1)
        except client.exceptions.ResourceInUseException:
            pass
        client.get_waiter("stream_exists").wait(StreamName=cmd["stream"], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    else:
        client.put_record(StreamName=cmd["stream"], Data=cmd["data"].encode(), PartitionKey="k")
    return None


for line in sys.stdin:
    try:
        result = run(json.loads(line))
        print("ok" if result is None else json.dumps(result), flush=True)
    except Exception as e:
        print(f"error: {e!r}", flush=True)
