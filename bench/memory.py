"""Memory of a long-running server: resident memory after every batch of vaults.

    python bench/memory.py [--vaults 100000] [--batch 10000] [--workers 2]

Starts `mockpay serve` (gunicorn) with a fresh data dir and a local merchant endpoint
that acknowledges every notifyVaulting, then sends distinct vaultPaymentMethod
requests (signed as the official SDK signs them, over 8 keep-alive connections) in
batches. After each batch it waits until every notification due so far has been
delivered, then prints the resident memory (RSS) of the gunicorn master and of each
worker, and the size of the data dir. State lives in SQLite on disk, so the
workers' memory should stay flat however many vaults there are.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.support import ServerProcess  # noqa: E402
from tests.webhook import admin, register  # noqa: E402
from vault_bench import build_requests, group_stat, replay, start_receiver  # noqa: E402


def group_rss_mb(pgid: int) -> dict[int, float]:
    """RSS (MiB) of every live process in a process group, by pid."""
    page = os.sysconf("SC_PAGE_SIZE")
    return {pid: int(f[21]) * page / 2**20 for pid, f in group_stat(pgid).items()}  # field 24: rss


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vaults", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    receiver = start_receiver()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = ServerProcess(data, workers=args.workers, extra_args=("--threads", "4"))
        server.start()
        try:
            client = register(server, "SANDBOX_MEM")
            pgid = server.proc.pid

            def sample(sent: int, seconds: float, errors: int) -> None:
                rss = group_rss_mb(pgid)
                master = rss.pop(pgid, 0.0)
                row = {"vaults": sent, "seconds": round(seconds, 1), "errors": errors,
                       "master_rss_mb": round(master, 1),
                       "worker_rss_mb": sorted(round(v, 1) for v in rss.values()),
                       "data_dir_mb": round(dir_mb(data), 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)

            sample(0, 0, 0)
            sent = 0
            while sent < args.vaults:
                n = min(args.batch, args.vaults - sent)
                reqs = build_requests(client, n, 0, receiver)
                started = time.monotonic()
                stats = replay(server.host, server.port, reqs, args.connections, '"SUCCESS"')
                sent += n
                deadline = time.monotonic() + 600
                while server_pending(server) and time.monotonic() < deadline:
                    time.sleep(0.5)
                sample(sent, time.monotonic() - started, stats["errors"])
        finally:
            server.stop()
    first, last = rows[1], rows[-1]
    print(f"\nafter {first['vaults']} vaults: workers {first['worker_rss_mb']} MiB; after {last['vaults']}: "
          f"workers {last['worker_rss_mb']} MiB; data dir {last['data_dir_mb']} MiB")


def server_pending(server: ServerProcess) -> bool:
    """Whether a notification is not yet delivered (nor given up), from the admin API."""
    return bool(admin(server, "GET", "/notifications", params={"status": "pending", "limit": 1})["notifications"])


if __name__ == "__main__":
    main()
