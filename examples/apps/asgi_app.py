"""Example ASGI app for uvicorn under pidone (plain ASGI, no framework).

GET /        -> {"server", "pid", "ppid", "started"}: which process answered and when it started.
GET /healthz -> "ok", for probes.

Run:  python3 -m uvicorn asgi_app:app --host 0.0.0.0 --port 8000
"""
import json
import os
import time

STARTED = time.time()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        body, ctype = b"ok\n", b"text/plain"
    else:
        body = json.dumps({"server": "uvicorn", "pid": os.getpid(), "ppid": os.getppid(), "started": STARTED}).encode()
        ctype = b"application/json"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
