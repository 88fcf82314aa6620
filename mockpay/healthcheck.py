"""`python -m mockpay.healthcheck`: exit 0 when the server on this machine answers
GET /_mockpay/health, 1 otherwise. The Docker image's HEALTHCHECK runs it (the
slim base has no curl). It reads the settings `mockpay serve` reads from the
environment (load_config): MOCKPAY_HOST (a wildcard address is asked on loopback),
MOCKPAY_PORT, and MOCKPAY_TLS (then HTTPS, verified against the local CA in
MOCKPAY_DATA_DIR)."""
from __future__ import annotations

import json
import ssl
import sys
import urllib.request

from .config import Config, load_config
from .crypto import ca_path


# Where the server listens, as `mockpay serve` binds MOCKPAY_HOST: a wildcard is
# reached on loopback; any other address or name as it is (it asked 127.0.0.1 whatever
# MOCKPAY_HOST said, so a server on ::1 or on one interface's address was unhealthy forever,
# and the README's `until python -m mockpay.healthcheck` loop never ended)
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
_CERTIFICATE_NAMES = {"localhost", "127.0.0.1", "::1"}  # always in the server's certificate


def url_and_context(config: Config) -> tuple[str, ssl.SSLContext | None]:
    host = _WILDCARDS.get(config.host, config.host)
    netloc = f"[{host}]:{config.port}" if ":" in host else f"{host}:{config.port}"
    if config.tls:
        context = ssl.create_default_context(cafile=str(ca_path(config.data_dir)))
        # an address the certificate does not name: the local CA's signature is still checked
        context.check_hostname = host in _CERTIFICATE_NAMES or host in config.tls_hosts
        return f"https://{netloc}/_mockpay/health", context
    return f"http://{netloc}/_mockpay/health", None


USAGE = ("usage: python -m mockpay.healthcheck (no arguments): it asks the server that the "
         "MOCKPAY_HOST, MOCKPAY_PORT, MOCKPAY_TLS and MOCKPAY_DATA_DIR of its environment describe, "
         "so give it the values the server was started with")


def main(args: list[str] | tuple[str, ...] = ()) -> int:
    args = list(args)
    if args:  # flags such as --port were silently ignored, so a loop waited on the wrong server
        print(USAGE, file=sys.stdout if args in (["-h"], ["--help"]) else sys.stderr)
        return 0 if args in (["-h"], ["--help"]) else 2
    try:
        url, context = url_and_context(load_config())
    except (ValueError, OSError) as exc:  # bad settings, or no CA to verify against
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
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
    sys.exit(main(sys.argv[1:]))
