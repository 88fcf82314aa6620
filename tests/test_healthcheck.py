"""`python -m mockpay.healthcheck` (the Docker HEALTHCHECK): which URL it asks, and
that bad settings are one "unhealthy" line, not a traceback. The call against a
running server is in tests/integration/test_docker_start.py."""
from __future__ import annotations

import ssl
import subprocess
import sys

import pytest

from mockpay import healthcheck
from mockpay.config import load_config
from mockpay.crypto import ensure_tls


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ("MOCKPAY_PORT", "MOCKPAY_TLS", "MOCKPAY_HTTPS_PORT", "MOCKPAY_HOST", "MOCKPAY_TLS_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOCKPAY_DATA_DIR", str(tmp_path / "data"))


def test_plain_http_on_the_configured_port(monkeypatch):
    monkeypatch.setenv("MOCKPAY_PORT", "9123")
    assert healthcheck.url_and_context(load_config()) == ("http://127.0.0.1:9123/_mockpay/health", None)


def test_tls_verifies_against_the_data_dirs_ca(monkeypatch, tmp_path):
    ensure_tls(tmp_path / "data")
    monkeypatch.setenv("MOCKPAY_TLS", "true")
    url, context = healthcheck.url_and_context(load_config())
    assert url == "https://127.0.0.1:8080/_mockpay/health"
    subjects = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
    assert [s["commonName"] for s in subjects] == ["mockpay local CA"]


@pytest.mark.parametrize("env", [{"MOCKPAY_PORT": "eighty"}, {"MOCKPAY_TLS": "1"}])  # no CA in the data dir
def test_bad_settings_are_one_unhealthy_line(monkeypatch, capsys, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert healthcheck.main() == 1
    err = capsys.readouterr().err
    assert err.startswith("unhealthy: ") and err.count("\n") == 1 and "Traceback" not in err


def test_no_server_is_unhealthy(monkeypatch, capsys):
    monkeypatch.setenv("MOCKPAY_PORT", "1")  # nothing listens on port 1
    assert healthcheck.main() == 1
    assert capsys.readouterr().err.startswith("unhealthy: http://127.0.0.1:1/_mockpay/health: ")


@pytest.mark.parametrize("args, code", [(["--port", "9000"], 2), (["--help"], 0)])
def test_arguments_are_refused_with_where_the_settings_come_from(args, code):
    # `python -m mockpay.healthcheck --port 9000` asked port 8080 and said only "unhealthy"
    result = subprocess.run([sys.executable, "-m", "mockpay.healthcheck", *args], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == code
    said = result.stdout + result.stderr
    assert said.startswith("usage: python -m mockpay.healthcheck (no arguments)") and "MOCKPAY_PORT" in said
    assert "unhealthy" not in said


# -- the address MOCKPAY_HOST names -----------------------------------------------------------
@pytest.mark.parametrize("host,url", [
    ("0.0.0.0", "http://127.0.0.1:9123/_mockpay/health"),   # the Docker image: any address, asked on loopback
    ("::", "http://[::1]:9123/_mockpay/health"),
    ("::1", "http://[::1]:9123/_mockpay/health"),           # it asked 127.0.0.1, where nothing listens
    ("192.0.2.7", "http://192.0.2.7:9123/_mockpay/health"),
    ("localhost", "http://localhost:9123/_mockpay/health"),
])
def test_it_asks_where_mockpay_host_says_the_server_listens(monkeypatch, host, url):
    monkeypatch.setenv("MOCKPAY_PORT", "9123")
    monkeypatch.setenv("MOCKPAY_HOST", host)
    assert healthcheck.url_and_context(load_config())[0] == url


def test_tls_on_an_address_the_certificate_does_not_name_still_checks_the_ca(monkeypatch, tmp_path):
    ensure_tls(tmp_path / "data")
    monkeypatch.setenv("MOCKPAY_TLS", "true")
    monkeypatch.setenv("MOCKPAY_HOST", "192.0.2.7")
    url, context = healthcheck.url_and_context(load_config())
    assert url == "https://192.0.2.7:8080/_mockpay/health"
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    monkeypatch.setenv("MOCKPAY_TLS_HOSTS", "192.0.2.7")  # named in the certificate: checked
    assert healthcheck.url_and_context(load_config())[1].check_hostname
    monkeypatch.setenv("MOCKPAY_HOST", "::1")
    assert healthcheck.url_and_context(load_config())[1].check_hostname
