"""A merchant's notification endpoint for the tests: it verifies every callback with
the official SDK's `webhook_tool.check_signature` and answers from a script.

Mount it on pytest-httpserver: `server.expect_request(re.compile("^/notify"),
method="POST").respond_with_handler(receiver.handle)`.
"""
from __future__ import annotations

import json
import threading
import time
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
