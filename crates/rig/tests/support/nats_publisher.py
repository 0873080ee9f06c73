"""NATS publisher for the gateway's tests: the nats-py client (not the
gateway's own code). Usage: nats_publisher.py nats://HOST:PORT. Reads one JSON
command per line: {"subject": "rig", "body": "<exact text>"}; answers "ok" or
"error: <reason>". Reconnects on its own when the server comes back.
"""
import asyncio
import json
import sys

import nats


async def main():
    nc = await nats.connect(sys.argv[1], max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        try:
            cmd = json.loads(line)
            await nc.publish(cmd["subject"], cmd["body"].encode())
            await nc.flush(timeout=2)
            print("ok", flush=True)
        except Exception as e:
            print(f"error: {e!r}", flush=True)
    await nc.close()


asyncio.run(main())
