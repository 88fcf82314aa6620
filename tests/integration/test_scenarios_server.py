"""Scenarios on a real gunicorn server with two workers: files given to `serve --scenarios`,
rule sets loaded at run time per client id, and sequences whose state every worker shares."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from tests.support import ServerProcess, response_verifies, sdk_body, signed_headers, vault_body

ROOT = Path(__file__).resolve().parents[2]
VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"


class Merchant:
    """Signs like the SDK, over plain HTTP, and checks every answer's signature."""

    def __init__(self, server: ServerProcess, client: dict):
        self.server, self.client = server, client
        self.http = requests.Session()

    def call(self, path: str, body: dict) -> dict:
        text = sdk_body(body)
        headers = signed_headers(self.client["clientId"], self.client["merchantPrivateKey"], path, text)
        response = self.http.post(self.server.base_url + path, data=text.encode(), headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert response_verifies(path, response.headers, response.content, self.client["alipayPublicKey"])
        return response.json()

    def vault(self, card: str, request_id: str | None = None, **card_fields) -> dict:
        return self.call(VAULT, vault_body(request_id or "srv-" + uuid.uuid4().hex[:12], card, **card_fields))


def register(server: ServerProcess, client_id: str) -> Merchant:
    out = server.cli("clients", "add", client_id, "--generate", "--json")
    return Merchant(server, json.loads(out.stdout))


@pytest.fixture(scope="module")
def example_server(tmp_path_factory):
    """`mockpay serve --scenarios scenarios/` (the example folder) with two workers."""
    server = ServerProcess(tmp_path_factory.mktemp("examples") / "data", workers=2,
                           extra_args=("--scenarios", str(ROOT / "scenarios"))).start()
    yield server
    server.stop()


def test_serve_loads_a_folder_before_the_catalogue(example_server):
    merchant = register(example_server, "SANDBOX_EXAMPLES")
    amex = merchant.vault("378282246310005", cvv="1234")
    assert amex["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert amex["result"]["resultMessage"] == "Card brand not supported for this merchant."
    prepaid = merchant.vault("4111111111111111")
    assert prepaid["paymentMethodDetail"]["card"]["funding"] == "PREPAID"
    assert prepaid["paymentMethodDetail"]["card"]["issuingCountry"] == "SG"
    # the built-in catalogue still answers after the files
    assert merchant.vault("4054692760174822")["result"]["resultCode"] == "VERIFICATION_FAIL"
    listing = requests.get(example_server.base_url + "/_mockpay/scenarios", timeout=10).json()
    assert [Path(s).name for s in listing["sources"]] == ["3ds-app.yaml", "checkout-ci.yaml", "flaky-network.yaml",
                                                          "default_scenarios.yaml"]


def test_a_sequence_counts_calls_across_workers(example_server):
    merchant = register(example_server, "SANDBOX_SEQ")
    codes = [merchant.vault("5555555555554444")["result"]["resultCode"] for _ in range(6)]
    assert codes == ["UNKNOWN_EXCEPTION", "UNKNOWN_EXCEPTION", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"]
    cycle = [merchant.vault("6011111111111117")["result"]["resultCode"] for _ in range(6)]
    assert cycle == ["SUCCESS", "SUCCESS", "REQUEST_TRAFFIC_EXCEED_LIMIT"] * 2


def put_rules(server, client_id: str, rules: str) -> None:
    response = requests.put(f"{server.base_url}/_mockpay/clients/{client_id}/scenarios", data=rules,
                            headers={"Content-Type": "application/yaml"}, timeout=10)
    assert response.status_code == 200, response.text


def test_run_time_sets_isolate_parallel_jobs(http_server):
    job_a, job_b = register(http_server, "SANDBOX_JOB_A"), register(http_server, "SANDBOX_JOB_B")
    rules = ("default: {resultCode: RISK_REJECT, reason: FRAUD_REJECT}\n"
             "rules:\n"
             "  - match: {cardNo: \"4054695723100768\"}\n"
             "    sequence: [{resultCode: UNKNOWN_EXCEPTION}, {resultCode: SUCCESS}]\n")
    put_rules(http_server, "SANDBOX_JOB_A", rules)
    a = [job_a.vault("4054695723100768")["result"]["resultCode"] for _ in range(3)]
    b = [job_b.vault("4054695723100768")["result"]["resultCode"] for _ in range(3)]
    assert a == ["UNKNOWN_EXCEPTION", "SUCCESS", "SUCCESS"]
    assert b == ["SUCCESS"] * 3
    assert job_a.vault("4111111111111111")["result"]["resultCode"] == "RISK_REJECT"
    assert job_b.vault("4111111111111111")["result"]["resultCode"] == "SUCCESS"

    bad = requests.put(http_server.base_url + "/_mockpay/clients/SANDBOX_JOB_B/scenarios",
                       data="rules:\n  - outcome: {resultCode: VERIFICATION_IN_PROCESS, resultStatus: F}\n",
                       timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == [
        "clients/SANDBOX_JOB_B:2: rule 1: outcome.resultStatus: VERIFICATION_IN_PROCESS has resultStatus U, not F"]
    assert job_b.vault("4111111111111111")["result"]["resultCode"] == "SUCCESS"
    requests.delete(http_server.base_url + "/_mockpay/clients/SANDBOX_JOB_A/scenarios", timeout=10)
    assert job_a.vault("4111111111111111")["result"]["resultCode"] == "SUCCESS"


def test_identical_requests_racing_on_the_workers_take_one_step_of_a_sequence(http_server):
    """Four identical vaultPaymentMethod requests at once, on two workers: one call of the
    sequence, whose step all four answer. The requests that found the vault stored by
    another worker used to take a step each (and answer it, when it stored nothing), so
    the next vaultingRequestId skipped steps."""
    import threading
    merchant = register(http_server, "SANDBOX_RACE")
    rules = ("rules:\n  - match: {cardNo: \"4000000101000000\"}\n"
             "    sequence: [{resultCode: SUCCESS}, {resultCode: VERIFICATION_FAIL, reason: LOST_CARD},\n"
             "               {resultCode: RISK_REJECT}]\n"
             "    afterSequence: cycle\n")
    put_rules(http_server, "SANDBOX_RACE", rules)
    expected = ["SUCCESS", "VERIFICATION_FAIL", "RISK_REJECT"]  # each stored: one call per id
    for round_ in range(12):
        gate, answers = threading.Barrier(4), []

        def send():
            clone = Merchant(http_server, merchant.client)  # a connection of its own
            gate.wait()
            answers.append(clone.vault("4000000101000000", f"race-{round_}")["result"]["resultCode"])
        threads = [threading.Thread(target=send) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [expected[round_ % 3]] * 4, (round_, answers)


def test_inquire_reports_a_challenge_completed_through_the_admin_api(http_server):
    merchant = register(http_server, "SANDBOX_ADMIN_3DS")
    answer = merchant.vault("4000000204000006", "adm-3ds-" + uuid.uuid4().hex[:8])
    request_id = answer["vaultingRequestId"]
    state = merchant.call(INQUIRE, {"vaultingRequestId": request_id})
    assert state["vaultingStatus"] == "PROCESSING"
    assert (state["normalUrl"], state["schemeUrl"]) == (answer["normalUrl"], answer["schemeUrl"])
    page = requests.get(answer["normalUrl"], timeout=10)
    assert page.status_code == 200 and "400000******0006" in page.text
    done = requests.post(f"{http_server.base_url}/_mockpay/vaults/{request_id}/complete",
                         json={"outcome": "cancel"}, timeout=10)
    assert done.status_code == 200 and done.json()["vaultingStatus"] == "FAIL"
    state = merchant.call(INQUIRE, {"vaultingRequestId": request_id})
    assert (state["vaultingStatus"], state["vaultingResultCode"]) == ("FAIL", "USER_PAYMENT_VERIFICATION_FAILED")
    assert state["vaultingResultMessage"] == "The buyer cancelled the 3DS verification."


# -- a finished 3DS challenge sends notifyVaulting (the outbox hooks Vaulting._finalised) ----------

@pytest.fixture
def receiver(httpserver, example_server):
    import re

    from tests.webhook import Receiver
    merchant = register(example_server, "SANDBOX_3DS_NOTIFY")
    receiver = Receiver(merchant.client["alipayPublicKey"])
    httpserver.expect_request(re.compile("^/notify"), method="POST").respond_with_handler(receiver.handle)
    receiver.merchant = merchant
    receiver.url = httpserver.url_for("/notify")
    return receiver


def challenge_vault(receiver, card: str = "4000000201000009") -> tuple[str, dict]:
    request_id = "3ds-notify-" + uuid.uuid4().hex[:10]
    body = vault_body(request_id, card)
    body["vaultingNotificationUrl"] = receiver.url
    answer = receiver.merchant.call(VAULT, body)
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS"
    return request_id, answer


@pytest.mark.parametrize("action, result", [("authenticate", "S"), ("fail", "F")])
def test_completing_the_challenge_page_sends_the_notification(example_server, receiver, action, result):
    request_id, answer = challenge_vault(receiver)
    page = requests.post(answer["normalUrl"], data={"action": action}, allow_redirects=False, timeout=10)
    assert page.status_code == 303
    [call] = receiver.wait_calls(request_id, 1)
    assert call.verified, call.verify_error
    assert call.body["result"]["resultStatus"] == result
    assert call.body["vaultingRequestId"] == request_id
    assert ("paymentMethodDetail" in call.body) is (result == "S")


def test_an_expired_challenge_fails_by_itself_and_sends_a_failure_notification(example_server, receiver):
    """Only the clock moves: the workers' dispatchers expire the challenge and notify the merchant,
    without any API call (inquireVaulting or the challenge page) to notice it."""
    request_id, _ = challenge_vault(receiver, "4000000506000001")  # expire -> VERIFY_TIMES_EXCEED_LIMIT
    advanced = requests.post(example_server.base_url + "/_mockpay/clock/advance", json={"seconds": 15 * 60 + 1},
                             timeout=10)
    assert advanced.status_code == 200, advanced.text
    [call] = receiver.wait_calls(request_id, 1)
    assert call.verified, call.verify_error
    assert call.body["result"]["resultStatus"] == "F"
    assert call.body["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert "paymentMethodDetail" not in call.body
    state = receiver.merchant.call(INQUIRE, {"vaultingRequestId": request_id})
    assert (state["vaultingStatus"], state["vaultingResultCode"]) == ("FAIL", "VERIFY_TIMES_EXCEED_LIMIT")
    assert len(receiver.calls_for(request_id)) == 1
