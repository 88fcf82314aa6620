"""`python -m mockpay.healthcheck`: exit 0 when the server on this machine answers
GET /_mockpay/health, 1 otherwise. The Docker image's HEALTHCHECK runs it (the
slim base has no curl). It reads the same settings as `mockpay serve`:
MOCKPAY_PORT (default 8080) and MOCKPAY_TLS (then HTTPS, verified against the
CA in MOCKPAY_DATA_DIR/tls/ca.pem)."""
from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.request

from .config import _parse_bool, default_data_dir


def url_and_context() -> tuple[str, ssl.SSLContext | None]:
    port = os.environ.get("MOCKPAY_PORT") or "8080"
    if _parse_bool(os.environ.get("MOCKPAY_TLS") or ""):
        data_dir = os.environ.get("MOCKPAY_DATA_DIR") or str(default_data_dir())
        context = ssl.create_default_context(cafile=os.path.join(data_dir, "tls", "ca.pem"))
        return f"https://127.0.0.1:{port}/_mockpay/health", context
    return f"http://127.0.0.1:{port}/_mockpay/health", None


def main() -> int:
    url, context = url_and_context()
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:
            healthy = response.status == 200 and json.loads(response.read()).get("status") == "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", said in one line
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: {url} did not answer {{\"status\": \"ok\"}}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
