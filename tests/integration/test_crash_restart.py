"""Crash and restart: SIGKILL a loaded `mockpay serve` (master and three workers, no
clean-up of any kind), start it again on the same data directory, and check that
nothing it promised is lost.

Six client threads send vaultPaymentMethod requests while a real receiver
acknowledges each notifyVaulting slowly, so that when the kill comes there are
requests half-processed and notifications being sent. After the restart:
- every vault that was answered S is stored, and inquireVaulting agrees (same token);
- requests cut off by the kill were either stored whole or not at all;
- every due notification is delivered (each vault's at least once; at-least-once is
  the contract, so one in flight at the kill may arrive twice), signed, and the outbox
  holds nothing pending.
"""
from __future__ import annotations

import signal
import sqlite3
import threading

import pytest
import requests

from tests.support import MC_OK, VISA_OK, ServerProcess, ams_call, response_verifies, vault_body
from tests.webhook import admin, mount, receiver_server, register, wait_until

VAULT = "/ams/sandbox/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/sandbox/api/v1/vaults/inquireVaulting"
THREADS = 6
PER_THREAD = 200  # an upper bound: the kill comes long before
KILL_AFTER = 90   # answered vaults


@pytest.fixture
def receiver_http():
    with receiver_server() as server:
        yield server


def vault_rows(data_dir) -> dict[str, tuple]:
    with sqlite3.connect(f"file:{data_dir / 'mockpay.sqlite3'}?mode=ro", uri=True) as db:
        return {rid: (status, token) for rid, status, token in
                db.execute("SELECT vaulting_request_id, status, card_token FROM vaults")}


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing_that_was_answered(tmp_path, receiver_http):
    data = tmp_path / "data"
    server = ServerProcess(data, workers=3, env={"MOCKPAY_NOTIFY_TIMEOUT": "5"}).start()
    try:
        client = register(server, "SANDBOX_CRASH")
        server.client = client
        receiver = mount(receiver_http, client["alipayPublicKey"])
        receiver.default = ("sleep", 0.4)  # acknowledge, slowly: notifications are in flight at the kill
        url = receiver_http.url_for("/notify")

        answered: dict[str, str] = {}  # vaultingRequestId -> cardToken of an S answer
        cut_off: list[str] = []        # sent, no answer (the kill)
        failures: list[str] = []       # an assert in a thread only ends the thread: record it here
        lock = threading.Lock()
        stop = threading.Event()

        def load(n: int) -> None:
            try:
                send(n)
            except Exception as exc:  # AssertionError included
                with lock:
                    failures.append(f"load thread {n}: {exc!r}")

        def send(n: int) -> None:
            session = requests.Session()
            for i in range(PER_THREAD):
                if stop.is_set():
                    return
                request_id = f"crash-{n}-{i:03d}"
                body = vault_body(request_id, VISA_OK if i % 2 else MC_OK)
                body["vaultingNotificationUrl"] = url
                try:
                    response = ams_call(server, VAULT, body, session=session, verify_answer=False)
                except requests.RequestException:
                    with lock:
                        cut_off.append(request_id)
                    return
                assert response.status_code == 200, (request_id, response.status_code, response.text[:300])
                assert response_verifies(VAULT, response.headers, response.content,
                                         client["alipayPublicKey"]), request_id
                answer = response.json()
                assert answer["result"]["resultCode"] == "SUCCESS", answer
                with lock:
                    answered[request_id] = answer["paymentMethodDetail"]["card"]["cardToken"]

        threads = [threading.Thread(target=load, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        wait_until(lambda: len(answered) >= KILL_AFTER or failures, timeout=60, what=f"{KILL_AFTER} answered vaults")
        assert not failures, failures
        wait_until(lambda: receiver.calls, timeout=30, what="notifications on their way")
        server.kill()
        stop.set()
        for t in threads:
            t.join(30)
        assert not [t for t in threads if t.is_alive()], "a load thread still running 30 s after the kill"
        assert not failures, failures
        assert server.proc.returncode == -signal.SIGKILL
        at_kill = dict(answered)

        # the data directory as the kill left it: every S answer is stored, SUCCESS
        stored = vault_rows(data)
        assert {rid: stored.get(rid) for rid in at_kill} == {rid: ("SUCCESS", tok) for rid, tok in at_kill.items()}
        for rid in cut_off:  # stored whole (a token and all) or not at all
            assert rid not in stored or stored[rid][0] == "SUCCESS" and stored[rid][1]

        server = ServerProcess(data, port=server.port, workers=3, env={"MOCKPAY_NOTIFY_TIMEOUT": "5"}).start()
        server.client = client
        receiver.default = ("sleep", 0)
        session = requests.Session()
        for rid, token in at_kill.items():
            inquiry = ams_call(server, INQUIRE, {"vaultingRequestId": rid}, session=session).json()
            assert inquiry["vaultingStatus"] == "SUCCESS", inquiry
            assert inquiry["paymentMethodDetail"]["card"]["cardToken"] == token

        # every vault's notification: due at once (delay 0), so it must arrive after the restart
        def everything_delivered():
            pending = admin(server, "GET", "/notifications", params={"status": "pending", "limit": 1000})
            return not pending["notifications"]
        wait_until(everything_delivered, timeout=40, what="the outbox to empty after the restart")
        delivered = admin(server, "GET", "/notifications", params={"status": "delivered", "limit": 1000})
        assert {n["vaultingRequestId"] for n in delivered["notifications"]} == set(stored)
        heard = {c.vaulting_request_id for c in receiver.calls if c.verified}
        assert set(stored) <= heard, sorted(set(stored) - heard)[:5]
        assert all(c.verified for c in receiver.calls)
        print(f"{len(at_kill)} answered before the kill, {len(cut_off)} cut off, {len(stored)} stored, "
              f"{len(receiver.calls)} callbacks for {len(heard)} vaults")
    finally:
        server.stop()
