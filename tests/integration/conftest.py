"""Real servers for integration tests: `mockpay serve` under gunicorn, over HTTP
on a free port and over HTTPS on port 443 (the only port the official SDK uses)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import ServerProcess, bind_failed, may_skip_port_443, random_loopback


def _register(server: ServerProcess, client_id: str) -> dict:
    out = server.cli("clients", "add", client_id, "--generate", "--json")
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def http_server(tmp_path_factory):
    """gunicorn with two workers over plain HTTP, shared by the session."""
    server = ServerProcess(tmp_path_factory.mktemp("http") / "data", workers=2).start()
    server.client = _register(server, "SANDBOX_HTTP")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory):
    """`mockpay serve --tls` on port 443 of a loopback address of its own, for the
    unmodified SDK. SSL_CERT_FILE points at the mock's CA for the rest of the run."""
    data = tmp_path_factory.mktemp("tls") / "data"
    for attempt in range(3):
        host = random_loopback()
        server = ServerProcess(data, host=host, port=443, tls=True, workers=2)
        try:
            server.start()
            break
        except RuntimeError as exc:
            if may_skip_port_443(str(exc), host):
                pytest.skip(f"cannot bind {host}:443 here (not root?)")
            if not (bind_failed(str(exc), host, 443, 98) and attempt < 2):  # in use: another address
                raise
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(server.data_dir / "tls" / "ca.pem")
    server.client = _register(server, "SANDBOX_SDK")
    server.gateway_url = f"https://{host}"
    yield server
    if previous is None:
        os.environ.pop("SSL_CERT_FILE", None)
    else:
        os.environ["SSL_CERT_FILE"] = previous
    server.stop()


@pytest.fixture(scope="session")
def sdk_client(tls_server):
    from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
    c = tls_server.client
    return DefaultAlipayClient(tls_server.gateway_url, c["clientId"], c["merchantPrivateKey"], c["alipayPublicKey"])


@pytest.fixture(scope="session")
def production_sdk_client(tls_server):
    """A client id without the SANDBOX_ prefix: the SDK keeps the /ams/api path."""
    from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
    c = _register(tls_server, "PROD_SDK")
    return DefaultAlipayClient(tls_server.gateway_url, c["clientId"], c["merchantPrivateKey"], c["alipayPublicKey"])


# -- browser pages and screenshots (scenarios, issue 3) ----------------------------------
# The `browser` fixture (Debian's chromium through Playwright, one per run) is in
# tests/conftest.py; these build on it.

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def page(browser):
    """A fresh browser context and page. It accepts the mock's TLS certificate
    (issued by mockpay's own CA, which this browser profile does not know)."""
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser tests save screenshots (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
