"""Example Flask app for pidone (used by the Dockerfile, the Kubernetes example and the tests).

GET /        -> {"server", "pid", "ppid", "started"}: which process answered and when it started,
               so a client can tell one generation of the app from the next after a restart.
GET /healthz -> "ok", for readiness and liveness probes.

Run it the way a developer would:  python3 -m flask --app flask_app.py run --debug --port 8000
"""
import os
import time

from flask import Flask, jsonify

app = Flask(__name__)
STARTED = time.time()


@app.get("/")
def index():
    return jsonify(server="flask", pid=os.getpid(), ppid=os.getppid(), started=STARTED)


@app.get("/healthz")
def healthz():
    return "ok\n"
