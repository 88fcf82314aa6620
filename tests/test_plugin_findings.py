"""hunt-plugin: what a merchant's own test suite met with the `mockpay` fixture and the
request builders, each fixed and kept fixed here. The merchant tests run through
pytest's `pytester`, as in test_pytest_plugin.py."""
from __future__ import annotations

import gc

import pytest

ADMIN_TOKEN_TESTS = r'''
import urllib.error
import urllib.request

import pytest

from mockpay import testing


@pytest.mark.mockpay(admin_token="s3cret-token")
def test_a_server_with_an_admin_token(mockpay):
    # the fixture's helpers send the token, as a script would to a shared server
    assert mockpay.client.client_id == "SANDBOX_PYTEST"
    body = testing.vault_payment_method(scenario="3ds_challenge")
    assert mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body))["normalUrl"]
    assert mockpay.complete_challenge(body["vaultingRequestId"])["vaultingStatus"] == "SUCCESS"
    assert mockpay.notifications(body["vaultingRequestId"])
    mockpay.use_scenarios({"rules": [{"match": {"bin": "4"}, "outcome": {"resultCode": "RISK_REJECT"}}]})
    mockpay.reset()
    # and the token is really required: the merchant's own call without it is refused
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(mockpay.base_url + "/_mockpay/clients")
    assert refused.value.code == 401
'''


def test_the_admin_token_setting_of_the_marker(pytester):
    """@pytest.mark.mockpay(admin_token=...) (a Config setting, as the README allows): the
    fixture's own admin calls sent no token, so registering its client failed with 401."""
    pytester.makepyfile(test_token=ADMIN_TOKEN_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def _open_files_under(directory) -> list[str]:
    import os
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def _eventually_no_open_files_under(directory, wait: float = 5.0) -> list[str]:
    """What stays open: the SQLite connections of the server's last threads (a sender of the
    dispatcher's pool ends just after stop() returns) go with those threads, and a cycle."""
    import time
    deadline = time.monotonic() + wait
    while True:
        gc.collect()
        found = _open_files_under(directory)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_stopped_fixture_server_keeps_no_file_open(tmp_path):
    """The fixture starts a server per test on a fresh data directory: its stop() left the
    database's lock and clock-marker files open, two descriptors per test, until a long
    merchant suite failed with 'Too many open files'."""
    from mockpay.testing import MockpayServer, ServerTemplate
    template = ServerTemplate(tmp_path / "keys")
    for i in range(2):
        data_dir = tmp_path / f"server{i}"
        with MockpayServer(data_dir, template=template, sdk_transport="redirect") as server:
            answer = server.execute(server.builder.vault_payment_method_request())
            assert answer["result"]["resultCode"] == "SUCCESS"
            server.advance(60)  # the clock marker, written
            assert any(f.endswith("mockpay.sqlite3.lock") for f in _open_files_under(data_dir))
        assert _eventually_no_open_files_under(data_dir) == []


def test_a_store_closed_while_another_store_uses_the_file_leaves_it_working(tmp_path):
    from mockpay.store import Store
    first, second = Store(tmp_path / "db.sqlite3"), Store(tmp_path / "db.sqlite3")
    first.set_meta("a", "1")
    first.clock_reanchor(advance_by=5)
    first.close()
    second.set_meta("b", "2")  # its write turn (the lock file) still there
    assert second.get_meta("a") == "1" and second.clock_version()
    second.close()
    gc.collect()
    assert _open_files_under(tmp_path) == []
    second.set_meta("c", "3")  # a Store used after close() opens what it needs again
    assert second.get_meta("c") == "3"


MONKEYPATCH_FIRST_TESTS = r'''
import os

BEFORE = os.environ.get("SSL_CERT_FILE")


def test_monkeypatch_before_mockpay_sets_the_variable(monkeypatch, mockpay):
    assert os.environ["SSL_CERT_FILE"] == str(mockpay.trust_file)
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")


def test_the_next_test_finds_the_variable_as_it_was():
    assert os.environ.get("SSL_CERT_FILE") == BEFORE
'''


@pytest.mark.parametrize("before", [None, "/etc/ssl/certs/ca-certificates.crt"])
def test_ssl_cert_file_comes_back_after_a_monkeypatch_set_up_before_the_fixture(pytester, monkeypatch, before):
    """test_x(monkeypatch, mockpay) that sets SSL_CERT_FILE: monkeypatch's undo runs after the
    fixture's stop(), and put back the stopped server's trust bundle, which then stayed for
    the rest of the session (the tests after it trusted that file instead of what was set)."""
    import os
    if before is None:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    else:
        monkeypatch.setenv("SSL_CERT_FILE", before)
    pytester.makepyfile(test_order=MONKEYPATCH_FIRST_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert os.environ.get("SSL_CERT_FILE") == before


# -- `mockpay serve` as an operator runs it ---------------------------------------------------

@pytest.mark.parametrize("args,env,says", [
    (["--port", "70000"], {}, "port (MOCKPAY_PORT) must be 0 to 65535, not 70000"),
    (["--port", "-1"], {}, "port (MOCKPAY_PORT) must be 0 to 65535, not -1"),
    (["--https-port", "65536"], {}, "https port (MOCKPAY_HTTPS_PORT) must be 0 to 65535, not 65536"),
    (["--threads", "0"], {}, "threads (MOCKPAY_THREADS) must be at least 1, not 0"),
    ([], {"MOCKPAY_PORT": "99999"}, "port (MOCKPAY_PORT) must be 0 to 65535, not 99999"),
])
def test_serve_refuses_a_port_or_thread_count_gunicorn_cannot_use(tmp_path, args, env, says):
    """gunicorn met them as a traceback: OverflowError from bind() (after the banner said
    'listening'), or 'max_workers must be greater than 0' in each worker until 'Worker
    failed to boot'. Now one line naming the setting, and nothing starts."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOCKPAY_")}
    environ.update(env, PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "-c", "from mockpay.cli import main; main()", "serve",
                           "--data-dir", str(tmp_path / "data"), "--workers", "1", *args],
                          capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: {says}"
    assert "listening" not in done.stdout
