"""notifyVaulting (issue 4), in process: the outbox, the real HTTP transport against a real
local receiver (pytest-httpserver), the retry schedule driven by the mock clock, the admin
endpoints and the CLI. The dispatcher is driven synchronously with `run_once()` here; the
tests under tests/integration/ run it in real gunicorn workers."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import threading

import pytest
from click.testing import CliRunner

from mockpay import create_app
from mockpay.cli import main as cli
from tests.conftest import Caller
from tests.support import OWN_OK, WallClock, vault_body
from tests.webhook import ACK, Receiver

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"
SCHEDULE = (0, 120, 600, 600, 3600, 7200, 21600, 54000)


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


class Harness:
    def __init__(self, tmp_path, merchant_keys, httpserver, **overrides):
        config = {"data_dir": tmp_path / "data", "testing": True, "dispatcher": False, "notify_timeout": 1.0}
        config.update(overrides)
        self.app = create_app(config)
        self.svc = self.app.extensions["mockpay"]
        self.svc.clients.add("SANDBOX_NOTIFY", public_key=merchant_keys["public"])
        self.merchant = {"client_id": "SANDBOX_NOTIFY", "private_key": merchant_keys["private"],
                         "alipay_public_key": self.svc.keyring.public_key_body}
        self.ams = Caller(self.app, self.merchant)
        self.admin = self.app.test_client()
        self.receiver = Receiver(self.svc.keyring.public_key_body)
        self.httpserver = httpserver
        httpserver.expect_request(re.compile("^/"), method="POST").respond_with_handler(self.receiver.handle)

    def url(self, path: str = "/notify") -> str:
        return self.httpserver.url_for(path)

    def vault(self, request_id: str, url: str | None = None, metadata: str | None = None, **card) -> dict:
        body = vault_body(request_id, **card)
        body["vaultingNotificationUrl"] = url or self.url()
        if metadata is not None:
            body["metadata"] = metadata
        return self.ams.call(VAULT, body)

    def notification(self, request_id: str) -> dict:
        found = self.admin.get(f"/_mockpay/notifications?vaultingRequestId={request_id}").get_json()["notifications"]
        assert len(found) == 1, found
        return found[0]

    def advance(self, seconds: float) -> dict:
        response = self.admin.post("/_mockpay/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def run(self) -> int:
        return self.svc.dispatcher.run_once()


@pytest.fixture
def make_harness(tmp_path, merchant_keys, httpserver):
    made = []

    def make(**overrides) -> Harness:
        h = Harness(tmp_path, merchant_keys, httpserver, **overrides)
        made.append(h)
        return h

    yield make
    for h in made:
        h.svc.dispatcher.stop()
        h.svc.store.close()


@pytest.fixture
def h(make_harness) -> Harness:
    return make_harness()


# -- the callback -----------------------------------------------------------------------

def test_a_final_vault_enqueues_one_notification_and_sends_nothing_by_itself(h):
    h.vault("v-enqueue")
    n = h.notification("v-enqueue")
    assert n["status"] == "pending"
    assert [a["state"] for a in n["attempts"]] == ["scheduled"]
    assert n["attempts"][0]["scheduledAt"] == n["createdAt"]
    assert n["maxAttempts"] == 8
    assert h.receiver.calls == []  # the dispatcher is off in this app


def test_callback_is_signed_and_the_sdk_check_signature_accepts_it(h):
    h.vault("v-signed", metadata="order=42")
    assert h.run() == 1
    [call] = h.receiver.calls_for("v-signed")
    assert call.verified, call.verify_error
    assert call.headers["content-type"] == "application/json; charset=UTF-8"
    assert call.headers["client-id"] == "SANDBOX_NOTIFY"
    assert call.headers["signature"].startswith("algorithm=RSA256,keyVersion=1,signature=")
    value = call.headers["signature"].split("signature=", 1)[1]
    assert "=" not in value and "+" not in value and "/" not in value  # URL-encoded
    sent = ts(call.request_time)
    assert sent.utcoffset() == dt.timedelta(0)

    inquired = h.ams.call(INQUIRE, {"vaultingRequestId": "v-signed"})
    body = call.body
    assert body["result"] == {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success."}
    assert body["vaultingRequestId"] == "v-signed"
    assert body["paymentMethodDetail"] == inquired["paymentMethodDetail"]
    assert ts(body["vaultingCreateTime"]).utcoffset() == dt.timedelta(0)
    assert body["metadata"] == "order=42"
    assert "4054695723100768" not in call.raw

    n = h.notification("v-signed")
    assert n["status"] == "delivered"
    assert n["body"] == body
    [attempt] = n["attempts"]
    assert attempt["state"] == "acked" and attempt["httpStatus"] == 200 and attempt["error"] is None
    assert attempt["requestTime"] == call.request_time
    assert json.loads(attempt["response"]) == json.loads(ACK[1])
    assert attempt["latencyMs"] >= 0


def test_a_tampered_callback_fails_the_sdk_check(h):
    """The receiver's verification is live: a body changed after signing does not pass."""
    from com.alipay.ams.api.tools.webhook_tool import check_signature
    h.vault("v-tamper")
    h.run()
    [call] = h.receiver.calls_for("v-tamper")
    tampered = call.raw.replace('"S"', '"F"', 1)
    assert tampered != call.raw
    with pytest.raises(Exception):
        assert check_signature("POST", call.path, call.headers["client-id"], call.request_time, tampered,
                               call.headers["signature"], h.svc.keyring.public_key_body)


def test_failed_vault_notifies_F_without_payment_method_detail(h):
    answer = h.vault("v-expired", card_no=OWN_OK, expiryYear="20")  # expired card: VERIFICATION_FAIL
    assert answer["result"]["resultStatus"] == "F"
    h.run()
    [call] = h.receiver.calls_for("v-expired")
    assert call.verified
    assert call.body["result"] == {"resultStatus": "F", "resultCode": "VERIFICATION_FAIL",
                                   "resultMessage": answer["result"]["resultMessage"]}
    assert "paymentMethodDetail" not in call.body
    assert "metadata" not in call.body


def test_the_signed_path_is_the_notification_urls_path_without_the_query(h):
    h.vault("v-query", url=h.url("/hooks/antom") + "?shop=7&x=y")
    h.run()
    [call] = h.receiver.calls_for("v-query")
    assert call.path == "/hooks/antom"
    assert call.verified, call.verify_error


def test_a_rejected_request_sends_no_notification(h):
    body = vault_body("v-rejected", expiryMonth="13")
    body["vaultingNotificationUrl"] = h.url()
    assert h.ams.call(VAULT, body)["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert h.run() == 0
    assert h.svc.store.count_notifications() == 0


def test_an_identical_retry_of_vault_payment_method_does_not_notify_twice(h):
    h.vault("v-replay")
    h.vault("v-replay")
    assert h.svc.store.count_notifications() == 1


def _final_vault(h, **changes) -> dict:
    vault = {"id": None, "client_id": "SANDBOX_NOTIFY", "vaulting_request_id": "v-tx", "status": "SUCCESS",
             "result_status": "S", "result_code": "SUCCESS", "result_message": "success.",
             "payment_method_detail": None, "metadata": None, "created_at": h.svc.clock.now(),
             "notification_url": h.url(), "vaulting_result_message": None}
    vault.update(changes)
    return vault


def test_enqueue_shares_the_vaults_transaction(h):
    """A notification is stored only if the transaction that made the vault final commits."""
    with pytest.raises(RuntimeError):
        with h.svc.store.tx() as db:
            assert h.svc.notifier.on_final(db, _final_vault(h)) is not None
            raise RuntimeError("the vault write failed after the listener ran")
    assert h.svc.store.count_notifications() == 0
    with h.svc.store.tx() as db:
        h.svc.notifier.on_final(db, _final_vault(h))
    assert h.svc.store.count_notifications() == 1


def test_no_notification_url_means_no_notification(h):
    with h.svc.store.tx() as db:
        assert h.svc.notifier.on_final(db, _final_vault(h, notification_url=None)) is None
    assert h.svc.store.count_notifications() == 0


# -- what is and is not an acknowledgement --------------------------------------------

def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/notify"


@pytest.mark.parametrize("answer, status, error", [
    ((500, "oops"), 500, "HTTP 500"),
    ((204, ""), 204, "HTTP 204"),
    ((200, "OK"), 200, "the answer is not JSON"),
    ((200, "[1, 2]"), 200, "the answer has no result object"),
    ((200, '{"result": {"resultStatus": "F", "resultCode": "SUCCESS"}}'), 200, "resultStatus='F'"),
    ((200, '{"result": {"resultStatus": "S", "resultCode": "OK"}}'), 200, "resultCode='OK'"),
    ((200, "[" * 50_000), 200, "the answer is not JSON"),  # nested past Python's recursion limit
    (("sleep", 2.0), None, "timeout"),
])
def test_anything_but_an_ack_is_a_failed_attempt(h, answer, status, error):
    h.receiver.script["v-nack"] = [answer]
    h.vault("v-nack")
    h.run()
    assert len(h.receiver.calls_for("v-nack")) == 1
    n = h.notification("v-nack")
    assert n["status"] == "pending"
    first, second = n["attempts"]
    assert first["state"] == "failed"
    assert first["httpStatus"] == status
    assert error in first["error"]
    assert second["state"] == "scheduled"
    assert ts(second["scheduledAt"]) - ts(first["sentAt"]) == dt.timedelta(seconds=120)


def test_a_refused_connection_is_a_failed_attempt(h):
    h.vault("v-refused", url=_closed_port_url())
    h.run()
    first, second = h.notification("v-refused")["attempts"]
    assert first["state"] == "failed" and first["httpStatus"] is None
    assert first["error"] == "connection refused"
    assert second["state"] == "scheduled"


@pytest.mark.parametrize("host", ["shop.example", "Hooks.Shop.EXAMPLE.", "nowhere.invalid"])
def test_a_reserved_domain_fails_without_asking_dns(h, monkeypatch, host):
    # the request builders' default notification URL is on .example: where no resolver
    # answers, each attempt would wait out the resolver's timeout
    def no_dns(*args, **kwargs):
        raise AssertionError(f"DNS was asked: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    h.vault("v-reserved", url=f"https://{host}/notify")
    h.run()
    first, second = h.notification("v-reserved")["attempts"]
    assert first["state"] == "failed" and first["httpStatus"] is None
    assert first["error"].startswith("name resolution failed: ")
    assert "reserved domain" in first["error"]
    assert second["state"] == "scheduled"


def test_a_url_http_client_cannot_send_is_a_failed_attempt_that_says_so(h):
    # the API takes a space in vaultingNotificationUrl (printable ASCII); http.client does not
    h.vault("v-space", url=h.url("/my hook"))
    h.run()
    first, second = h.notification("v-space")["attempts"]
    assert first["state"] == "failed" and first["httpStatus"] is None
    assert first["error"].startswith("invalid notification URL: "), first["error"]
    assert second["state"] == "scheduled"


def test_only_the_first_kilobyte_of_the_answer_is_kept(h):
    h.receiver.script["v-big"] = [(500, "x" * 5000)]
    h.vault("v-big")
    h.run()
    first = h.notification("v-big")["attempts"][0]
    assert first["response"] == "x" * 1024


def test_the_transport_can_be_swapped(h):
    """Notifier.transport is a plain callable: tests can answer without a network."""
    from mockpay.notify import HttpAnswer
    seen = []

    def fake(url, headers, body, timeout):
        seen.append((url, headers["client-id"], json.loads(body)["vaultingRequestId"], timeout))
        if len(seen) == 1:
            raise ConnectionResetError("peer went away")
        return HttpAnswer(200, ACK[1].encode())

    h.svc.notifier.transport = fake
    h.vault("v-fake", url="https://merchant.invalid/hook")
    h.run()
    h.advance(120)
    h.run()
    assert seen == [("https://merchant.invalid/hook", "SANDBOX_NOTIFY", "v-fake", 1.0)] * 2
    n = h.notification("v-fake")
    assert [(a["state"], a["error"]) for a in n["attempts"]] == \
        [("failed", "ConnectionResetError: peer went away"), ("acked", None)]
    assert h.receiver.calls == []


# -- the schedule ----------------------------------------------------------------------

def test_retries_follow_the_schedule_and_stop_after_the_ack(h):
    h.receiver.script["v-sched"] = [(500, "no"), (503, "busy"), (200, "not json")]
    h.vault("v-sched")
    assert h.run() == 1
    for k, interval in enumerate(SCHEDULE[1:4], start=2):
        n = h.notification("v-sched")
        due = ts(n["nextAttemptAt"])
        assert due - ts(n["attempts"][-2]["sentAt"]) == dt.timedelta(seconds=interval)
        h.advance(interval - 30)  # not yet due
        assert h.run() == 0
        h.advance(30)
        assert h.run() == 1
        calls = h.receiver.calls_for("v-sched")
        assert len(calls) == k
        assert ts(calls[-1].request_time) >= due
    n = h.notification("v-sched")
    assert n["status"] == "delivered"
    assert [a["state"] for a in n["attempts"]] == ["failed", "failed", "failed", "acked"]
    assert [a["httpStatus"] for a in n["attempts"]] == [500, 503, 200, 200]
    assert all(c.verified for c in h.receiver.calls_for("v-sched"))
    h.advance(48 * 3600)
    assert h.run() == 0
    assert len(h.receiver.calls_for("v-sched")) == 4


def test_given_up_after_eight_failed_attempts(h):
    h.receiver.script["v-giveup"] = [(500, "down")] * 20
    h.vault("v-giveup")
    h.run()
    sent_times = [ts(h.notification("v-giveup")["attempts"][0]["sentAt"])]
    for interval in SCHEDULE[1:]:
        h.advance(interval)
        assert h.run() == 1
        sent = [a for a in h.notification("v-giveup")["attempts"] if a["sentAt"]]
        sent_times.append(ts(sent[-1]["sentAt"]))
    n = h.notification("v-giveup")
    assert n["status"] == "given_up"
    assert n["nextAttemptAt"] is None
    assert [a["scheduleIndex"] for a in n["attempts"]] == list(range(1, 9))
    gaps = [(b - a).total_seconds() for a, b in zip(sent_times, sent_times[1:])]
    assert all(gap >= interval for gap, interval in zip(gaps, SCHEDULE[1:]))
    h.advance(72 * 3600)
    assert h.run() == 0
    assert len(h.receiver.calls_for("v-giveup")) == 8


def test_notify_once_sends_a_single_attempt_like_antoms_sandbox(make_harness):
    h = make_harness(notify_once=True)
    h.receiver.script["v-once"] = [(500, "down")]
    h.vault("v-once")
    h.run()
    n = h.notification("v-once")
    assert n["status"] == "given_up" and n["maxAttempts"] == 1 and len(n["attempts"]) == 1
    h.advance(86400)
    assert h.run() == 0


def test_custom_schedule_and_delay(make_harness, monkeypatch):
    h = make_harness(notify_schedule="0,5", notify_delay=3)
    WallClock(monkeypatch)  # 3 s of a loaded machine between the vault and the run made it due
    h.receiver.script["v-custom"] = [(500, "down")] * 5
    h.vault("v-custom")
    assert h.run() == 0  # the first attempt waits notify_delay
    h.advance(3)
    assert h.run() == 1
    h.advance(5)
    assert h.run() == 1
    n = h.notification("v-custom")
    assert n["status"] == "given_up" and len(n["attempts"]) == 2


# -- resend ------------------------------------------------------------------------------

def test_resend_a_delivered_notification(h):
    h.vault("v-resend")
    h.run()
    n = h.notification("v-resend")
    response = h.admin.post(f"/_mockpay/notifications/{n['id']}/resend")
    assert response.status_code == 202
    assert response.get_json()["attempts"][-1]["state"] == "scheduled"
    assert h.run() == 1
    calls = h.receiver.calls_for("v-resend")
    assert len(calls) == 2 and all(c.verified for c in calls)
    assert calls[0].raw == calls[1].raw
    n = h.notification("v-resend")
    assert n["status"] == "delivered"
    assert [(a["manual"], a["state"]) for a in n["attempts"]] == [(False, "acked"), (True, "acked")]


def test_resend_revives_a_given_up_notification(make_harness):
    h = make_harness(notify_once=True)
    h.receiver.script["v-revive"] = [(500, "down")]
    h.vault("v-revive")
    h.run()
    n = h.notification("v-revive")
    assert n["status"] == "given_up"
    h.admin.post(f"/_mockpay/notifications/{n['id']}/resend")
    h.run()
    assert h.notification("v-revive")["status"] == "delivered"


def test_an_acked_resend_cancels_the_pending_retries(h):
    h.receiver.script["v-cancel"] = [(500, "down")]
    h.vault("v-cancel")
    h.run()
    n = h.notification("v-cancel")
    h.admin.post(f"/_mockpay/notifications/{n['id']}/resend")
    h.run()
    n = h.notification("v-cancel")
    assert n["status"] == "delivered"
    assert [a["state"] for a in n["attempts"]] == ["failed", "cancelled", "acked"]
    h.advance(86400)
    assert h.run() == 0
    assert len(h.receiver.calls_for("v-cancel")) == 2


def test_resend_unknown_notification(h):
    response = h.admin.post("/_mockpay/notifications/999/resend")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


# -- claims and leases --------------------------------------------------------------------

def test_an_attempt_is_claimed_by_one_dispatcher_and_a_dead_claim_is_retaken(h):
    import time
    h.vault("v-claim")
    notifier, store = h.svc.notifier, h.svc.store
    first = notifier.claim("111:a", 10)
    assert [a["vaulting_request_id"] for a in first] == ["v-claim"]
    assert notifier.claim("222:b", 10) == []  # taken: nobody else gets it
    # worker 111 dies; once its lease has run out another dispatcher retakes the attempt
    later = time.time() + notifier.lease + 1
    retaken = store.claim_attempts("333:c", h.svc.clock.now(), later, later + notifier.lease, 10)
    assert [a["id"] for a in retaken] == [first[0]["id"]]
    assert notifier.deliver(retaken[0]) == "acked"
    # the first claimant comes back late: its outcome is dropped, nothing is sent twice by the outbox
    assert notifier.deliver(first[0]) == "lost"
    n = h.notification("v-claim")
    assert [a["state"] for a in n["attempts"]] == ["acked"]
    assert n["status"] == "delivered"


def test_claims_of_a_dead_process_on_this_machine_are_released_at_once(h):
    """proof (issue 7): after a SIGKILL the restarted server sends at once what the dead
    workers had claimed, instead of waiting out their lease; live or foreign claims stay."""
    import subprocess
    import sys
    from mockpay.notify import host_key
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid that has just exited
    owners = {"dead": f"{dead}:{host_key()}:aaaa", "alive": f"{os.getppid()}:{host_key()}:bbbb",
              "elsewhere": f"{dead}:0123abcd:cccc", "old-format": f"{dead}:dddd"}
    notifier = h.svc.notifier
    for name, owner in owners.items():
        h.vault(f"v-{name}")
        [claimed] = notifier.claim(owner, 1)
        assert claimed["vaulting_request_id"] == f"v-{name}"
    assert notifier.claim("999:x:y", 10) == []  # all four held
    assert notifier.release_dead_claims() == 1
    retaken = notifier.claim("999:x:y", 10)
    assert [a["vaulting_request_id"] for a in retaken] == ["v-dead"]
    assert notifier.deliver(retaken[0]) == "acked"
    assert [a["state"] for a in h.notification("v-dead")["attempts"]] == ["acked"]


def test_a_dispatcher_claims_in_its_pid_and_host_key(h):
    from mockpay.notify import host_key
    pid, key, _ = h.svc.dispatcher.owner.split(":")
    assert (int(pid), key) == (os.getpid(), host_key())
    h.vault("v-owner")
    h.run()
    assert h.notification("v-owner")["attempts"][0]["workerPid"] == os.getpid()


# -- the background dispatcher ------------------------------------------------------------

def test_the_dispatcher_thread_sends_without_blocking_the_api(make_harness):
    h = make_harness(dispatcher=True, dispatch_interval=0.05)
    hold = threading.Event()
    h.receiver.script["v-bg"] = [("hold", hold)]
    try:
        answer = h.vault("v-bg")  # returns although the merchant has not answered yet
        assert answer["result"]["resultCode"] == "SUCCESS"
        h.receiver.wait_calls("v-bg", 1)
        assert h.notification("v-bg")["attempts"][0]["state"] == "sending"
    finally:
        hold.set()
    h.receiver.wait_for(lambda r: h.notification("v-bg")["status"] == "delivered", what="the ack to be recorded")


def test_clock_advance_wakes_the_dispatcher(make_harness):
    h = make_harness(dispatcher=True, dispatch_interval=0.05)
    h.receiver.script["v-wake"] = [(500, "down")]
    h.vault("v-wake")
    h.receiver.wait_calls("v-wake", 1)
    h.receiver.wait_for(lambda r: h.notification("v-wake")["nextAttemptAt"] is not None, what="the retry")
    answer = h.advance(120)
    assert answer["advancedBy"] == 120
    h.receiver.wait_calls("v-wake", 2)


def test_dispatcher_tasks_run_every_tick_and_a_failing_task_does_not_stop_them(make_harness):
    h = make_harness(dispatch_interval=0.02)
    ran = []

    def broken():
        raise RuntimeError("boom")

    h.svc.dispatcher.add_task(broken)
    h.svc.dispatcher.add_task(lambda: ran.append(1))
    h.run()
    assert ran == [1]
    h.svc.dispatcher.start()
    h.receiver.wait_for(lambda r: len(ran) >= 5, what="five ticks")
    h.svc.dispatcher.stop()
    assert not h.svc.dispatcher.running



def test_a_challenge_left_open_past_its_ttl_fails_on_a_dispatcher_tick_and_is_notified(h, monkeypatch):
    """The dispatcher's periodic task expires challenges: nobody calls inquireVaulting."""
    WallClock(monkeypatch)  # a second of a loaded machine before the first run expired it
    answer = h.vault("v-3ds-expire", cardNo="4000000201000009")  # the catalogue's normalUrl challenge
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS"
    h.advance(h.svc.config.challenge_ttl - 1)
    assert h.run() == 0
    assert h.svc.store.get_vault("SANDBOX_NOTIFY", "v-3ds-expire")["status"] == "PROCESSING"
    h.advance(1)
    assert h.run() == 1
    [call] = h.receiver.calls_for("v-3ds-expire")
    assert call.verified, call.verify_error
    assert call.body["result"]["resultStatus"] == "F"
    assert "paymentMethodDetail" not in call.body
    vault = h.svc.store.get_vault("SANDBOX_NOTIFY", "v-3ds-expire")
    assert (vault["status"], vault["vaulting_result_code"]) == ("FAIL", "USER_PAYMENT_VERIFICATION_FAILED")


# -- the clock ------------------------------------------------------------------------------

def test_clock_endpoints(h):
    shown = h.admin.get("/_mockpay/clock").get_json()
    assert shown["scale"] == 1.0
    assert ts(shown["now"]).utcoffset() == dt.timedelta(0)
    advanced = h.advance(3600)
    assert advanced["epoch"] >= shown["epoch"] + 3600
    assert ts(advanced["now"]) >= ts(shown["now"]) + dt.timedelta(hours=1)
    again = h.admin.get("/_mockpay/clock").get_json()
    assert again["epoch"] >= advanced["epoch"]


@pytest.mark.parametrize("body", [{}, {"seconds": -1}, {"seconds": "60"}, {"seconds": True}, [60]])
def test_clock_advance_rejects_bad_input(h, body):
    before = h.svc.clock.now()
    response = h.admin.post("/_mockpay/clock/advance", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "BAD_REQUEST"
    assert h.svc.clock.now() - before < 60


def test_advance_reports_what_fell_due(h):
    h.receiver.script["v-due"] = [(500, "down")]
    h.vault("v-due")
    h.run()
    assert h.advance(10)["dueNotificationAttempts"] == 0
    assert h.advance(110)["dueNotificationAttempts"] == 1


def test_time_scale_from_the_environment_reaches_the_clock(tmp_path, monkeypatch):
    monkeypatch.setenv("MOCKPAY_TIME_SCALE", "60")
    app = create_app({"data_dir": tmp_path / "d", "dispatcher": False})
    assert app.test_client().get("/_mockpay/clock").get_json()["scale"] == 60.0
    app.extensions["mockpay"].store.close()


# -- inspection --------------------------------------------------------------------------

def test_list_filters(h, merchant_keys):
    h.svc.clients.add("SANDBOX_OTHER", public_key=merchant_keys["public"])
    other = Caller(h.app, {**h.merchant, "client_id": "SANDBOX_OTHER"})
    h.receiver.script["f-2"] = [(500, "down")]
    h.vault("f-1")
    h.vault("f-2")
    body = vault_body("f-3")
    body["vaultingNotificationUrl"] = h.url()
    other.call(VAULT, body)
    h.run()

    def ids(query: str) -> list[str]:
        response = h.admin.get("/_mockpay/notifications" + query)
        assert response.status_code == 200
        return sorted(n["vaultingRequestId"] for n in response.get_json()["notifications"])

    assert ids("") == ["f-1", "f-2", "f-3"]
    assert ids("?clientId=SANDBOX_OTHER") == ["f-3"]
    assert ids("?status=pending") == ["f-2"]
    assert ids("?status=delivered&clientId=SANDBOX_NOTIFY") == ["f-1"]
    assert ids("?vaultingRequestId=f-2") == ["f-2"]
    assert ids("?status=given_up") == []
    bad = h.admin.get("/_mockpay/notifications?status=lost")
    assert bad.status_code == 400 and "status" in bad.get_json()["error"]["message"]
    assert h.admin.get("/_mockpay/notifications?limit=0").status_code == 400
    one = h.admin.get("/_mockpay/notifications?vaultingRequestId=f-1").get_json()["notifications"][0]
    assert h.admin.get(f"/_mockpay/notifications/{one['id']}").get_json() == one
    assert h.admin.get("/_mockpay/notifications/9999").status_code == 404


# -- CLI -----------------------------------------------------------------------------------

def test_cli_clock_and_notifications(h, tmp_path):
    data_dir = str(tmp_path / "data")
    runner = CliRunner()
    h.receiver.script["c-1"] = [(500, "down")]
    h.vault("c-1")
    h.run()

    out = runner.invoke(cli, ["--data-dir", data_dir, "notifications", "list", "--json"])
    assert out.exit_code == 0, out.output
    [n] = json.loads(out.output)["notifications"]
    assert n["vaultingRequestId"] == "c-1" and n["status"] == "pending"
    assert n == h.notification("c-1")

    text = runner.invoke(cli, ["--data-dir", data_dir, "notifications", "list"]).output
    assert f"#{n['id']}" in text and "pending" in text and "HTTP 500" in text and "scheduled for" in text

    out = runner.invoke(cli, ["--data-dir", data_dir, "clock", "advance", "120", "--json"])
    assert out.exit_code == 0, out.output
    advanced = json.loads(out.output)
    assert advanced["dueNotificationAttempts"] == 1
    assert h.run() == 1
    assert h.notification("c-1")["status"] == "delivered"

    shown = json.loads(runner.invoke(cli, ["--data-dir", data_dir, "clock", "show", "--json"]).output)
    assert shown["epoch"] >= advanced["epoch"]

    out = runner.invoke(cli, ["--data-dir", data_dir, "notifications", "resend", str(n["id"])])
    assert out.exit_code == 0 and "queued" in out.output
    assert h.run() == 1
    assert len(h.receiver.calls_for("c-1")) == 3

    out = runner.invoke(cli, ["--data-dir", data_dir, "notifications", "resend", "4242"])
    assert out.exit_code != 0 and "no notification 4242" in out.output
    out = runner.invoke(cli, ["--data-dir", data_dir, "clock", "advance", "-5"])
    assert out.exit_code != 0


def test_cli_leaves_a_servers_time_scale_alone(h, tmp_path):
    h.svc.store.clock_reanchor(scale=50.0)  # as `mockpay serve --time-scale 50` would
    out = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "clock", "show", "--json"])
    assert json.loads(out.output)["scale"] == 50.0
    assert h.svc.clock.scale == 50.0
