"""The ceiling of this stack: a bare Flask app whose only work is signing a
response of a given size with RSA-2048, served by the same gunicorn settings."""
from __future__ import annotations

import os

from flask import Flask, Response, request

from mockpay import signing

KEY = signing.generate_private_key()
SIZE = int(os.environ.get("CEILING_BODY_BYTES", "600"))
BODY = (b'{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"success"},"pad":"'
        + b"x" * max(0, SIZE - 90) + b'"}')

app = Flask(__name__)


@app.route("/<path:path>", methods=["POST"])
def answer(path):
    request.get_data()
    value = signing.sign(KEY, "POST", request.path, "C", "2026-01-01T00:00:00+00:00", BODY)
    response = Response(BODY, content_type="application/json; charset=UTF-8")
    response.headers["signature"] = signing.signature_header(value)
    response.headers["response-time"] = "2026-01-01T00:00:00+00:00"
    response.headers["client-id"] = "C"
    return response
