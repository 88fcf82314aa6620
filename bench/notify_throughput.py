"""Benchmark: notifyVaulting delivery throughput (notifications per second) to a local receiver.

    python bench/notify_throughput.py [--notifications 1000] [--workers 2] [--concurrency 8]

1. starts a local receiver (http.server, one thread per connection) that acknowledges
   every callback and counts them;
2. starts `mockpay serve` (gunicorn) with MOCKPAY_NOTIFY_DELAY=3600, so that every
   notification waits in the outbox instead of going out while vaults are made;
3. makes N vaults (signed HTTP, 8 connections) whose vaultingNotificationUrl is the receiver;
4. advances the mock clock by 3600 s: all N fall due at once, the dispatcher threads of
   every worker claim, sign, send and record them;
5. reports notifications/s from the advance until the receiver has counted N callbacks,
   and until the outbox has recorded all N as delivered.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mockpay.store import Store  # noqa: E402
from tests.support import ServerProcess, sdk_body, signed_headers, vault_body  # noqa: E402

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
ACK = json.dumps({"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}}).encode()


class Counter:
    def __init__(self, target: int):
        self.target, self.count, self.done_at = target, 0, None
        self.lock, self.done = threading.Lock(), threading.Event()

    def hit(self) -> None:
        with self.lock:
            self.count += 1
            if self.count >= self.target and not self.done.is_set():
                self.done_at = time.perf_counter()
                self.done.set()


def start_receiver(counter: Counter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(ACK)))
            self.end_headers()
            self.wfile.write(ACK)
            counter.hit()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def make_vaults(server: ServerProcess, client: dict, n: int, url: str) -> None:
    session = threading.local()

    def one(i: int) -> None:
        body = vault_body(f"nbench-{i}-{time.time_ns()}")
        body["vaultingNotificationUrl"] = url
        text = sdk_body(body)
        headers = signed_headers(client["clientId"], client["merchantPrivateKey"], VAULT, text)
        if not hasattr(session, "s"):
            session.s = requests.Session()
        r = session.s.post(server.base_url + VAULT, data=text.encode(), headers=headers, timeout=30)
        assert r.status_code == 200 and '"SUCCESS"' in r.text, r.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", type=int, default=8, help="MOCKPAY_NOTIFY_CONCURRENCY (sends per worker)")
    args = parser.parse_args()
    n = args.notifications

    counter = Counter(n)
    receiver = start_receiver(counter)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/notify"
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", workers=args.workers,
                               env={"MOCKPAY_NOTIFY_DELAY": "3600",
                                    "MOCKPAY_NOTIFY_CONCURRENCY": str(args.concurrency)})
        server.start()
        try:
            client = json.loads(server.cli("clients", "add", "SANDBOX_NBENCH", "--generate", "--json").stdout)
            make_vaults(server, client, n, url)  # setup, not measured
            store = Store(server.data_dir / "mockpay.sqlite3")
            assert store.count_notifications("pending") == n and counter.count == 0

            started = time.perf_counter()
            r = requests.post(server.base_url + "/_mockpay/clock/advance", json={"seconds": 3600}, timeout=30)
            assert r.status_code == 200, r.text
            if not counter.done.wait(600):
                raise SystemExit(f"only {counter.count} of {n} callbacks arrived")
            received = counter.done_at - started
            while store.count_notifications("delivered") < n:
                time.sleep(0.02)
            recorded = time.perf_counter() - started
            extra = counter.count - n
        finally:
            server.stop()
    receiver.shutdown()
    report = {
        "machine": f"{os.cpu_count()} cores, {sys.platform}, Python {sys.version.split()[0]}",
        "settings": vars(args),
        "received_per_s": round(n / received, 1),
        "delivered_and_recorded_per_s": round(n / recorded, 1),
        "duplicate_callbacks": extra,
    }
    print(json.dumps(report, indent=2))
    print(f"\n{n} notifications: {n / received:.0f}/s received by the merchant, "
          f"{n / recorded:.0f}/s acknowledged and recorded ({args.workers} workers x {args.concurrency} senders)")


if __name__ == "__main__":
    main()
