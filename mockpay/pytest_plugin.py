"""The mockpay pytest plugin (registered through the `pytest11` entry point).

Fixture `mockpay`: a real mockpay server in the test process, on free ports,
with a temporary data directory, a registered client and an SDK-ready
DefaultAlipayClient. See mockpay.testing.MockpayServer and the README.

Configure per test with a marker::

    @pytest.mark.mockpay(client_id="PROD_SHOP", time_scale=60)

(`client_id`, `sdk_transport`, and any mockpay setting of mockpay.config.Config),
or per project with the ini options `mockpay_client_id` and `mockpay_sdk_transport`.

This module is imported by every pytest run where mockpay is installed: it
imports nothing heavy until a test asks for the fixture.
"""
from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addini("mockpay_client_id", "client id the mockpay fixture registers (default SANDBOX_PYTEST; "
                  "SANDBOX_ makes the SDK call /ams/sandbox/api)", default="SANDBOX_PYTEST")
    parser.addini("mockpay_sdk_transport", "how the official SDK reaches the mockpay fixture: auto (default: port "
                  "443 of a loopback address when the process may bind it, else redirect), port443, or redirect",
                  default="auto")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mockpay(client_id=None, sdk_transport=None, **settings): configure the mockpay fixture's "
                   "server for this test (settings are mockpay.config.Config fields)")


_SERVER = pytest.StashKey()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Once every fixture of the test is torn down: SSL_CERT_FILE back as the fixture found
    it. A `monkeypatch` set up before `mockpay` (test_x(monkeypatch, mockpay)) that set
    SSL_CERT_FILE undoes it after the fixture stopped, back to the stopped server's trust
    bundle, which then stayed for the rest of the session."""
    yield
    server = item.stash.get(_SERVER, None)
    if server is not None:
        server.untrust_ca()


@pytest.fixture(scope="session")
def mockpay_template(tmp_path_factory):
    """Key material for the session's mockpay servers, made on first use."""
    from mockpay.testing import ServerTemplate
    return ServerTemplate(tmp_path_factory.mktemp("mockpay-keys"))


@pytest.fixture
def mockpay(request, tmp_path_factory, mockpay_template):
    """A running mockpay server for this test (mockpay.testing.MockpayServer)."""
    from mockpay.testing import MockpayServer, RequestBuilder

    marker = request.node.get_closest_marker("mockpay")
    if marker is not None and marker.args:  # mockpay("SHOP") was silently the default client
        raise pytest.UsageError(f"@pytest.mark.mockpay takes settings by name, e.g. client_id={marker.args[0]!r}; "
                                f"got positional {marker.args!r}")
    settings = dict(marker.kwargs) if marker else {}
    client_id = settings.pop("client_id", None) or request.config.getini("mockpay_client_id")
    transport = settings.pop("sdk_transport", None) or request.config.getini("mockpay_sdk_transport")
    server = MockpayServer(tmp_path_factory.mktemp("mockpay"), client_id=client_id, settings=settings,
                           sdk_transport=transport, template=mockpay_template)
    # personal data reproducible per test; request ids stay unique
    server.builder = RequestBuilder(seed=_seed(request.node.nodeid))
    request.node.stash[_SERVER] = server
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _seed(text: str) -> int:
    import zlib
    return zlib.crc32(text.encode())
