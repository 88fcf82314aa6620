"""notifyVaulting against a real `mockpay serve` (gunicorn, dispatcher threads in the
workers) and a real local receiver that verifies every callback with the SDK's
check_signature: the retry schedule over clock advances, giving up, resend, a restart
with a notification pending, --time-scale, and a vault made through the official SDK."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from tests.integration.sdk import execute, inquire_request, vault_request
from tests.support import ServerProcess
from tests.webhook import Receiver, admin, mount, receiver_server, register, vault_over_http, wait_until

SCHEDULE = (0, 120, 600, 600, 3600, 7200, 21600, 54000)
NACK_F = json.dumps({"result": {"resultStatus": "F", "resultCode": "SYSTEM_ERROR", "resultMessage": "x"}})


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def new_id(prefix: str = "n") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def receiver_http():
    with receiver_server() as server:
        yield server


@pytest.fixture(scope="module")
def notify_server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("notify") / "data", workers=2,
                           env={"MOCKPAY_NOTIFY_TIMEOUT": "2"}).start()
    server.client = register(server, "SANDBOX_NOTIFY")
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_http, notify_server) -> Receiver:
    return mount(receiver_http, notify_server.client["alipayPublicKey"])


def notification(server, request_id: str) -> dict:
    [found] = admin(server, "GET", "/notifications", params={"vaultingRequestId": request_id})["notifications"]
    return found


def advance(server, seconds: float) -> dict:
    return admin(server, "POST", "/clock/advance", json={"seconds": seconds})


def recorded(server, request_id: str, attempts: int) -> dict:
    """Wait until the server has recorded `attempts` finished attempts (and scheduled what follows)."""
    def done():
        n = notification(server, request_id)
        finished = [a for a in n["attempts"] if a["state"] in ("acked", "failed")]
        sending = [a for a in n["attempts"] if a["state"] == "sending"]
        return n if len(finished) >= attempts and not sending else None
    return wait_until(done, what=f"{attempts} recorded attempt(s) of {request_id}")


def barrier(server, receiver: Receiver, url: str) -> None:
    """Every dispatcher pass that was due has run once a newer notification has arrived."""
    request_id = new_id("barrier")
    vault_over_http(server, server.client, request_id, url)
    receiver.wait_calls(request_id, 1)


def test_retries_follow_the_schedule_and_stop_at_the_ack(notify_server, receiver, receiver_http):
    server, url = notify_server, receiver_http.url_for("/antom/notify")
    request_id = new_id()
    receiver.script[request_id] = [(500, "down"), (200, "<html>ok</html>"), (200, NACK_F)]
    vault_over_http(server, server.client, request_id, url)
    receiver.wait_calls(request_id, 1)

    for k, interval in enumerate(SCHEDULE[1:4], start=2):
        n = recorded(server, request_id, k - 1)
        last_sent = ts([a for a in n["attempts"] if a["sentAt"]][-1]["sentAt"])
        due = ts(n["nextAttemptAt"])
        assert due - last_sent == dt.timedelta(seconds=interval)
        advance(server, interval - 30)
        assert notification(server, request_id)["attempts"][-1]["state"] == "scheduled"
        assert len(receiver.calls_for(request_id)) == k - 1
        advance(server, 30)
        calls = receiver.wait_calls(request_id, k)
        assert ts(calls[-1].request_time) >= due

    n = recorded(server, request_id, 4)
    assert n["status"] == "delivered"
    assert [(a["state"], a["httpStatus"]) for a in n["attempts"]] == \
        [("failed", 500), ("failed", 200), ("failed", 200), ("acked", 200)]
    assert [a["error"] is not None for a in n["attempts"]] == [True, True, True, False]
    calls = receiver.calls_for(request_id)
    assert all(c.verified for c in calls), [c.verify_error for c in calls]
    assert all(c.path == "/antom/notify" for c in calls)
    times = [ts(c.request_time) for c in calls]
    assert all(b - a >= dt.timedelta(seconds=i) for a, b, i in zip(times, times[1:], SCHEDULE[1:]))

    advance(server, 48 * 3600)
    barrier(server, receiver, url)
    assert len(receiver.calls_for(request_id)) == 4
    assert notification(server, request_id)["nextAttemptAt"] is None


def test_given_up_after_eight_failures(notify_server, receiver, receiver_http):
    server, url = notify_server, receiver_http.url_for("/notify")
    request_id = new_id()
    receiver.script[request_id] = [(503, "unavailable")] * 20
    vault_over_http(server, server.client, request_id, url)
    for k, interval in enumerate(SCHEDULE[1:], start=2):
        recorded(server, request_id, k - 1)
        advance(server, interval)
        receiver.wait_calls(request_id, k)
    n = recorded(server, request_id, 8)
    assert n["status"] == "given_up"
    assert len(n["attempts"]) == 8 and all(a["httpStatus"] == 503 for a in n["attempts"])
    assert all(c.verified for c in receiver.calls_for(request_id))

    advance(server, 72 * 3600)
    barrier(server, receiver, url)
    assert len(receiver.calls_for(request_id)) == 8


def test_resend_over_http(notify_server, receiver, receiver_http):
    server = notify_server
    request_id = new_id()
    vault_over_http(server, server.client, request_id, receiver_http.url_for("/notify"))
    receiver.wait_calls(request_id, 1)
    n = recorded(server, request_id, 1)
    assert n["status"] == "delivered"
    again = admin(server, "POST", f"/notifications/{n['id']}/resend")
    assert again["attempts"][-1]["manual"] is True
    calls = receiver.wait_calls(request_id, 2)
    assert calls[1].verified and calls[1].raw == calls[0].raw
    assert [a["state"] for a in recorded(server, request_id, 2)["attempts"]] == ["acked", "acked"]


def test_cli_lists_what_the_server_sent(notify_server, receiver, receiver_http):
    request_id = new_id()
    receiver.script[request_id] = [(500, "down")]
    vault_over_http(notify_server, notify_server.client, request_id, receiver_http.url_for("/notify"))
    n = recorded(notify_server, request_id, 1)
    out = notify_server.cli("notifications", "list", "--vaulting-request-id", request_id, "--json")
    assert json.loads(out.stdout)["notifications"] == [n]
    text = notify_server.cli("notifications", "list", "--vaulting-request-id", request_id).stdout
    assert request_id in text and "HTTP 500" in text


def test_a_notification_pending_across_a_restart_is_sent_after_it(tmp_path, receiver_http):
    """SIGKILL the server (master and workers) while a notification waits for its first
    attempt; the attempt falls due while nothing runs; after a restart it arrives."""
    server = ServerProcess(tmp_path / "data", workers=2, env={"MOCKPAY_NOTIFY_DELAY": "60"}).start()
    try:
        server.client = register(server, "SANDBOX_RESTART")
        receiver = mount(receiver_http, server.client["alipayPublicKey"])
        request_id = new_id()
        vault_over_http(server, server.client, request_id, receiver_http.url_for("/notify"))
        n = notification(server, request_id)
        assert n["status"] == "pending" and [a["state"] for a in n["attempts"]] == ["scheduled"]

        server.kill()
        out = json.loads(server.cli("clock", "advance", "60", "--json").stdout)
        assert out["dueNotificationAttempts"] == 1
        assert receiver.calls_for(request_id) == []

        server.start()
        [call] = receiver.wait_calls(request_id, 1)
        assert call.verified, call.verify_error
        assert call.body["vaultingRequestId"] == request_id
        n = recorded(server, request_id, 1)
        assert n["status"] == "delivered" and len(n["attempts"]) == 1
    finally:
        server.stop()


def test_time_scale_runs_the_schedule_without_advances(tmp_path, receiver_http):
    server = ServerProcess(tmp_path / "data", workers=1, extra_args=("--time-scale", "600")).start()
    try:
        server.client = register(server, "SANDBOX_FAST")  # a CLI command: must not reset the scale
        assert admin(server, "GET", "/clock")["scale"] == 600
        assert json.loads(server.cli("clock", "show", "--json").stdout)["scale"] == 600
        receiver = mount(receiver_http, server.client["alipayPublicKey"])
        request_id = new_id()
        receiver.script[request_id] = [(500, "down")]
        vault_over_http(server, server.client, request_id, receiver_http.url_for("/notify"))
        first, second = receiver.wait_calls(request_id, 2, timeout=30)  # 120 s of mock time, no advance
        assert ts(second.request_time) - ts(first.request_time) >= dt.timedelta(seconds=120)
        assert recorded(server, request_id, 2)["status"] == "delivered"
    finally:
        server.stop()


def test_a_vault_made_with_the_official_sdk_is_notified(sdk_client, tls_server, receiver_http):
    receiver = mount(receiver_http, tls_server.client["alipayPublicKey"])
    request_id = new_id("sdk")
    answer = execute(sdk_client, vault_request(request_id, notification_url=receiver_http.url_for("/sdk/notify")))
    assert answer["result"]["resultCode"] == "SUCCESS"
    [call] = receiver.wait_calls(request_id, 1)
    assert call.verified, call.verify_error
    assert call.headers["client-id"] == tls_server.client["clientId"]
    inquired = execute(sdk_client, inquire_request(request_id))
    assert call.body["paymentMethodDetail"] == inquired["paymentMethodDetail"] == answer["paymentMethodDetail"]
    assert call.body["result"]["resultStatus"] == "S"
