"""Races between workers and crashes, staged deterministically in one process: what
another worker commits between a request's first look and its write transaction is
reproduced by running that other request at exactly that point."""
from __future__ import annotations

from tests.support import session_body, vault_body
from tests.test_notify import make_harness  # noqa: F401 - fixture

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
CREATE = "/ams/api/v1/vaults/createVaultingSession"


def _before_the_transaction(monkeypatch, scenarios, competitor) -> list:
    """Run `competitor()` (another worker's request) to its commit at the last step before
    a request's write transaction (its client's rule set made ready, which both APIs do
    just before): the window between the request's start and its write."""
    original = scenarios.client_set
    answers: list = []
    staged: list = []

    def ready(client_id):
        if not staged:
            staged.append(True)  # once: the competitor's own step is not staged again
            answers.append(competitor())
        return original(client_id)

    monkeypatch.setattr(scenarios, "client_set", ready)
    return answers


def test_a_session_and_a_direct_vault_racing_for_one_id_make_one_of_them(ams, services, monkeypatch):
    """createVaultingSession and vaultPaymentMethod with one vaultingRequestId, at the same
    moment on two workers: one id, one vaulting (README). Each checked for the other
    before its transaction only, so both were stored and answered S, and the buyer's page
    then said "already used" for a session it had just been given. (Each now checks in
    its transaction only.)"""
    competitor = _before_the_transaction(monkeypatch, services.scenarios,
                                         lambda: ams.call(VAULT, vault_body("race-1")))
    answer = ams.call(CREATE, session_body("race-1"))
    assert competitor[0]["result"]["resultCode"] == "SUCCESS"
    assert answer["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"
    assert answer["result"]["resultStatus"] == "F"
    assert services.store.count_sessions() == 0
    assert services.store.count_vaults() == 1


def test_a_direct_vault_and_a_session_racing_for_one_id_make_one_of_them(ams, services, monkeypatch):
    """The other way round: the session is stored between the vault's check and its transaction."""
    competitor = _before_the_transaction(monkeypatch, services.scenarios,
                                         lambda: ams.call(CREATE, session_body("race-2")))
    answer = ams.call(VAULT, vault_body("race-2"))
    assert competitor[0]["result"]["resultCode"] == "SUCCESS"
    assert answer["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"
    assert answer["vaultingRequestId"] == "race-2"
    assert services.store.count_vaults() == 0
    assert services.store.count_sessions() == 1


# -- the dispatcher when its worker exits -------------------------------------------------

def test_a_dispatcher_whose_pool_is_shut_down_gives_its_claims_back(make_harness):
    """A gunicorn worker that exits gracefully (SIGHUP reload, SIGTERM) runs Python's
    interpreter shutdown, which shuts every thread pool down before the atexit hook that
    stops the dispatcher; the dispatcher's loop went on claiming due attempts, and the
    pool refused them ("cannot schedule new futures after interpreter shutdown"): a
    traceback on every pass, attempts left claimed by the dying worker until a dispatcher
    noticed it was gone, and a stop that waited out its whole timeout for sends that
    never started. Staged by shutting the pool down as the interpreter does."""
    from concurrent.futures import ThreadPoolExecutor

    h = make_harness()
    d = h.svc.dispatcher
    h.vault("v-exit")  # its first attempt is due now
    d._pool = ThreadPoolExecutor(max_workers=1)
    d._pool.shutdown()
    assert d._dispatch() is False  # no RuntimeError out of the loop's pass
    assert d._inflight == 0  # stop() does not wait for sends that never started
    assert d._stop.is_set()  # claims no more
    assert h.receiver.calls_for("v-exit") == []
    assert h.run() == 1  # another dispatcher takes the attempt at once, not after a lease
    [call] = h.receiver.calls_for("v-exit")
    assert call.verified
    assert h.notification("v-exit")["status"] == "delivered"
