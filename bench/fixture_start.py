"""How long the `mockpay` pytest fixture takes to start and stop a server.

    .venv/bin/python bench/fixture_start.py [--runs 20] [--transport auto|port443|redirect]

"cold" is the first server of a session: it includes making the session's key
material (RSA keys for the mock, the TLS CA and server, one merchant).
"warm" is every later server: copy the keys, create the app, bind two ports,
start two threads, register the client over the admin API.
"first SDK call" is one vaultPaymentMethod through the official SDK (TLS handshake included).
Speed is measured here, never asserted in a test.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mockpay import testing  # noqa: E402
from mockpay.testing import MockpayServer, ServerTemplate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--transport", default="auto", choices=("auto", "port443", "redirect"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        template = ServerTemplate(root / "keys")

        started = time.perf_counter()
        server = MockpayServer(root / "cold", template=template, sdk_transport=args.transport).start()
        cold = time.perf_counter() - started
        request = testing.vault_payment_method_request()
        started = time.perf_counter()
        answer = server.execute(request)
        first_call = time.perf_counter() - started
        assert answer["result"]["resultCode"] == "SUCCESS", answer
        transport = server.sdk_transport
        server.stop()

        starts, stops = [], []
        for i in range(args.runs):
            started = time.perf_counter()
            server = MockpayServer(root / f"warm{i}", template=template, sdk_transport=args.transport).start()
            starts.append(time.perf_counter() - started)
            started = time.perf_counter()
            server.stop()
            stops.append(time.perf_counter() - started)

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:7.1f} ms"

    print(f"transport: {transport}")
    print(f"cold start (session keys included): {ms(cold)}")
    print(f"first SDK call:                     {ms(first_call)}")
    print(f"warm start, median of {args.runs:<3}:         {ms(statistics.median(starts))}"
          f"   (max {ms(max(starts)).strip()})")
    print(f"stop, median:                       {ms(statistics.median(stops))}")


if __name__ == "__main__":
    main()
