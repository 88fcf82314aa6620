"""CLI: vaults list|show, reset, requests, and serve's refusals (no server needed)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mockpay import create_app
from mockpay.cli import main
from tests.conftest import Caller
from tests.support import MC_OK, OWN_OK, VISA_OK, vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"


@pytest.fixture
def data_dir(tmp_path, merchant_keys):
    """A data directory with two clients, three vaults and a few journal entries."""
    data = tmp_path / "data"
    app = create_app({"data_dir": data, "dispatcher": False})
    svc = app.extensions["mockpay"]
    callers = {}
    for client_id in ("SHOP_A", "SHOP_B"):
        svc.clients.add(client_id, public_key=merchant_keys["public"])
        callers[client_id] = Caller(app, {"client_id": client_id, "private_key": merchant_keys["private"],
                                          "alipay_public_key": svc.keyring.public_key_body})
    callers["SHOP_A"].call(VAULT, vault_body("a-ok", card_no=VISA_OK))
    callers["SHOP_A"].call(VAULT, vault_body("a-expired", card_no=OWN_OK, expiryYear="20"))
    callers["SHOP_B"].call(VAULT, vault_body("b-ok", card_no=MC_OK))
    callers["SHOP_B"].call("/ams/api/v1/vaults/inquireVaulting", {"vaultingRequestId": "missing"})
    svc.store.close()
    return data


def run(data_dir, *args, input=None):
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], input=input, catch_exceptions=False)
    return result


class TestVaults:
    def test_list_json(self, data_dir):
        result = run(data_dir, "vaults", "list", "--json")
        assert result.exit_code == 0, result.output
        vaults = json.loads(result.output)["vaults"]
        assert [v["vaultingRequestId"] for v in vaults] == ["b-ok", "a-expired", "a-ok"]
        assert VISA_OK not in result.output and MC_OK not in result.output

    def test_list_filters(self, data_dir):
        out = json.loads(run(data_dir, "vaults", "list", "--json", "--client-id", "SHOP_A",
                             "--status", "FAIL").output)
        assert [(v["vaultingRequestId"], v["vaultingResultCode"]) for v in out["vaults"]] == \
               [("a-expired", "CARD_EXPIRED")]

    def test_list_text(self, data_dir):
        result = run(data_dir, "vaults", "list")
        lines = result.output.splitlines()
        assert lines[0].split()[:3] == ["CREATED", "CLIENT", "VAULTING"]
        assert len(lines) == 4
        assert "a-ok" in lines[3] and "405469******0768" in lines[3] and "SUCCESS" in lines[3]
        assert "CARD_EXPIRED" in lines[2]
        assert VISA_OK not in result.output

    def test_show(self, data_dir):
        result = run(data_dir, "vaults", "show", "a-ok")
        assert result.exit_code == 0
        assert "405469******0768 VISA" in result.output and "SHOP_A" in result.output
        shown = json.loads(run(data_dir, "vaults", "show", "b-ok", "--json").output)
        assert shown["clientId"] == "SHOP_B" and shown["card"]["masked"] == "516277******4622"

    def test_show_unknown_is_an_error(self, data_dir):
        result = run(data_dir, "vaults", "show", "nope")
        assert result.exit_code == 1 and "no vault 'nope'" in result.output

    def test_an_overdue_challenge_shows_as_failed(self, tmp_path, merchant_keys):
        app = create_app({"data_dir": tmp_path, "dispatcher": False})
        svc = app.extensions["mockpay"]
        svc.clients.add("SHOP", public_key=merchant_keys["public"])
        shop = Caller(app, {"client_id": "SHOP", "private_key": merchant_keys["private"],
                            "alipay_public_key": svc.keyring.public_key_body})
        for request_id in ("late", "open"):
            shop.call(VAULT, vault_body(request_id, card_no="4000000207000003"))  # a 3DS challenge
        svc.clock.advance(svc.config.challenge_ttl + 1)
        svc.store.close()
        shown = json.loads(run(tmp_path, "vaults", "show", "late", "--json").output)
        assert (shown["status"], shown["vaultingResultCode"]) == ("FAIL", "USER_PAYMENT_VERIFICATION_FAILED")
        listed = json.loads(run(tmp_path, "vaults", "list", "--json").output)["vaults"]
        assert {v["vaultingRequestId"]: v["status"] for v in listed} == {"late": "FAIL", "open": "FAIL"}

    def test_bad_status_is_a_usage_error(self, data_dir):
        result = run(data_dir, "vaults", "list", "--status", "DONE")
        assert result.exit_code == 2 and "DONE" in result.output


class TestRequests:
    def test_journal_json_and_filters(self, data_dir):
        out = json.loads(run(data_dir, "requests", "--json").output)["requests"]
        assert [e["vaultingRequestId"] for e in out] == ["missing", "b-ok", "a-expired", "a-ok"]
        assert out[-1]["request"]["paymentMethodDetail"]["card"]["cardNo"] == "405469******0768"
        only = json.loads(run(data_dir, "requests", "--json", "--result-code", "VAULTING_NOT_EXIST").output)
        assert [e["clientId"] for e in only["requests"]] == ["SHOP_B"]

    def test_text(self, data_dir):
        result = run(data_dir, "requests", "--client-id", "SHOP_A")
        lines = result.output.splitlines()
        assert len(lines) == 2
        assert "POST /ams/api/v1/vaults/vaultPaymentMethod" in lines[0] and "client=SHOP_A" in lines[0]
        assert "result=SUCCESS" in lines[1] and "vaultingRequestId=a-ok" in lines[1]


class TestReset:
    def test_one_client_json(self, data_dir):
        out = json.loads(run(data_dir, "reset", "--client-id", "SHOP_A", "--yes", "--json").output)
        assert out["reset"] == "SHOP_A" and out["deleted"]["vaults"] == 2 and out["deleted"]["journal"] == 2
        remaining = json.loads(run(data_dir, "vaults", "list", "--json").output)["vaults"]
        assert [v["clientId"] for v in remaining] == ["SHOP_B"]

    def test_everything_asks_first(self, data_dir):
        result = run(data_dir, "reset", input="n\n")
        assert result.exit_code == 1 and "Aborted" in result.output
        assert len(json.loads(run(data_dir, "vaults", "list", "--json").output)["vaults"]) == 3
        result = run(data_dir, "reset", input="y\n")
        assert result.exit_code == 0 and result.output.splitlines()[-1].startswith("reset all: ")
        assert "3 vaults" in result.output and "4 journal" in result.output
        assert json.loads(run(data_dir, "vaults", "list", "--json").output)["vaults"] == []
        clients = json.loads(run(data_dir, "clients", "list", "--json").output)["clients"]
        assert [c["clientId"] for c in clients] == ["SHOP_A", "SHOP_B"]

    def test_unknown_client(self, data_dir):
        result = run(data_dir, "reset", "--client-id", "NOBODY", "--yes")
        assert result.exit_code == 1 and "no client 'NOBODY'" in result.output


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    for command in ("serve", "clients", "scenarios", "clock", "notifications", "vaults", "reset", "requests"):
        assert f"\n  {command} " in result.output


def test_python_dash_m_mockpay_is_the_mockpay_command():
    result = subprocess.run([sys.executable, "-m", "mockpay", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: mockpay [OPTIONS] COMMAND")
    assert "\n  serve " in result.stdout


def serve_cli(tmp_path, *args, env=None):
    import os
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOCKPAY_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "mockpay.cli", "--data-dir", str(tmp_path / "d"), "serve", *args],
                          capture_output=True, text=True, timeout=60, env=environ)


class TestServeRefuses:
    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "mockpay.internal"])
    def test_non_loopback_without_token(self, tmp_path, host):
        result = serve_cli(tmp_path, "--host", host, "--port", "1")
        assert result.returncode == 1
        assert "refusing to listen on" in result.stderr and "MOCKPAY_ADMIN_TOKEN" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "d").exists()  # refused before creating anything

    def test_tls_and_https_port_together(self, tmp_path):
        result = serve_cli(tmp_path, "--tls", "--https-port", "8443")
        assert result.returncode == 2 and "--https-port" in result.stderr

    def test_bad_log_format_from_the_environment(self, tmp_path):
        result = serve_cli(tmp_path, env={"MOCKPAY_LOG_FORMAT": "xml"})
        assert result.returncode == 1 and "log format must be one of text, json" in result.stderr


class TestDataDirAnywhere:
    """--data-dir works after the command's name too, as the README says ("every command")."""

    def test_after_a_subcommand(self, tmp_path):
        runner = CliRunner()
        made = runner.invoke(main, ["clients", "add", "SANDBOX_AFTER", "--generate", "--data-dir", str(tmp_path / "d")])
        assert made.exit_code == 0, made.output
        assert (tmp_path / "d" / "mockpay.sqlite3").exists()
        listed = runner.invoke(main, ["clients", "list", "--data-dir", str(tmp_path / "d")])
        assert "SANDBOX_AFTER" in listed.output
        assert "SANDBOX_AFTER" not in runner.invoke(main, ["--data-dir", str(tmp_path / "e"), "clients", "list"]).output

    def test_the_one_after_the_command_wins(self, tmp_path):
        runner = CliRunner()
        runner.invoke(main, ["--data-dir", str(tmp_path / "d"), "clients", "add", "SANDBOX_D", "--generate"])
        out = runner.invoke(main, ["--data-dir", str(tmp_path / "e"), "clients", "list", "--data-dir", str(tmp_path / "d")])
        assert "SANDBOX_D" in out.output

    def test_every_command_offers_it(self):
        def leaves(group, path=()):
            for name, cmd in group.commands.items():
                if hasattr(cmd, "commands"):
                    yield from leaves(cmd, path + (name,))
                else:
                    yield path + (name,), cmd
        for path, cmd in leaves(main):
            assert any("--data-dir" in p.opts for p in cmd.params), path


def test_clients_add_warns_when_it_replaces_a_clients_key(tmp_path):
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path / "d"), "clients", "add", "SANDBOX_TWICE", "--generate", "--json"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0 and "warning" not in first.stderr
    second = runner.invoke(main, args)
    assert second.exit_code == 0
    assert "SANDBOX_TWICE was already registered; its key is replaced" in second.stderr
    assert json.loads(second.stdout)["merchantPrivateKey"] != json.loads(first.stdout)["merchantPrivateKey"]
