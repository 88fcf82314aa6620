"""Walk the whole built-in catalogue through the official Python SDK against `mockpay serve --tls`:
every rule's documented outcome, then what inquireVaulting says about it."""
from __future__ import annotations

import http.client
import uuid

import pytest
import requests
from com.alipay.ams.api.exception.exception import AlipayApiException

from mockpay import scenarios as sc
from mockpay.cards import detect_brand, luhn_complete
from mockpay.codes import API_MESSAGES, RESULT_CODES
from mockpay.vaulting import DEFAULT_REASON, STORED_CODES
from tests.integration.sdk import execute, inquire_request, vault_request
from tests.integration.sdk_sessions import cache_card_request, session_request, token_vault_request

RULES = sc.builtin().rules
NEUTRAL_CARD = "4111111111111111"  # named by no rule of the catalogue
URLS = set(sc.URL_FIELDS)
TRANSPORT_ERRORS = (AlipayApiException, OSError, http.client.HTTPException)


class Admin:
    def __init__(self, server):
        self.base = server.base_url
        self.verify = str(server.data_dir / "tls" / "ca.pem")

    def post(self, path: str, body: dict) -> dict:
        response = requests.post(self.base + path, json=body, verify=self.verify, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def admin(tls_server):
    return Admin(tls_server)


def request_kwargs(rule: sc.Rule) -> dict:
    """SDK request arguments that make `rule` match."""
    kwargs: dict = {"card_no": NEUTRAL_CARD}
    for c in rule.conditions:
        if c.path == "#card":
            kwargs["card_no"] = c.value if c.op == "equals" else c.value[0]
        elif c.path == "#bin":
            kwargs["card_no"] = luhn_complete(c.value[0].ljust(15, "0"))
        elif c.written == "is3DSAuthentication" and c.op == "equals":
            kwargs["is3ds"] = c.value == "true"
        elif c.written == "expiryMonth" and c.op == "equals":
            kwargs["expiry_month"] = c.value
        elif c.written == "cvv" and c.op == "equals":
            kwargs["cvv"] = c.value
        elif c.path == "vaultingRequestId" and c.op == "prefix":
            kwargs["request_prefix"] = c.value[0]
        else:
            pytest.fail(f"the walk cannot build a request for {c.describe()} ({rule.label})")
    return kwargs


def vault(sdk_client, kwargs: dict) -> tuple[str, dict | Exception]:
    kwargs = dict(kwargs)
    request_id = kwargs.pop("request_prefix", "walk-") + uuid.uuid4().hex[:16]
    try:
        return request_id, execute(sdk_client, vault_request(request_id, **kwargs))
    except TRANSPORT_ERRORS as exc:
        return request_id, exc


def inquire(sdk_client, request_id: str) -> dict:
    return execute(sdk_client, inquire_request(request_id))


def check_vault_outcome(sdk_client, admin, rule: sc.Rule, outcome: sc.Outcome, kwargs: dict) -> None:
    """One vaultPaymentMethod call, checked against the outcome the catalogue documents."""
    request_id, answer = vault(sdk_client, kwargs)
    card_no = kwargs["card_no"]
    if outcome.fault:
        assert isinstance(answer, Exception), f"{rule.label}: expected {outcome.fault}, got {answer}"
        if outcome.fault.startswith("http_"):
            assert f"invalid http status {outcome.fault[5:]}" in str(answer)
        state = inquire(sdk_client, request_id)
        if outcome.processed:
            assert state["vaultingStatus"] == "SUCCESS", state
        else:
            assert state["result"]["resultCode"] == "VAULTING_NOT_EXIST", state
        return
    assert not isinstance(answer, Exception), f"{rule.label}: {answer!r}"
    code = outcome.result_code
    assert answer["result"]["resultCode"] == code, (rule.label, answer)
    assert answer["result"]["resultStatus"] == RESULT_CODES[code][0]
    assert answer["vaultingRequestId"] == request_id  # required in the answer, PARAM_ILLEGAL included
    named = [c.written for c in rule.conditions if c.written in ("expiryMonth", "cvv")]
    if named:  # Antom's invalid expiry / CVV: refused by validation, the message names the field
        assert f"paymentMethodDetail.card.{named[0]}" in answer["result"]["resultMessage"]
    else:
        assert answer["result"]["resultMessage"] == (outcome.result_message or RESULT_CODES[code][1])
    state = inquire(sdk_client, request_id)

    if code == "SUCCESS":
        card = answer["paymentMethodDetail"]["card"]
        assert card["maskedCardNo"].endswith(card_no[-4:]) and card_no not in str(answer)
        assert card["brand"] == (outcome.brand or detect_brand(card_no) or "VISA")
        assert card.get("issuingCountry") == outcome.issuing_country
        assert card["funding"] == outcome.funding
        assert state["vaultingStatus"] == "SUCCESS"
        assert state["paymentMethodDetail"]["card"]["cardToken"] == card["cardToken"]
    elif code == "VERIFICATION_IN_PROCESS" and outcome.urls:
        assert URLS & set(answer) == set(outcome.urls)
        assert state["vaultingStatus"] == "PROCESSING"
        assert {k: state[k] for k in outcome.urls} == {k: answer[k] for k in outcome.urls}
        assert URLS & set(state) == set(outcome.urls)
        done = admin.post(f"/_mockpay/vaults/{request_id}/complete",
                          {"outcome": "success", "clientId": sdk_client_id(sdk_client),
                           **({"otp": outcome.challenge_otp} if outcome.challenge_otp else {})})
        final = inquire(sdk_client, request_id)
        assert final["vaultingStatus"] == done["vaultingStatus"]
        if outcome.challenge_success == "SUCCESS":
            assert final["vaultingStatus"] == "SUCCESS" and final["paymentMethodDetail"]["card"]["cardToken"]
        else:
            assert (final["vaultingStatus"], final["vaultingResultCode"]) == ("FAIL", outcome.challenge_success)
        assert not URLS & set(final)
    elif code in STORED_CODES and code != "VERIFICATION_IN_PROCESS":  # a FAIL vault
        assert state["vaultingStatus"] == "FAIL"
        assert state["vaultingResultCode"] == (outcome.reason or DEFAULT_REASON[code])
        assert "paymentMethodDetail" not in state
    else:  # rejected: nothing stored, retry with a new id (VERIFICATION_IN_PROCESS without links too)
        assert not URLS & set(answer)
        assert state["result"]["resultCode"] == "VAULTING_NOT_EXIST", state


def sdk_client_id(sdk_client) -> str:
    return sdk_client._DefaultAlipayClient__client_id


def check_envelope(rule: sc.Rule, answer: dict) -> str:
    code = rule.outcomes[0].result_code
    message = API_MESSAGES.get(rule.api, {}).get(code, RESULT_CODES[code][1])  # the API's page's wording
    assert answer["result"] == {"resultStatus": RESULT_CODES[code][0], "resultCode": code,
                                "resultMessage": message}, (rule.label, answer)
    return code


def check_cache_card_rule(sdk_client, rule: sc.Rule) -> None:
    """cacheCard through the SDK's client (a five-line AlipayRequest, as a merchant writes it)."""
    [card_no] = rule.card_numbers()
    answer = execute(sdk_client, cache_card_request(card_no))
    if check_envelope(rule, answer) != "SUCCESS":
        assert "paymentMethodDetail" not in answer and "expiryTime" not in answer
        return
    card = answer["paymentMethodDetail"]["card"]
    assert card["mask"] == f"{card_no[:6]}******{card_no[-4:]}" and card_no not in str(answer)
    vaulted = execute(sdk_client, token_vault_request("walk-" + uuid.uuid4().hex[:16], card["cardToken"]))
    assert vaulted["result"]["resultCode"] == "SUCCESS"
    assert vaulted["paymentMethodDetail"]["card"]["lastFour"] == card_no[-4:]


def check_session_rule(sdk_client, admin, rule: sc.Rule) -> None:
    """createVaultingSession through the SDK's own AlipayVaultingSessionRequest."""
    [condition] = rule.conditions
    assert (condition.path, condition.op) == ("vaultingRequestId", "prefix")
    request_id = condition.value[0] + uuid.uuid4().hex[:16]
    answer = execute(sdk_client, session_request(request_id))
    if check_envelope(rule, answer) == "SUCCESS":
        assert answer["vaultingSessionId"] and answer["normalUrl"].endswith(answer["vaultingSessionId"])
        assert len(answer["vaultingSessionData"].split("&&")) == 4
        assert requests.get(answer["normalUrl"], verify=admin.verify, timeout=10).status_code == 200
    else:
        assert not {"vaultingSessionData", "vaultingSessionId", "normalUrl"} & set(answer)
        # nothing was stored: the same id with another body is not REPEAT_REQ_INCONSISTENT
        again = execute(sdk_client, session_request(request_id, redirect_url="https://merchant.example/other"))
        assert again["result"] == answer["result"]


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_catalogue_rule_through_the_sdk(sdk_client, admin, rule):
    if rule.api == "cacheCard":
        check_cache_card_rule(sdk_client, rule)
        return
    if rule.api == "createVaultingSession":
        check_session_rule(sdk_client, admin, rule)
        return
    kwargs = request_kwargs(rule)
    if rule.api == "inquireVaulting":
        request_id, answer = vault(sdk_client, kwargs)
        assert answer["result"]["resultCode"] == "SUCCESS"
        state = inquire(sdk_client, request_id)
        code = rule.outcomes[0].result_code
        assert state["result"] == {"resultStatus": RESULT_CODES[code][0], "resultCode": code,
                                   "resultMessage": RESULT_CODES[code][1]}
        assert "vaultingStatus" not in state
        return
    assert rule.api == "vaultPaymentMethod"
    if not rule.sequence:
        check_vault_outcome(sdk_client, admin, rule, rule.outcomes[0], kwargs)
        return
    admin.post("/_mockpay/scenarios/reset", {"clientId": sdk_client_id(sdk_client)})
    steps = list(rule.outcomes)
    after = rule.outcomes[0] if rule.after == "cycle" else rule.outcomes[-1]
    for outcome in steps + [after]:
        check_vault_outcome(sdk_client, admin, rule, outcome, kwargs)


CHALLENGES = [r for r in RULES if not r.sequence and r.outcomes[0].result_code == "VERIFICATION_IN_PROCESS"
              and r.outcomes[0].urls]


@pytest.mark.parametrize("action", ["fail", "cancel"])
@pytest.mark.parametrize("rule", CHALLENGES, ids=[r.name for r in CHALLENGES])
def test_failing_each_catalogue_challenge(sdk_client, admin, rule, action):
    outcome = rule.outcomes[0]
    request_id, answer = vault(sdk_client, request_kwargs(rule))
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS"
    admin.post(f"/_mockpay/vaults/{request_id}/complete", {"outcome": action})
    state = inquire(sdk_client, request_id)
    expected = outcome.challenge_fail if action == "fail" else outcome.challenge_cancel
    assert (state["vaultingStatus"], state["vaultingResultCode"]) == ("FAIL", expected)
