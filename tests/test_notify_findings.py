"""notifyVaulting delivery: what a bug hunt found, each test failing without its fix.
The harness (an in-process app, a real local receiver that checks every callback with
the SDK's check_signature, the dispatcher driven by run_once) is tests/test_notify.py's."""
from __future__ import annotations

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
