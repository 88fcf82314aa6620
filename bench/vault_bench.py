"""Benchmark: vaultPaymentMethod on mockpay vs the ceiling of the stack.

    python bench/vault_bench.py [--requests 3000] [--connections 8] [--workers 2]

1. starts `mockpay serve` (gunicorn) on a free port with a fresh data dir;
2. pre-signs N distinct vaultPaymentMethod requests with the official SDK's
   signing function (bodies exactly as the SDK writes them, indent=3);
3. replays them from a separate process over keep-alive connections;
4. does the same against a bare Flask app under the same gunicorn settings
   whose only work is signing a response of the same size with RSA-2048;
5. prints requests/s, p50/p99 latency and errors for both, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess, free_port, sdk_body, signed_headers, vault_body  # noqa: E402

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"


def start_receiver() -> str:
    """A local merchant endpoint that acknowledges every notifyVaulting."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ack = b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'

    class Ack(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(ack)))
            self.end_headers()
            self.wfile.write(ack)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/notify"


def build_requests(client: dict, n: int, warm: int, notify_url: str) -> list[dict]:
    from mockpay.cards import luhn_complete
    out = []
    for i in range(n + warm):
        card = luhn_complete(f"4{(i * 7919) % 10**14:014d}")
        body = vault_body(f"bench-{i}-{time.time_ns()}", card)
        body["vaultingNotificationUrl"] = notify_url
        text = sdk_body(body)
        headers = signed_headers(client["clientId"], client["merchantPrivateKey"], VAULT, text)
        out.append({"path": VAULT, "headers": headers, "body": text})
    return out


def group_stat(pgid: int) -> dict[int, list[str]]:
    """/proc/<pid>/stat of every live process in a process group (master and workers),
    by pid, as the fields after the command name (fields[0] is field 3 of stat: state)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: pgrp
            out[int(entry)] = fields
    return out


def group_cpu_seconds(pgid: int) -> float:
    """user+system CPU of every live process in a process group."""
    ticks = sum(int(f[11]) + int(f[12]) for f in group_stat(pgid).values())  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def measured(pgid: int, run) -> dict:
    """Run a replay and add the server's CPU milliseconds per request: a figure that,
    unlike requests/s, holds up when other work shares the machine."""
    before = group_cpu_seconds(pgid)
    stats = run()
    stats["server_cpu_ms_per_request"] = (group_cpu_seconds(pgid) - before) * 1000 / max(1, stats["requests"])
    return stats


def replay(host: str, port: int, reqs: list[dict], connections: int, expect: str | None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"host": host, "port": port, "connections": connections, "requests": reqs,
                   "expect": expect}, fh)
    try:
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "loadgen.py"), fh.name],
                             capture_output=True, text=True, check=True)
    finally:
        os.unlink(fh.name)
    return json.loads(out.stdout)


def run_ceiling(workers: int, threads: int, body_bytes: int, reqs: list[dict], warm: int,
                connections: int) -> dict:
    port = free_port()
    env = {**os.environ, "CEILING_BODY_BYTES": str(body_bytes), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--chdir", str(ROOT / "bench"),
                             "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gthread",
                             "--threads", str(threads), "--keep-alive", "30", "ceiling_app:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                requests.post(f"http://127.0.0.1:{port}/warm", data=b"{}", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        replay("127.0.0.1", port, reqs[:warm], connections, None)
        return measured(proc.pid, lambda: replay("127.0.0.1", port, reqs[warm:], connections, None))
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", workers=args.workers,
                               extra_args=("--threads", str(args.threads)))
        server.start()
        try:
            client = json.loads(server.cli("clients", "add", "SANDBOX_BENCH", "--generate", "--json").stdout)
            reqs = build_requests(client, args.requests, args.warmup, start_receiver())
            replay(server.host, server.port, reqs[:args.warmup], args.connections, '"SUCCESS"')
            mock = measured(server.proc.pid, lambda: replay(server.host, server.port, reqs[args.warmup:],
                                                            args.connections, '"SUCCESS"'))
            sample = requests.post(server.base_url + VAULT, data=reqs[0]["body"].encode(),
                                   headers=reqs[0]["headers"], timeout=10)
            body_bytes = len(sample.content)
        finally:
            server.stop()
    ceiling = run_ceiling(args.workers, args.threads, body_bytes, reqs, args.warmup, args.connections)
    ratio = mock["rps"] / ceiling["rps"]
    cpu_ratio = ceiling["server_cpu_ms_per_request"] / mock["server_cpu_ms_per_request"]
    report = {"machine": f"{os.cpu_count()} cores, {sys.platform}, Python {sys.version.split()[0]}",
              "settings": vars(args), "response_bytes": body_bytes, "mockpay": mock, "ceiling": ceiling,
              "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3)}
    print(json.dumps(report, indent=2))
    print(f"\nmockpay {mock['rps']:.0f} req/s (p50 {mock['p50_ms']:.1f} ms, p99 {mock['p99_ms']:.1f} ms, "
          f"{mock['errors']} errors); ceiling {ceiling['rps']:.0f} req/s (p50 {ceiling['p50_ms']:.1f} ms, "
          f"p99 {ceiling['p99_ms']:.1f} ms); ratio {ratio:.2f}; server CPU per request "
          f"{mock['server_cpu_ms_per_request']:.2f} ms vs {ceiling['server_cpu_ms_per_request']:.2f} ms "
          f"(CPU ratio {cpu_ratio:.2f})")


if __name__ == "__main__":
    main()
