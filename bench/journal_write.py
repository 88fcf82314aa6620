"""How much the request journal adds to an API call: the cost of Journal.record
(redaction, one INSERT, the amortised trim) with a realistic vaultPaymentMethod
body, at the default cap. Run: .venv/bin/python bench/journal_write.py [N [CAP]]
(the rare slow record is SQLite's WAL checkpoint: it shows with trimming off too,
e.g. CAP 100000000)."""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mockpay.clock import Clock  # noqa: E402
from mockpay.journal import Journal  # noqa: E402
from mockpay.store import Store  # noqa: E402
from tests.support import vault_body  # noqa: E402


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite3")
        journal = Journal(store, Clock(store), cap=int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
        call = {"method": "POST", "path": "/ams/api/v1/vaults/vaultPaymentMethod", "api": "vaultPaymentMethod",
                "client_id": "BENCH", "http_status": 200, "result_status": "S", "result_code": "SUCCESS",
                "latency_ms": 5.0}
        response = {"result": {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success"},
                    "vaultingRequestId": "x", "paymentMethodDetail": {"card": {"cardToken": "ALIPAY" + "A" * 88}}}
        samples = []
        for i in range(n):
            body = vault_body(f"bench-{i}")
            started = time.perf_counter()
            journal.record(call, request_body=body, response_body=response)
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        print(f"{n} records, cap {journal.cap} (trim every {journal.trim_every}): "
              f"median {statistics.median(samples):.3f} ms, p99 {samples[int(n * 0.99)]:.3f} ms, "
              f"max {samples[-1]:.3f} ms; rows kept {store.journal_count()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
