"""A real `mockpay serve` (gunicorn, several workers): idempotency under
concurrency, restarts, the CLI. Card data at rest and in logs: test_card_data.py."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support import MC_OK, VISA_OK, ServerProcess, response_verifies, sdk_body, signed_headers, vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"


def post(server, path, body, client=None):
    client = client or server.client
    text = sdk_body(body)
    headers = signed_headers(client["clientId"], client["merchantPrivateKey"], path, text)
    response = requests.post(server.base_url + path, data=text.encode(), headers=headers, timeout=30)
    assert response.status_code == 200
    assert response_verifies(path, response.headers, response.content, client["alipayPublicKey"])
    return response.json()


def test_health(http_server):
    assert requests.get(http_server.base_url + "/_mockpay/health", timeout=5).json() == {"status": "ok"}


def test_twenty_concurrent_identical_requests_make_one_vault(http_server):
    body = vault_body("concurrent-1")
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: post(http_server, VAULT, body), range(20)))
    tokens = {a["paymentMethodDetail"]["card"]["cardToken"] for a in answers}
    assert len(tokens) == 1, "each duplicate must replay the one stored answer"
    assert all(a == answers[0] for a in answers)
    db = http_server.data_dir / "mockpay.sqlite3"
    import sqlite3
    with sqlite3.connect(db) as conn:
        n = conn.execute("SELECT COUNT(*) FROM vaults WHERE vaulting_request_id = 'concurrent-1'").fetchone()[0]
    assert n == 1


def test_gunicorn_workers_are_separate_processes(http_server):
    """The concurrency test above is only meaningful with more than one worker process."""
    out = subprocess.run(["pgrep", "-f", "-g", str(http_server.proc.pid), "mockpay"], capture_output=True,
                         text=True)
    pids = [p for p in out.stdout.split() if p.strip()]
    assert len(pids) >= 3, out.stdout  # the CLI process (gunicorn master) + 2 workers


def test_state_survives_sigkill_and_restart(tmp_path, keys_template):
    server = ServerProcess(tmp_path / "data", workers=2).start()
    try:
        client = json.loads(server.cli("clients", "add", "SANDBOX_K", "--generate", "--json").stdout)
        server.client = client
        answered = {}
        for i in range(10):
            answer = post(server, VAULT, vault_body(f"kill-{i}", VISA_OK if i % 2 else MC_OK))
            assert answer["result"]["resultCode"] == "SUCCESS"
            answered[f"kill-{i}"] = answer["paymentMethodDetail"]["card"]["cardToken"]
        server.kill()
        assert server.proc.returncode == -signal.SIGKILL
        server = ServerProcess(tmp_path / "data", port=server.port, workers=2).start()
        server.client = client
        for request_id, token in answered.items():
            inquiry = post(server, INQUIRE, {"vaultingRequestId": request_id})
            assert inquiry["vaultingStatus"] == "SUCCESS"
            assert inquiry["paymentMethodDetail"]["card"]["cardToken"] == token
    finally:
        server.stop()


class TestCli:
    def run(self, tmp_path, *args, check=True):
        return subprocess.run([sys.executable, "-m", "mockpay.cli", "--data-dir", str(tmp_path / "d"), *args],
                              capture_output=True, text=True, check=check)

    def test_clients_add_generate_json_works_with_the_sdk_signer(self, tmp_path):
        from com.alipay.ams.api.tools.signature_tool import sign, verify
        out = json.loads(self.run(tmp_path, "clients", "add", "SANDBOX_X", "--generate", "--json").stdout)
        assert set(out) == {"clientId", "merchantPrivateKey", "alipayPublicKey"}
        assert "-----" not in out["merchantPrivateKey"] and "-----" not in out["alipayPublicKey"]
        listed = json.loads(self.run(tmp_path, "clients", "list", "--json").stdout)["clients"]
        assert listed[0]["clientId"] == "SANDBOX_X"
        value = sign("POST", "/p", "SANDBOX_X", "t", "{}", out["merchantPrivateKey"])
        assert verify("POST", "/p", "SANDBOX_X", "t", "{}", value, listed[0]["publicKey"])

    def test_clients_add_public_key_file(self, tmp_path, merchant_keys):
        key_file = tmp_path / "merchant.pub"
        key_file.write_text(merchant_keys["public"])
        out = json.loads(self.run(tmp_path, "clients", "add", "M1", "--public-key", str(key_file),
                                  "--json").stdout)
        assert "merchantPrivateKey" not in out
        shown = json.loads(self.run(tmp_path, "clients", "show", "M1").stdout)
        assert shown["publicKey"] == merchant_keys["public"]

    def test_bad_public_key_is_refused(self, tmp_path):
        key_file = tmp_path / "bad.pub"
        key_file.write_text("not a key")
        result = self.run(tmp_path, "clients", "add", "M2", "--public-key", str(key_file), check=False)
        assert result.returncode != 0 and "publicKey" in result.stderr

    def test_add_needs_exactly_one_key_source(self, tmp_path):
        result = self.run(tmp_path, "clients", "add", "M3", check=False)
        assert result.returncode == 2 and "--generate" in result.stderr


def test_admin_clients_endpoint_generates_and_registers(http_server):
    response = requests.post(http_server.base_url + "/_mockpay/clients", json={"clientId": "ADMIN_MADE"}, timeout=10)
    assert response.status_code == 201
    made = response.json()
    client = {"clientId": "ADMIN_MADE", "merchantPrivateKey": made["merchantPrivateKey"],
              "alipayPublicKey": made["alipayPublicKey"]}
    answer = post(http_server, VAULT, vault_body("admin-made-1"), client=client)
    assert answer["result"]["resultCode"] == "SUCCESS"
    bad = requests.post(http_server.base_url + "/_mockpay/clients", json={"clientId": "has space"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BAD_REQUEST"
