"""Bodies over the limit (config.max_body_bytes), at the gunicorn level.

mockpay answers such a body at once, PARAM_ILLEGAL, without reading it
(api/gateway.py). gunicorn then has an unread body on the connection; it drains a
little of it, but gives up on a large one and closes the connection after the
answer, which said "keep-alive": a client reusing that connection for its next
request finds it closed. This hook tells gunicorn beforehand, so that the answer
says "Connection: close" and clients open a new connection.
"""
from __future__ import annotations


def close_after_large_bodies(max_body_bytes: int):
    """A gunicorn `pre_request` hook: the connection closes after the answer when the
    request's Content-Length is over `max_body_bytes`, or when the body is chunked (its
    size unknown until read)."""

    def pre_request(worker, req) -> None:
        for name, value in req.headers:
            if name == "TRANSFER-ENCODING" or (
                    name == "CONTENT-LENGTH" and value.strip().isdigit() and int(value) > max_body_bytes):
                req.must_close = True
                return

    return pre_request
