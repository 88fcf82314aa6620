"""Four gunicorn workers sharing one SQLite database: what must not depend on which
worker answers.

- Notifications: four dispatchers, one outbox. 200 notifications whose first attempt
  the receiver refuses, then a clock advance for the retries: every attempt reaches the
  receiver exactly once.
- Idempotency under concurrent duplicates, each sent over its own connection so that
  they land on different workers: vaultPaymentMethod, createVaultingSession, and the
  redemption of a cacheCard token.
- The mock clock: after an advance, every worker reads the same time.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support import (MC_OK, VISA_OK, ServerProcess, ams_call, cache_body, session_body, token_vault_body,
                           vault_body)
from tests.webhook import admin, mount, receiver_server, register, vault_over_http, wait_until

COUNT = 200
DUPLICATES = 24  # concurrent copies of one request

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def four_workers(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("workers") / "data", workers=4).start()
    server.client = register(server, "SANDBOX_WORKERS")
    server.dup_client = register(server, "SANDBOX_DUPLICATES")
    yield server
    server.stop()


def test_four_workers_send_every_attempt_exactly_once(four_workers):
    server, client = four_workers, four_workers.client
    mine = {"clientId": client["clientId"], "limit": 1000}
    with receiver_server() as receiver_http:
        receiver = mount(receiver_http, client["alipayPublicKey"])
        url = receiver_http.url_for("/count")
        ids = [f"w-{i:03d}" for i in range(COUNT)]
        for request_id in ids:
            receiver.script[request_id] = [(500, "first attempt refused")]

        with ThreadPoolExecutor(8) as pool:  # concurrent requests: vaults made in every worker
            answers = list(pool.map(lambda rid: vault_over_http(server, client, rid, url), ids))
        assert all(a["result"]["resultCode"] == "SUCCESS" for a in answers)

        receiver.wait_for(lambda r: len(r.calls) >= COUNT, timeout=120, what="the first attempts")

        def all_retries_scheduled():
            pending = admin(server, "GET", "/notifications", params={"status": "pending", **mine})
            ready = [n for n in pending["notifications"]
                     if [a["state"] for a in n["attempts"]] == ["failed", "scheduled"]]
            return len(ready) == COUNT
        wait_until(all_retries_scheduled, timeout=60, what="200 recorded failures")

        admin(server, "POST", "/clock/advance", json={"seconds": 120})
        receiver.wait_for(lambda r: len(r.calls) >= 2 * COUNT, timeout=120, what="the second attempts")

        def all_delivered():
            found = admin(server, "GET", "/notifications", params={"status": "delivered", **mine})
            return found["notifications"] if len(found["notifications"]) == COUNT else None
        delivered = wait_until(all_delivered, timeout=60, what="200 delivered notifications")

        # nothing else is due; a newer notification arriving means every pass has run
        admin(server, "POST", "/clock/advance", json={"seconds": 86400})
        vault_over_http(server, client, "w-barrier", url)
        receiver.wait_calls("w-barrier", 1)

        counts = Counter(c.vaulting_request_id for c in receiver.calls)
        assert {rid: counts[rid] for rid in ids} == {rid: 2 for rid in ids}
        assert sum(counts.values()) == 2 * COUNT + 1
        assert all(c.verified for c in receiver.calls), [c.verify_error for c in receiver.calls if not c.verified][:3]
        assert all([a["state"] for a in n["attempts"]] == ["failed", "acked"] for n in delivered)
        workers = {a["workerPid"] for n in delivered for a in n["attempts"]}
        print(f"attempts were sent by {len(workers)} worker process(es)")


# -- idempotency under concurrent duplicates ---------------------------------------------

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
SESSION = "/ams/api/v1/vaults/createVaultingSession"
CACHE = "/ams/api/v1/paymentMethods/cacheCard"


def all_at_once(server, calls: list[tuple[str, dict]]) -> list[dict]:
    """Send every (path, body) at the same moment, each over a fresh connection (so that
    gunicorn hands them to different workers); every answer must be signed. Returns the
    answers in order."""
    gate = threading.Barrier(len(calls))

    def one(call):
        path, body = call
        gate.wait()
        return ams_call(server, path, body, client=server.dup_client).json()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def rows(server, table: str, request_id: str) -> int:
    with sqlite3.connect(f"file:{server.data_dir / 'mockpay.sqlite3'}?mode=ro", uri=True) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table} WHERE vaulting_request_id = ?", (request_id,)).fetchone()[0]


def test_concurrent_identical_vaults_make_one_vault_and_one_answer(four_workers):
    answers = all_at_once(four_workers, [(VAULT, vault_body("dup-vault-1"))] * DUPLICATES)
    assert answers[0]["result"]["resultCode"] == "SUCCESS"
    assert all(a == answers[0] for a in answers), "every duplicate replays the one stored answer"
    assert rows(four_workers, "vaults", "dup-vault-1") == 1


def test_concurrent_different_bodies_under_one_id_make_one_vault(four_workers):
    half = DUPLICATES // 2
    calls = [(VAULT, vault_body("dup-vault-2", VISA_OK))] * half + [(VAULT, vault_body("dup-vault-2", MC_OK))] * half
    answers = all_at_once(four_workers, calls)
    codes = Counter(a["result"]["resultCode"] for a in answers)
    assert codes == {"SUCCESS": half, "REPEAT_REQ_INCONSISTENT": half}, codes
    winners = [a for a in answers if a["result"]["resultCode"] == "SUCCESS"]
    assert len({a["paymentMethodDetail"]["card"]["cardToken"] for a in winners}) == 1
    winner_brand = winners[0]["paymentMethodDetail"]["card"]["brand"]
    side = answers[:half] if winner_brand == "VISA" else answers[half:]
    assert all(a["result"]["resultCode"] == "SUCCESS" for a in side), "the winner's own copies replay it"
    assert rows(four_workers, "vaults", "dup-vault-2") == 1


def test_concurrent_identical_sessions_make_one_session(four_workers):
    answers = all_at_once(four_workers, [(SESSION, session_body("dup-session-1"))] * DUPLICATES)
    assert answers[0]["result"]["resultCode"] == "SUCCESS"
    assert all(a == answers[0] for a in answers)
    assert rows(four_workers, "vaulting_sessions", "dup-session-1") == 1


def cached_token(server) -> str:
    answer = ams_call(server, CACHE, cache_body(), client=server.dup_client).json()
    assert answer["result"]["resultCode"] == "SUCCESS", answer
    return answer["paymentMethodDetail"]["card"]["cardToken"]


def test_a_cache_card_token_is_redeemed_once_by_concurrent_vaults(four_workers):
    token = cached_token(four_workers)
    ids = [f"dup-token-{i:02d}" for i in range(DUPLICATES)]
    answers = all_at_once(four_workers, [(VAULT, token_vault_body(rid, token)) for rid in ids])
    codes = Counter(a["result"]["resultCode"] for a in answers)
    assert codes == {"SUCCESS": 1, "INVALID_PAYMENTMETHOD_TOKEN": DUPLICATES - 1}, codes
    assert sum(rows(four_workers, "vaults", rid) for rid in ids) == 1


def test_concurrent_identical_token_vaults_replay_the_one_that_redeemed_it(four_workers):
    """A merchant retrying a vault made with a cacheCard token while the first try is still
    running: the same request, so the same answer, not INVALID_PAYMENTMETHOD_TOKEN."""
    token = cached_token(four_workers)
    answers = all_at_once(four_workers, [(VAULT, token_vault_body("dup-token-same", token))] * DUPLICATES)
    assert answers[0]["result"]["resultCode"] == "SUCCESS", answers[0]
    assert all(a == answers[0] for a in answers), Counter(a["result"]["resultCode"] for a in answers)
    assert rows(four_workers, "vaults", "dup-token-same") == 1


# -- the clock ------------------------------------------------------------------------------

def worker_pids(server) -> set[int]:
    """The gunicorn workers: the children of the `mockpay serve` process (from /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.proc.pid:  # field 4 of stat: the parent's pid
            pids.add(int(stat.parent.name))
    return pids


def clock_reads(server, workers: set[int], limit: int = 800) -> list[tuple[int, float, float]]:
    """Reads of GET /_mockpay/clock over fresh connections, 8 at a time, until every worker
    has answered at least twice (gunicorn hands connections to workers as it likes). Each
    read gives (workerPid, low, high): the clock's offset from this machine's wall clock lies
    between low and high (from when the request was sent and when the answer came back)."""
    def read(_):
        sent = time.time()
        shown = requests.get(server.base_url + "/_mockpay/clock", timeout=30).json()  # a new connection
        back = time.time()
        return shown["workerPid"], shown["epoch"] - back, shown["epoch"] - sent

    reads: list = []
    with ThreadPoolExecutor(8) as pool:
        while len(reads) < limit:
            reads += pool.map(read, range(16))
            answered = Counter(pid for pid, _, _ in reads)
            if all(answered[pid] >= 2 for pid in workers):
                return reads
    raise AssertionError(f"{limit} reads did not reach every worker: {dict(Counter(p for p, _, _ in reads))}")


def one_offset(reads) -> float:
    """All the reads' brackets overlap (one offset, whichever worker read); return its low end."""
    low, high = max(lo for _, lo, _ in reads), min(hi for _, _, hi in reads)
    by_worker = {pid: sorted({round(hi) for p, _, hi in reads if p == pid}) for pid, _, _ in reads}
    assert low <= high + 0.002, f"the workers disagree about the time: offsets by worker {by_worker}"
    return low


def test_every_worker_reads_the_same_clock_after_advances(four_workers):
    """Every worker reads the clock (and may keep its anchor), then it is advanced twice in
    a row; every worker must then read the twice-advanced time, whether or not it saw the
    advances go by. Three rounds."""
    workers = worker_pids(four_workers)
    assert len(workers) == 4, workers
    admin(four_workers, "POST", "/clock/advance", json={"seconds": 1})
    offset = one_offset(clock_reads(four_workers, workers))
    for _ in range(3):
        for seconds in (3600, 60):
            admin(four_workers, "POST", "/clock/advance", json={"seconds": seconds})
        now = one_offset(clock_reads(four_workers, workers))
        assert now > offset + 3660 - 30, "every read shows both advances"
        offset = now
