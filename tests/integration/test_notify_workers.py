"""Four gunicorn workers, four dispatchers, one SQLite outbox: 200 notifications whose
first attempt the receiver refuses, then a clock advance for the retries. Every attempt
must reach the receiver exactly once."""
from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from pytest_httpserver import HTTPServer

from tests.support import ServerProcess
from tests.webhook import Receiver, admin, register, vault_over_http, wait_until

COUNT = 200


@pytest.mark.slow
def test_four_workers_send_every_attempt_exactly_once(tmp_path):
    server = ServerProcess(tmp_path / "data", workers=4).start()
    receiver_http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    receiver_http.start()
    try:
        client = register(server, "SANDBOX_WORKERS")
        server.client = client
        receiver = Receiver(client["alipayPublicKey"])
        receiver_http.expect_request(re.compile("^/"), method="POST").respond_with_handler(receiver.handle)
        url = receiver_http.url_for("/count")
        ids = [f"w-{i:03d}" for i in range(COUNT)]
        for request_id in ids:
            receiver.script[request_id] = [(500, "first attempt refused")]

        with ThreadPoolExecutor(8) as pool:  # concurrent requests: vaults made in every worker
            answers = list(pool.map(lambda rid: vault_over_http(server, client, rid, url), ids))
        assert all(a["result"]["resultCode"] == "SUCCESS" for a in answers)

        receiver.wait_for(lambda r: len(r.calls) >= COUNT, timeout=120, what="the first attempts")

        def all_retries_scheduled():
            pending = admin(server, "GET", "/notifications", params={"status": "pending", "limit": 1000})
            ready = [n for n in pending["notifications"]
                     if [a["state"] for a in n["attempts"]] == ["failed", "scheduled"]]
            return len(ready) == COUNT
        wait_until(all_retries_scheduled, timeout=60, what="200 recorded failures")

        admin(server, "POST", "/clock/advance", json={"seconds": 120})
        receiver.wait_for(lambda r: len(r.calls) >= 2 * COUNT, timeout=120, what="the second attempts")

        def all_delivered():
            found = admin(server, "GET", "/notifications", params={"status": "delivered", "limit": 1000})
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
    finally:
        receiver_http.stop()
        server.stop()
