"""Where a vault's CPU goes: in-process CPU per vaultPaymentMethod, with mockpay's parts
taken away one after another, against the same figure for the ceiling app.

    python bench/cpu_breakdown.py [--requests 2000] [--runs 3]

No gunicorn and no sockets: requests go straight into the WSGI app (werkzeug's test
client) in this process, so the figures are steadier than vault_bench.py's and say
what each part costs, not what the server sustains. Each row removes one more part,
by patching this process only; none of these is a mode mockpay offers:

    as served          everything a vault does on the API path (dispatcher off)
    - journal          the request journal (journal_cap 0)
    - log line         the per-call log line
    - validation       the marshmallow load of the request (the raw JSON is used as is)
    - outbox           the notifyVaulting row and its first attempt
    - signature check  the RSA verification of the request

What remains in the last row is what every vault needs at the least: routing, JSON in
and out, the idempotency read, the scenario pick, sealing and fingerprinting the card,
one SQLite write transaction, and the answer's RSA-2048 signature. "ratio" is the
ceiling's CPU per request divided by the row's, the in-process counterpart of
vault_bench.py's CPU ratio; the second ratio is against a ceiling that also stores each
request in one SQLite write transaction (ceiling_app.py with STATE), the least a
stateful emulator does. The best of --runs runs is printed.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from werkzeug.test import Client  # noqa: E402

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
STEPS = ["as served", "- journal", "- log line", "- validation", "- outbox", "- signature check"]


def cpu_per_request(client: Client, reqs: list[dict]) -> float:
    start = time.process_time()
    for r in reqs:
        response = client.post(r["path"], data=r["body"].encode(), headers=r["headers"])
        if b'"SUCCESS"' not in response.data:
            raise SystemExit(f"not a SUCCESS: {response.data[:300]!r}")
    return (time.process_time() - start) * 1000 / len(reqs)


def mockpay_row(step: int, n: int, warm: int) -> float:
    """A fresh app with the first `step` parts of STEPS[1:] taken away."""
    from mockpay import create_app
    from mockpay.api import gateway
    from vault_bench import build_requests

    api_log = logging.getLogger(gateway.log.name)  # the per-call line's own logger (mockpay.api)
    saved = (gateway.load, gateway.authenticate, api_log.disabled)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"data_dir": tmp, "dispatcher": False, "journal_cap": 0 if step >= 1 else 10_000})
        svc = app.extensions["mockpay"]
        svc.clients.add("SANDBOX_BENCH", generate=True)
        described = svc.clients.describe(svc.clients.get("SANDBOX_BENCH"), with_private_key=True)
        try:
            if step >= 2:
                api_log.disabled = True
            if step >= 3:
                gateway.load = lambda schema, data: data
            if step >= 4:
                svc.vaulting.final_listeners.clear()
            if step >= 5:
                gateway.authenticate = lambda: gateway.request.headers["client-id"]
            reqs = build_requests(described, n + warm, warm, "http://127.0.0.1:9/notify")
            client = Client(app)
            cpu_per_request(client, reqs[:warm])
            return cpu_per_request(client, reqs[warm:])
        finally:
            gateway.load, gateway.authenticate, api_log.disabled = saved
            svc.store.close()


def ceiling_row(n: int, warm: int, body_bytes: int, state: str | None = None) -> float:
    os.environ["CEILING_BODY_BYTES"] = str(body_bytes)
    import ceiling_app

    ceiling_app.STATE = state  # None: signing only; a file: one SQLite write per request too
    client = Client(ceiling_app.app)
    reqs = [{"path": VAULT, "body": "{" + " " * 900 + "}", "headers": {}}] * (n + warm)
    cpu_per_request(client, reqs[:warm])
    return cpu_per_request(client, reqs[warm:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--body-bytes", type=int, default=620, help="the ceiling's answer size")
    args = parser.parse_args()

    from mockpay import logs

    logs.configure("text", open(os.devnull, "w"))  # the log line is formatted and written, as served
    # Rows interleaved run by run, and the best run kept: on a shared or virtual machine,
    # noise only ever adds CPU time.
    ceiling, stateful, rows = [], [], {name: [] for name in STEPS}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            ceiling.append(ceiling_row(args.requests, args.warmup, args.body_bytes))
            stateful.append(ceiling_row(args.requests, args.warmup, args.body_bytes,
                                        state=os.path.join(tmp, f"ceiling-{run}.sqlite3")))
            for step, name in enumerate(STEPS):
                rows[name].append(mockpay_row(step, args.requests, args.warmup))
    best, best_stateful = min(ceiling), min(stateful)
    print(f"{'ceiling (sign only)':<22} {best:6.2f} ms")
    print(f"{'ceiling + 1 SQLite tx':<22} {best_stateful:6.2f} ms")
    for name, runs in rows.items():
        print(f"{name:<22} {min(runs):6.2f} ms   ratio {best / min(runs):.2f}"
              f"   (to the stateful ceiling {best_stateful / min(runs):.2f})")

if __name__ == "__main__":
    main()
