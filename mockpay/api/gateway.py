"""The AMS gateway: the three path prefixes, the signature check on requests,
the result envelope, and signed answers (HTTP 200, errors included).

A view declares its schema with @ams_endpoint and returns a body (or a
vaulting.Reply); everything else, including every error, is handled here.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import socket
import time
from datetime import datetime

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import signing
from ..admin_auth import is_admin_json_path, under
from ..clients import CLIENT_ID
from ..codes import AmsError
from ..schemas import load, valid_fields
from ..text import lone_surrogate_at

log = logging.getLogger("mockpay.api")

PREFIXES = {"prod": "/ams/api/v1", "sandbox": "/ams/sandbox/api/v1", "short": "/v1"}
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def services():
    return current_app.extensions["mockpay"]


def is_api_path(path: str) -> bool:
    return any(under(path, p) for p in PREFIXES.values())


def register_api(app: Flask, blueprint) -> None:
    """Serve one API blueprint under all three prefixes."""
    for key, prefix in PREFIXES.items():
        app.register_blueprint(blueprint, url_prefix=prefix, name=f"{blueprint.name}_{key}")


def route(blueprint, path: str):
    """Register an AMS view for every method, so that a non-POST gets
    METHOD_NOT_SUPPORTED in the envelope rather than Flask's 405 page; and only at its
    very path: werkzeug would answer a doubled slash (/v1//vaults/...) with a 308
    redirect page, unsigned, which no routing error handler sees. It is INVALID_API."""
    return blueprint.route(path, methods=ALL_METHODS, provide_automatic_options=False, merge_slashes=False)


def dumps(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def echoed_client_id() -> str:
    """The request's client-id, echoed only when it is a well-formed id (never header garbage)."""
    value = request.headers.get("client-id", "")
    return value if CLIENT_ID.fullmatch(value) else ""


def signed_response(body: dict, status: int = 200) -> Response:
    """Sign `body` as the answer to the current request."""
    svc = services()
    raw = dumps(body)
    client_id = echoed_client_id()
    response_time = svc.clock.now_iso()
    value = signing.sign(svc.keyring.private_key, request.method, request.path, client_id, response_time, raw)
    response = Response(raw, status=status, content_type="application/json; charset=UTF-8")
    # Lower-case names: the Python SDK matches these three case-sensitively.
    response.headers["client-id"] = client_id
    response.headers["response-time"] = response_time
    response.headers["signature"] = signing.signature_header(value)
    g.ams_result = body.get("result", {})
    g.ams_response_body = body
    return response


def error_response(exc: AmsError) -> Response:
    """An F or U answer; it echoes the request fields the API declares (`echo`) when they
    were sent and valid, like vaultPaymentMethod's vaultingRequestId, required in its answer."""
    echo = valid_fields(*g.ams_echo, g.ams_request_body) if "ams_echo" in g else {}
    return signed_response({"result": exc.result(g.get("ams_api")), **echo})


def authenticate() -> str:
    """Check client-id, key and signature over the raw body; return the client id."""
    svc = services()
    client_id = request.headers.get("client-id")
    if not client_id:
        raise AmsError("INVALID_CLIENT", "the client-id header is required")
    key = svc.clients.verification_key(client_id)
    request_time = request.headers.get("request-time")
    parts = signing.parse_signature_header(request.headers.get("signature"))
    if parts is None:
        raise AmsError("INVALID_SIGNATURE", "the signature header is missing or malformed "
                                            "(expected algorithm=RSA256,keyVersion=N,signature=<value>)")
    if not request_time:
        raise AmsError("INVALID_SIGNATURE", "the request-time header is required to verify the signature")
    check_request_time(request_time, svc.config.request_time_tolerance)
    body = raw_body()
    if not signing.verify(key, request.method, request.path, client_id, request_time, body, parts["signature"]):
        raise AmsError("INVALID_SIGNATURE", "the signature does not match "
                                            f"'{request.method} {request.path}' and the body received")
    return client_id


def refuse_declared_oversize() -> None:
    """A Content-Length over the limit is refused before anything else is looked at,
    the signature included: the body is never read."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def raw_body() -> bytes:
    """The request body as received. Over the limit (config.max_body_bytes) it raises
    RequestEntityTooLarge, which answers PARAM_ILLEGAL: at once when Content-Length says
    so, and for a chunked body too, which werkzeug would otherwise cut at the limit
    without a word (the cut body then failing the signature check)."""
    body = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and request.content_length is None and len(body) >= limit:
        if request.environ["wsgi.input"].read(1):  # more than the limit was sent
            raise RequestEntityTooLarge()
    return body


def check_request_time(value: str, tolerance: float) -> None:
    """ISO 8601 with offset (Python SDK) or epoch milliseconds (Java, Go SDKs), within
    `tolerance` seconds of the wall clock (not the mock clock, which tests move)."""
    if value.isascii() and value.isdigit() and len(value) in (10, 13):  # not "¹²³...", which int() refuses
        epoch = int(value) / (1000 if len(value) == 13 else 1)
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise AmsError("PARAM_ILLEGAL", "request-time header must be ISO 8601 with an offset "
                                            "or epoch milliseconds") from None
        if parsed.tzinfo is None:
            raise AmsError("PARAM_ILLEGAL", "request-time header must carry a UTC offset")
        epoch = parsed.timestamp()
    if tolerance and abs(time.time() - epoch) > tolerance:
        raise AmsError("PARAM_ILLEGAL", f"request-time header is more than {int(tolerance)} s away from now")


def parse_json() -> object:
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.lower() and "text/plain" not in content_type.lower():
        raise AmsError("MEDIA_TYPE_NOT_ACCEPTABLE", "content-type must be application/json")
    raw = raw_body()
    if not raw.strip():
        raise AmsError("PARAM_ILLEGAL", "the request body is empty")

    def no_duplicates(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise AmsError("PARAM_ILLEGAL", f"{k} appears more than once in an object")
            seen[k] = v
        return seen

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError):
        raise AmsError("PARAM_ILLEGAL", "the request body is not valid UTF-8 JSON") from None
    except RecursionError:
        raise AmsError("PARAM_ILLEGAL", "the request body nests arrays or objects too deeply") from None


# JSON's \uD800-\uDFFF escape, which can spell half of a UTF-16 pair alone (paired
# halves decode to one character and are fine): the body is walked only when it has one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def refuse_lone_surrogates(raw: bytes, data) -> None:
    """PARAM_ILLEGAL naming the field (or the object whose key) that holds a lone surrogate
    in the parsed body `data`; looked for only when the `raw` body has such an escape."""
    found = lone_surrogate_at(data) if _SURROGATE_ESCAPE.search(raw) else None
    if found is not None:
        path, in_key = found
        where = ".".join(map(str, path)) or "body"
        what = f"{where} has a key that" if in_key else where
        raise AmsError("PARAM_ILLEGAL", f"{what} is not valid Unicode (a lone UTF-16 surrogate)")


def ams_endpoint(schema, api: str, response=None, echo: tuple[str, ...] = ()):
    """Wrap a view `(client_id, body) -> dict | Reply` with the whole AMS protocol.

    `echo` names request fields that every answer carries back, errors included, once
    the body has parsed (each only when it is itself valid).

    `schema` validates the request; `response` (a marshmallow schema, used for
    the OpenAPI document only) describes the answer. mockpay.openapi documents
    every view wrapped here, under all three prefixes, with nothing else to do."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            g.ams_api = api
            refuse_declared_oversize()
            if request.method != "POST":
                raise AmsError("METHOD_NOT_SUPPORTED", f"{request.method} is not supported; use POST")
            client_id = authenticate()
            g.ams_client_id = client_id
            data = parse_json()
            g.ams_request_body = data
            if echo:
                g.ams_echo = (schema, echo)  # worked out only for an error answer
            refuse_lone_surrogates(raw_body(), data)
            body = load(schema, data)
            reply = view(client_id, body, **kwargs)
            return finish(reply)

        wrapper.ams_api, wrapper.ams_request_schema, wrapper.ams_response_schema = api, schema, response
        return wrapper

    return decorate


def finish(reply) -> Response:
    outcome = getattr(reply, "outcome", None)
    body = getattr(reply, "body", reply)
    if outcome is not None and (outcome.delay_ms or outcome.fault):
        return apply_fault(outcome, body)
    return signed_response(body)


FAULT_STATUS = {"http_500": 500, "http_502": 502, "http_503": 503}


def apply_fault(outcome, body: dict) -> Response:
    """Delays and faults a scenario asks for: a slow answer, a 5xx, a dropped connection."""
    if outcome.delay_ms:
        time.sleep(outcome.delay_ms / 1000)
    g.ams_fault = outcome.fault
    if outcome.fault in FAULT_STATUS:
        status = FAULT_STATUS[outcome.fault]
        g.ams_result = {"resultCode": f"HTTP_{status}"}
        return Response(f"<html><body><h1>{status}</h1>mockpay scenario fault</body></html>",
                        status=status, content_type="text/html")
    if outcome.fault == "drop":
        sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
        g.ams_result = {"resultCode": "DROPPED"}
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return Response(b"", status=200)
    if outcome.fault == "timeout":
        time.sleep(services().config.fault_timeout)
    return signed_response(body)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.ams_started = time.perf_counter()

    @app.errorhandler(AmsError)
    def _ams_error(exc: AmsError):
        return error_response(exc)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        # more specific than HTTPException, so Flask never hands it to _http_error: the admin
        # API's 413 was werkzeug's HTML page instead of its JSON error
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"the request body exceeds {limit} bytes"
        if is_api_path(request.path):
            return error_response(AmsError("PARAM_ILLEGAL", message))
        return _http_error(RequestEntityTooLarge(description=message))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if is_api_path(request.path):
            if exc.code == 405:
                return error_response(AmsError("METHOD_NOT_SUPPORTED"))
            if exc.code == 404:
                return error_response(AmsError("INVALID_API", f"no API at {request.path}"))
            if (exc.code or 500) >= 500:  # ours, not the request's (e.g. an error handler that failed)
                log.error("HTTP %s on %s %s: %s", exc.code, request.method, request.path, exc.description)
                return error_response(AmsError("UNKNOWN_EXCEPTION"))
            return error_response(AmsError("PARAM_ILLEGAL", exc.description))
        if is_admin_json_path(request.path):  # issue 6, dx-ops: admin errors are JSON too
            code = (exc.name or "error").upper().replace(" ", "_")
            return Response(dumps({"error": {"code": code, "message": exc.description or exc.name}}),
                            status=exc.code or 500, content_type="application/json")
        return exc

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        log.error("internal error on %s %s: %s", request.method, request.path, type(exc).__name__,
                  exc_info=(type(exc), exc, exc.__traceback__))
        if is_api_path(request.path):
            return error_response(AmsError("UNKNOWN_EXCEPTION"))
        return Response(dumps({"error": {"code": "INTERNAL", "message": "internal error"}}), status=500,
                        content_type="application/json")

    @app.after_request
    def _log_call(response: Response):
        if is_api_path(request.path):
            elapsed_ms = (time.perf_counter() - g.get("ams_started", time.perf_counter())) * 1000
            res = g.get("ams_result") or {}
            g.ams_latency_ms = elapsed_ms
            call = api_call(response, res, elapsed_ms)
            log.info("%s %s client=%s result=%s %.1fms", request.method, request.path,
                     call["client_id"] or "-", call["result_code"] or response.status_code, elapsed_ms,
                     extra={"call": {"method": call["method"], "path": call["path"], "clientId": call["client_id"],
                                     "api": call["api"], "httpStatus": call["http_status"],
                                     "resultStatus": call["result_status"], "resultCode": call["result_code"],
                                     "fault": call["fault"], "latencyMs": round(elapsed_ms, 3)}})
            journal_call(call)
        return response


# -- request journal (issue 6, dx-ops) -------------------------------------------

def api_call(response: Response, res: dict, elapsed_ms: float) -> dict:
    """What the log line and the journal say about the API call just answered."""
    return {
        "method": request.method,
        "path": request.path,
        "api": g.get("ams_api"),
        "client_id": g.get("ams_client_id") or echoed_client_id() or None,
        "http_status": response.status_code,
        "result_status": res.get("resultStatus"),
        "result_code": res.get("resultCode"),
        "fault": g.get("ams_fault"),
        "latency_ms": elapsed_ms,
    }


def journal_call(call: dict) -> None:
    journal = services().journal
    if not journal.enabled:
        return
    try:  # kept when the body did not parse, or is too deep to keep as JSON
        raw = request.get_data(cache=True)
    except Exception:  # noqa: BLE001 - e.g. a body over the size limit: keep no body
        raw = None
    try:
        journal.record(call, request_body=g.get("ams_request_body"), request_raw=raw,
                       response_body=g.get("ams_response_body"))
    except Exception as exc:  # noqa: BLE001 - the journal must never break an answer
        log.warning("request journal: could not record %s %s: %s", call["method"], call["path"],
                    type(exc).__name__)
