"""Operations against a real `mockpay serve`: log lines (text and JSON) without card
data, the journal and the admin API over HTTP, the admin token, and the HTTP +
HTTPS listener pair."""
from __future__ import annotations

import json
import os
import re
import signal
import uuid
from pathlib import Path

import pytest
import requests

from tests.integration.sdk import execute, vault_request
from tests.support import ServerProcess, ams_call, digits_shown, free_port, sdk_body, signed_headers, vault_body
from tests.webhook import register, wait_until

AMEX = "378282246310005"
AMEX_CVV = "0466"
VISA = "4054695723100768"
VISA_CVV = "852"


def test_sdk_vault_leaves_no_card_data_in_the_text_log(tls_server, sdk_client):
    request_id = "log-" + uuid.uuid4().hex
    answer = execute(sdk_client, vault_request(request_id, AMEX, cvv=AMEX_CVV))
    assert answer["result"]["resultCode"] == "SUCCESS"
    # log lines reach the file a moment after the answer: poll, don't sleep blindly
    line = wait_until(lambda: next((l for l in tls_server.log().splitlines()
                                    if "/vaults/vaultPaymentMethod" in l and "client=SANDBOX_SDK" in l
                                    and "result=SUCCESS" in l), None), what="the vault's line in the text log")
    assert re.search(r"POST /ams/sandbox/api/v1/vaults/vaultPaymentMethod client=SANDBOX_SDK result=SUCCESS "
                     r"\d+\.\dms$", line), line
    log = tls_server.log()
    assert AMEX not in log
    assert not digits_shown(log, AMEX_CVV)
    assert "cvv" not in log.lower()


@pytest.fixture(scope="module")
def json_server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("jsonlog") / "data", workers=1,
                           extra_args=("--log-format", "json")).start()
    server.client = register(server, "JSON_SHOP")
    yield server
    server.stop()


class TestJsonLogsAndJournal:
    def test_every_line_is_json_and_card_data_never_appears(self, json_server):
        c = json_server.client
        ok = ams_call(json_server, "/ams/api/v1/vaults/vaultPaymentMethod",
                      vault_body("json-ok", card_no=VISA, cvv=VISA_CVV), client=c).json()
        assert ok["result"]["resultCode"] == "SUCCESS"
        bad = ams_call(json_server, "/ams/api/v1/vaults/vaultPaymentMethod",
                       vault_body("json-bad", card_no=VISA, cvv=VISA_CVV, expiryMonth="13"), client=c).json()
        assert bad["result"]["resultCode"] == "PARAM_ILLEGAL"

        def api_lines():
            parsed = [json.loads(l) for l in json_server.log().splitlines() if l.strip()]
            return [p for p in parsed if p.get("logger") == "mockpay.api"]

        lines = wait_until(lambda: len(api_lines()) >= 2 and api_lines(), what="two mockpay.api lines in the log")
        by_code = {l["resultCode"]: l for l in lines}
        success = by_code["SUCCESS"]
        assert success["method"] == "POST" and success["path"] == "/ams/api/v1/vaults/vaultPaymentMethod"
        assert success["clientId"] == "JSON_SHOP" and success["api"] == "vaultPaymentMethod"
        assert success["httpStatus"] == 200 and success["latencyMs"] > 0 and success["level"] == "INFO"
        assert "PARAM_ILLEGAL" in by_code
        log = json_server.log()
        for line in log.splitlines():  # banner, gunicorn's own lines and ours: all JSON
            if line.strip():
                json.loads(line)
        # the banner names the data directory, under pytest's numbered base temp ("/tmp/pytest-of-x/pytest-852/"):
        # the run's number, not the CVV
        data_dir = str(json_server.data_dir.resolve())
        shown = log.replace(json.dumps(data_dir)[1:-1], "<data dir>")
        assert VISA not in log and not digits_shown(shown, VISA_CVV) and "cvv" not in log.lower()
        banner = json.loads(log.splitlines()[0])
        assert banner["event"] == "mockpay.started" and banner["clients"] == []  # registered after start
        assert banner["urls"] == [f"http://localhost:{json_server.port}"]

    def test_journal_over_http(self, json_server):
        c = json_server.client
        ams_call(json_server, "/v1/vaults/vaultPaymentMethod", vault_body("journal-1", card_no=AMEX, cvv=AMEX_CVV),
                 client=c)
        ams_call(json_server, "/v1/vaults/inquireVaulting", {"vaultingRequestId": "journal-1"}, client=c)
        response = requests.get(json_server.base_url + "/_mockpay/requests",
                                params={"vaultingRequestId": "journal-1"}, timeout=10)
        assert response.status_code == 200
        entries = response.json()["requests"]
        assert [e["api"] for e in entries] == ["inquireVaulting", "vaultPaymentMethod"]
        assert entries[1]["request"]["paymentMethodDetail"]["card"]["cardNo"] == "378282*****0005"
        assert AMEX not in response.text and '"cvv"' not in response.text.lower()
        vault = requests.get(json_server.base_url + "/_mockpay/vaults/journal-1", timeout=10).json()
        assert vault["card"]["masked"] == "378282*****0005" and vault["card"]["brand"] == "AMEX"

    def test_reset_over_http(self, json_server):
        c = json_server.client
        ams_call(json_server, "/v1/vaults/vaultPaymentMethod", vault_body("reset-1"), client=c)
        out = requests.post(json_server.base_url + "/_mockpay/reset", json={"clientId": "JSON_SHOP"}, timeout=10)
        assert out.status_code == 200 and out.json()["deleted"]["vaults"] >= 1
        assert requests.get(json_server.base_url + "/_mockpay/vaults", timeout=10).json()["vaults"] == []
        again = ams_call(json_server, "/v1/vaults/inquireVaulting", {"vaultingRequestId": "reset-1"}, client=c).json()
        assert again["result"]["resultCode"] == "VAULTING_NOT_EXIST"


def test_admin_token_on_a_real_server(tmp_path):
    token = "real-" + uuid.uuid4().hex
    server = ServerProcess(tmp_path / "data", workers=1, env={"MOCKPAY_ADMIN_TOKEN": token}).start()
    try:
        base = server.base_url + "/_mockpay"
        assert requests.get(base + "/health", timeout=10).status_code == 200
        denied = requests.get(base + "/vaults", timeout=10)
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "UNAUTHORIZED"
        assert requests.post(base + "/reset", timeout=10).status_code == 401
        allowed = requests.get(base + "/vaults", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert allowed.status_code == 200 and allowed.json()["vaults"] == []
        browser = requests.Session()
        first = browser.get(base + "/requests", params={"token": token}, headers={"Accept": "text/html"}, timeout=10)
        assert first.status_code == 200 and first.history[0].status_code == 303
        assert first.url == base + "/requests"
        assert browser.get(base + "/vaults", timeout=10).status_code == 200  # by the cookie
        assert token not in server.log()
    finally:
        server.stop()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _refused(url: str, verify) -> bool:
    try:
        requests.get(url, timeout=2, verify=verify)
    except requests.ConnectionError:
        return True
    return False


class TestHttpAndHttps:
    def start(self, tmp_path) -> tuple[ServerProcess, str, str]:
        https_port = free_port()
        server = ServerProcess(tmp_path / "data", workers=1, extra_args=("--https-port", str(https_port))).start()
        ca = str(server.data_dir / "tls" / "ca.pem")
        https_base = f"https://127.0.0.1:{https_port}"
        try:
            wait_until(lambda: not _refused(https_base + "/_mockpay/health", ca), what="the HTTPS listener")
        except AssertionError as exc:
            server.stop()
            raise AssertionError(f"{exc}\n{server.log()}") from None
        return server, https_base, ca

    def test_both_listeners_share_one_state(self, tmp_path):
        server, https_base, ca = self.start(tmp_path)
        try:
            client = register(server, "BOTH")
            text = sdk_body(vault_body("both-1"))
            path = "/ams/api/v1/vaults/vaultPaymentMethod"
            answer = requests.post(https_base + path, data=text.encode(), verify=ca, timeout=10,
                                   headers=signed_headers("BOTH", client["merchantPrivateKey"], path, text)).json()
            assert answer["result"]["resultCode"] == "SUCCESS"
            seen = requests.get(server.base_url + "/_mockpay/vaults/both-1", timeout=10).json()
            assert seen["clientId"] == "BOTH"
            banner = server.log().splitlines()[0]
            assert banner == f"mockpay listening on http://localhost:{server.port} and " \
                             f"https://localhost:{https_base.rsplit(':', 1)[1]}"
            assert f"TLS CA: {ca}" in server.log()
        finally:
            server.stop()
        assert _refused(server.base_url + "/_mockpay/health", True)
        assert _refused(https_base + "/_mockpay/health", ca)

    def test_one_listener_dying_stops_the_other(self, tmp_path):
        server, https_base, ca = self.start(tmp_path)
        try:
            arbiters = _children(server.proc.pid)
            assert len(arbiters) == 2, arbiters
            os.kill(arbiters[1], signal.SIGKILL)
            server.proc.wait(20)
            assert server.proc.returncode != 0
            assert "a listener stopped" in server.log()
            wait_until(lambda: _refused(server.base_url + "/_mockpay/health", True)
                       and _refused(https_base + "/_mockpay/health", ca), what="both listeners to close")
        finally:
            server.stop()
            server.kill()
