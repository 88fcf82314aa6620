"""The ceiling of this stack: a bare Flask app whose only work is signing a
response of a given size with RSA-2048, served by the same gunicorn settings.

With `STATE` set to a file (bench/cpu_breakdown.py does), each request also stores its
body and answer in one SQLite write transaction (WAL, synchronous=NORMAL, as mockpay does):
the least a stateful emulator does, for comparison."""
from __future__ import annotations

import os
import sqlite3
import threading

from flask import Flask, Response, request

from mockpay import signing

KEY = signing.generate_private_key()
SIZE = int(os.environ.get("CEILING_BODY_BYTES", "600"))
BODY = (b'{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"success"},"pad":"'
        + b"x" * max(0, SIZE - 90) + b'"}')

STATE: str | None = None
_local = threading.local()

app = Flask(__name__)


def record(body: bytes, answer: bytes) -> None:
    conn = getattr(_local, "conn", None)
    if conn is None or getattr(_local, "path", None) != STATE:
        conn = sqlite3.connect(STATE, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, request BLOB, answer BLOB)")
        _local.conn, _local.path = conn, STATE
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO calls (request, answer) VALUES (?, ?)", (body, answer))
    conn.execute("COMMIT")


@app.route("/<path:path>", methods=["POST"])
def answer(path):
    body = request.get_data()
    if STATE:
        record(body, BODY)
    value = signing.sign(KEY, "POST", request.path, "C", "2026-01-01T00:00:00+00:00", BODY)
    response = Response(BODY, content_type="application/json; charset=UTF-8")
    response.headers["signature"] = signing.signature_header(value)
    response.headers["response-time"] = "2026-01-01T00:00:00+00:00"
    response.headers["client-id"] = "C"
    return response
