"""notifyVaulting delivery: what a bug hunt found, each test failing without its fix.
The harness (an in-process app, a real local receiver that checks every callback with
the SDK's check_signature, the dispatcher driven by run_once) is tests/test_notify.py's."""
from __future__ import annotations

import os
import select
import socket
import threading
import time

import pytest

from tests.test_notify import h, make_harness  # noqa: F401 - fixtures


def test_a_send_in_flight_across_a_reset_cannot_record_on_the_attempt_that_reused_its_id(h):
    """A test suite resets between tests while its last notification is still being sent
    (a merchant that hangs). SQLite gives the next test's notification and attempt the
    deleted ids again, and the same worker's dispatcher claims it: the late outcome of the
    old send was recorded on it (a failure with a retry), and the merchant's ack of the new
    one dropped as a lost claim."""
    notifier = h.svc.notifier
    owner = h.svc.dispatcher.owner
    h.vault("v-before-reset")
    [old] = notifier.claim(owner, 10)  # being sent when the reset comes
    assert h.admin.post("/_mockpay/reset", json={}).status_code == 200

    h.vault("v-after-reset")
    [new] = notifier.claim(owner, 10)
    assert (new["id"], new["notification_id"]) == (old["id"], old["notification_id"])  # the ids came back

    def merchant_gone(url, headers, body, timeout):
        raise TimeoutError("timed out")

    real = notifier.transport
    notifier.transport = merchant_gone
    assert notifier.deliver(old) == "lost"  # its notification is gone with the reset
    notifier.transport = real
    assert notifier.deliver(new) == "acked"

    n = h.notification("v-after-reset")
    assert n["status"] == "delivered"
    assert [(a["state"], a["error"]) for a in n["attempts"]] == [("acked", None)]
    assert n["nextAttemptAt"] is None
    [call] = h.receiver.calls_for("v-after-reset")
    assert call.verified, call.verify_error


class DripReceiver:
    """A merchant endpoint that reads the callback, then answers one byte at a time (an
    endless header line) until the sender hangs up, or `give_up` seconds have passed."""

    def __init__(self, pause: float = 0.05, give_up: float = 15.0):
        self.pause, self.give_up = pause, give_up
        self.hung_up = threading.Event()
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/notify"

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(65536)  # the callback (a few KB: one read)
            answer = b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * 100000
            deadline = time.monotonic() + self.give_up
            for byte in answer:
                if time.monotonic() > deadline:
                    break
                readable, _, _ = select.select([conn], [], [], 0)
                try:
                    if readable and conn.recv(1, socket.MSG_PEEK) == b"":
                        self.hung_up.set()  # the sender closed its side
                        break
                    conn.send(bytes([byte]))
                except OSError:  # reset: the sender closed the connection
                    self.hung_up.set()
                    break
                time.sleep(self.pause)
        self.listener.close()
        self.done.set()


def test_a_receiver_answering_byte_by_byte_is_hung_up_on_when_the_timeout_runs_out(make_harness):
    """notify_timeout bounds the whole exchange, as documented ("no answer within
    MOCKPAY_NOTIFY_TIMEOUT"). It bounded each socket read instead: an answer trickling in
    a byte at a time held the send (and a sender thread) for as long as the merchant kept
    it up, past the claim's lease (timeout + 60 s), after which another worker sent the
    attempt again while the first was still at it."""
    h = make_harness(notify_timeout=0.5)
    drip = DripReceiver()
    h.vault("v-drip", url=drip.url)
    assert h.run() == 1
    assert drip.hung_up.wait(5), "the sender was still reading the answer"
    first, second = h.notification("v-drip")["attempts"]
    assert first["state"] == "failed" and first["httpStatus"] is None
    assert first["error"] == "timeout: no complete answer within 0.5s"
    assert second["state"] == "scheduled"
    drip.done.wait(5)


@pytest.mark.parametrize("value", ["0", "-1", "-120", "1e12"])
def test_a_notify_timeout_no_send_can_work_with_is_refused_naming_the_setting(tmp_path, value):
    """MOCKPAY_NOTIFY_TIMEOUT=0 made every send's socket non-blocking (BlockingIOError), a
    negative one every send a ValueError, 1e12 an OverflowError: the server started and no
    merchant ever got a notification; below -60 the claim's lease (timeout + 60 s) was over
    before the send began, so other workers sent the attempt again while it was going out."""
    from click.testing import CliRunner

    from mockpay.cli import main
    from mockpay.config import load_config

    message = f"notify timeout (MOCKPAY_NOTIFY_TIMEOUT) must be above 0 and at most 86,400 seconds, " \
              f"not {float(value):g}"
    with pytest.raises(ValueError) as refused:
        load_config(environ={"MOCKPAY_NOTIFY_TIMEOUT": value})
    assert str(refused.value) == message
    for args in (["clock", "show"], ["serve", "--port", "0"]):
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), *args],
                                    env={"MOCKPAY_NOTIFY_TIMEOUT": value}, catch_exceptions=False)
        assert (result.exit_code, result.output) == (1, f"Error: {message}\n")
    assert load_config(environ={"MOCKPAY_NOTIFY_TIMEOUT": "0.05"}).notify_timeout == 0.05


def test_a_dispatch_interval_too_long_to_wait_is_refused_instead_of_killing_the_dispatcher(tmp_path):
    """MOCKPAY_DISPATCH_INTERVAL=1e10 is a finite number, so it was taken; the dispatcher's
    first idle wait raised OverflowError and its thread died in every worker: nothing was
    ever sent (a wake() found no thread) and no 3DS challenge expired by itself."""
    from click.testing import CliRunner

    from mockpay import create_app
    from mockpay.cli import main
    from mockpay.config import load_config

    message = "dispatch interval (MOCKPAY_DISPATCH_INTERVAL) must be at most 3,600 seconds, not 1e+10"
    with pytest.raises(ValueError) as refused:
        create_app({"data_dir": tmp_path / "d", "dispatch_interval": 1e10})
    assert str(refused.value) == message
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "serve", "--port", "0"],
                                env={"MOCKPAY_DISPATCH_INTERVAL": "1e10"}, catch_exceptions=False)
    assert (result.exit_code, result.output) == (1, f"Error: {message}\n")
    # the longest interval allowed still leaves a dispatcher that runs, and wakes to send
    app = create_app({"data_dir": tmp_path / "d", "dispatch_interval": 3600, "dispatcher": True})
    dispatcher = app.extensions["mockpay"].dispatcher
    try:
        dispatcher.wake()
        assert not dispatcher._stop.wait(0.3)
        assert dispatcher.running
    finally:
        dispatcher.stop()
        app.extensions["mockpay"].store.close()
    assert load_config(environ={"MOCKPAY_DISPATCH_INTERVAL": "0"}).dispatch_interval == 0  # still taken: 10 ms


def test_claims_of_a_dead_process_that_had_this_workers_pid_are_released_at_once(h):
    """A container restarted after a SIGKILL numbers its gunicorn workers as before, so a
    new worker has the pid of the one that died mid-send. That worker skipped the claims
    in its own pid and the others found the pid alive: the attempts waited out their lease
    (timeout + 60 s) instead of going out at once, as README promises after a kill."""
    from mockpay.notify import host_key
    notifier = h.svc.notifier
    h.vault("v-pid-reused")
    h.vault("v-mine")
    predecessor = f"{os.getpid()}:{host_key()}:0123456789ab"  # our pid, before the restart
    [theirs] = notifier.claim(predecessor, 1)
    [mine] = notifier.claim(h.svc.dispatcher.owner, 1)  # a live dispatcher of this process
    assert (theirs["vaulting_request_id"], mine["vaulting_request_id"]) == ("v-pid-reused", "v-mine")
    assert notifier.release_dead_claims() == 1
    [retaken] = notifier.claim("999:x:y", 10)
    assert retaken["vaulting_request_id"] == "v-pid-reused"
    assert notifier.deliver(retaken) == "acked"
    assert notifier.deliver(mine) == "acked"  # its own claim was left alone
    assert [c.vaulting_request_id for c in h.receiver.calls] == ["v-pid-reused", "v-mine"]


@pytest.mark.parametrize("value", ["0", "-3", "100000"])
def test_a_notify_concurrency_out_of_range_is_refused_naming_the_setting(value):
    """Each simultaneous send is a thread: MOCKPAY_NOTIFY_CONCURRENCY=100000 meant as many
    threads per worker when that many attempts fell due at once (a clock advance)."""
    from mockpay.config import load_config

    with pytest.raises(ValueError) as refused:
        load_config(environ={"MOCKPAY_NOTIFY_CONCURRENCY": value})
    assert str(refused.value) == f"notify concurrency (MOCKPAY_NOTIFY_CONCURRENCY) must be 1 to 256, not {value}"
    assert load_config(environ={"MOCKPAY_NOTIFY_CONCURRENCY": "256"}).notify_concurrency == 256
