"""NATS client for the proxy tests: the nats-py client (not the gateway's own
code). Usage: nats_client.py nats://HOST:PORT. Reads one JSON command per line,
answers one line: "ok", a JSON object, or "error: <reason>".
  {"op": "subscribe", "subject": "s"}                  collect what is published on s
  {"op": "respond", "subject": "s", "body": "<text>"}  answer every request on s with body
  {"op": "next", "subject": "s", "timeout": 5}         -> {"body": "<text>", "reply": "<inbox>" | null}
The subscription is in place when "ok" is answered (flushed to the server).
"""
import asyncio
import json
import sys

import nats


async def main():
    nc = await nats.connect(sys.argv[1], max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2)
    queues = {}
    loop = asyncio.get_running_loop()

    async def run(cmd):
        subject = cmd["subject"]
        if cmd["op"] == "next":
            msg = await asyncio.wait_for(queues[subject].get(), timeout=cmd.get("timeout", 5))
            return {"body": msg.data.decode(), "reply": msg.reply or None}
        queue = queues.setdefault(subject, asyncio.Queue())
        body = cmd.get("body")

        async def handler(msg):
            await queue.put(msg)
            if body is not None and msg.reply:
                await nc.publish(msg.reply, body.encode())

        await nc.subscribe(subject, cb=handler)
        await nc.flush(timeout=2)
        return None

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        try:
            result = await run(json.loads(line))
            print("ok" if result is None else json.dumps(result), flush=True)
        except Exception as e:
            print(f"error: {e!r}", flush=True)
    await nc.close()


asyncio.run(main())
