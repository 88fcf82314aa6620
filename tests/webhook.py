"""A merchant's notification endpoint for the tests: it verifies every callback with
the official SDK's `webhook_tool.check_signature` and answers from a script.

Mount it on pytest-httpserver: `server.expect_request(re.compile("^/notify"),
method="POST").respond_with_handler(receiver.handle)`.
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from com.alipay.ams.api.tools.webhook_tool import check_signature
from werkzeug import Request, Response

ACK_BODY = {"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}}
ACK = (200, json.dumps(ACK_BODY))


@dataclass
class Call:
    path: str
    headers: dict
    raw: str
    body: dict | None
    verified: bool
    verify_error: str | None
    answered: tuple = field(default=ACK)
    received_monotonic: float = 0.0

    @property
    def vaulting_request_id(self) -> str | None:
        return (self.body or {}).get("vaultingRequestId")

    @property
    def request_time(self) -> str:
        return self.headers.get("request-time", "")


class Receiver:
    """Records every callback. `script[vaultingRequestId]` lists the answers for its successive
    calls: (status, text), ("sleep", seconds) to answer after a pause, or ("hold", event)
    to answer only once the event is set; after the script runs out it answers ACK."""

    def __init__(self, alipay_public_key: str):
        self.key = alipay_public_key
        self.calls: list[Call] = []
        self.script: dict[str, list] = {}
        self.default = ACK
        self._cond = threading.Condition()

    def handle(self, request: Request) -> Response:
        raw = request.get_data(as_text=True)
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified, problem = False, None
        try:
            verified = bool(check_signature("POST", request.path, headers.get("client-id", ""),
                                            headers.get("request-time", ""), raw, headers.get("signature"),
                                            self.key))
        except Exception as exc:  # noqa: BLE001 - record why, the test asserts on it
            problem = f"{type(exc).__name__}: {exc}"
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        call = Call(request.path, headers, raw, body, verified, problem, received_monotonic=time.monotonic())
        with self._cond:
            steps = self.script.get(call.vaulting_request_id, [])
            answer = steps.pop(0) if steps else self.default
            call.answered = answer
            self.calls.append(call)
            self._cond.notify_all()
        if answer[0] == "sleep":
            time.sleep(answer[1])
            answer = ACK
        elif answer[0] == "hold":
            answer[1].wait(30)
            answer = ACK
        status, text = answer
        return Response(text, status=status, content_type="application/json")

    def calls_for(self, vaulting_request_id: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.vaulting_request_id == vaulting_request_id]

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "the expected callbacks"):
        """Block until predicate(receiver) is true; fail the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got {len(self.calls)} callbacks")
                self._cond.wait(min(remaining, 0.2))

    def wait_calls(self, vaulting_request_id: str, count: int, timeout: float = 20.0) -> list[Call]:
        self.wait_for(lambda r: len([c for c in r.calls if c.vaulting_request_id == vaulting_request_id]) >= count,
                      timeout, f"{count} callback(s) for {vaulting_request_id}")
        return self.calls_for(vaulting_request_id)


@contextmanager
def receiver_server():
    """A local HTTP server (pytest-httpserver, threaded) for a merchant's notification endpoint."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def mount(server, alipay_public_key: str) -> Receiver:
    """A fresh Receiver answering every POST to `server`."""
    import re

    receiver = Receiver(alipay_public_key)
    server.clear()
    server.expect_request(re.compile("^/"), method="POST").respond_with_handler(receiver.handle)
    return receiver


# -- driving a real `mockpay serve` (tests.support.ServerProcess) ------------------------

SANDBOX_VAULT = "/ams/sandbox/api/v1/vaults/vaultPaymentMethod"


def register(server, client_id: str) -> dict:
    """A client with a generated key pair: {clientId, merchantPrivateKey, alipayPublicKey}."""
    return json.loads(server.cli("clients", "add", client_id, "--generate", "--json").stdout)


def vault_over_http(server, client: dict, request_id: str, notification_url: str, **card) -> dict:
    """vaultPaymentMethod signed as the SDK signs it; the answer's signature is checked."""
    import requests

    from tests.support import response_verifies, sdk_body, signed_headers, vault_body

    body = vault_body(request_id, **card)
    body["vaultingNotificationUrl"] = notification_url
    text = sdk_body(body)
    headers = signed_headers(client["clientId"], client["merchantPrivateKey"], SANDBOX_VAULT, text)
    response = requests.post(server.base_url + SANDBOX_VAULT, data=text.encode(), headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response_verifies(SANDBOX_VAULT, response.headers, response.content, client["alipayPublicKey"])
    return response.json()


def admin(server, method: str, path: str, **kwargs):
    import requests

    response = requests.request(method, server.base_url + "/_mockpay" + path, timeout=30, **kwargs)
    assert response.status_code < 300, (response.status_code, response.text)
    return response.json()


def wait_until(fn, timeout: float = 20.0, what: str = "the condition"):
    """Poll fn() until it returns something truthy, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        time.sleep(0.05)
