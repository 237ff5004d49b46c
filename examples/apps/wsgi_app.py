"""Example WSGI app for gunicorn under pidone (plain WSGI, no framework).

GET /         -> {"server", "pid", "ppid", "started"}: the worker that answered (its ppid is
                 gunicorn's master, the process pidone started) and when it was loaded.
GET /healthz  -> "ok", for probes.
GET /slow?ms=N -> answers after N ms; prints "SLOW START <pid>" to stdout first, so a test can
                 stop the server while a request is in flight and see that it is drained.

Run:  gunicorn --workers 2 --bind 0.0.0.0:8000 wsgi_app:app
"""
import json
import os
import sys
import time
from urllib.parse import parse_qs

STARTED = time.time()
# gunicorn imports the app in each worker after the worker's signal handlers are in place
# (unless --preload), so this line also says "this worker is ready for signals".
print(f"wsgi_app loaded in pid {os.getpid()}", flush=True)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/healthz":
        return reply(start_response, "200 OK", b"ok\n", "text/plain")
    if path == "/slow":
        ms = int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["1000"])[0])
        print(f"SLOW START {os.getpid()}", flush=True)
        time.sleep(ms / 1000)
        return reply(start_response, "200 OK", b"slow done\n", "text/plain")
    body = json.dumps({"server": "gunicorn", "pid": os.getpid(), "ppid": os.getppid(), "started": STARTED}).encode()
    return reply(start_response, "200 OK", body, "application/json")


def reply(start_response, status, body, ctype):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    sys.exit("run me with gunicorn: gunicorn --workers 2 wsgi_app:app")
