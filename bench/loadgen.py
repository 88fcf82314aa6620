"""Replay pre-built HTTP requests over keep-alive connections; print JSON stats.

Runs as its own process (the benchmark starts it), so that the client's work
does not share an interpreter with the server's."""
from __future__ import annotations

import http.client
import json
import sys
import threading
import time


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    host, port, connections = spec["host"], spec["port"], spec["connections"]
    requests_ = spec["requests"]  # [{path, headers, body}]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(len(requests_)))

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine, bad = [], []
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            r = requests_[i]
            start = time.perf_counter()
            try:
                conn.request("POST", r["path"], body=r["body"].encode(), headers=r["headers"])
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200 or (spec.get("expect") and spec["expect"].encode() not in data):
                    bad.append(f"{resp.status} {data[:120]!r}")
            except Exception as exc:  # noqa: BLE001
                bad.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0

    print(json.dumps({"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
                      "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": len(errors),
                      "error_samples": errors[:3]}))


if __name__ == "__main__":
    main()
