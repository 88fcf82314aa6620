"""cacheCard, and its token used once in vaultPaymentMethod (Flask test client;
the official-SDK and real-server proofs are in tests/integration/)."""
from __future__ import annotations

import copy
import datetime as dt
import json
import logging

import pytest

from mockpay.cards import luhn_complete
from mockpay.clock import iso
from mockpay.scenarios import Outcome
from tests.support import MC_OK, VISA_OK, cache_body, token_vault_body

PREFIXES = ["/ams/api/v1", "/ams/sandbox/api/v1", "/v1"]
CACHE = "/ams/api/v1/paymentMethods/cacheCard"
VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_cache_card_under_every_prefix(ams, services, prefix):
    answer = ams.call(f"{prefix}/paymentMethods/cacheCard", cache_body())
    assert answer["result"] == {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success"}  # its sample; the vaulting APIs say "success."
    assert services.store.count_card_tokens() == 1


def test_documented_answer_fields(ams, services, caplog):
    caplog.set_level(logging.DEBUG)
    raw = ams.post(CACHE, cache_body()).get_data(as_text=True)
    answer = json.loads(raw)
    detail = answer["paymentMethodDetail"]
    assert detail["paymentMethodDetailType"] == "card"
    card = detail["card"]
    assert card["cardToken"].startswith("PYMT") and len(card["cardToken"]) == 36
    assert card["mask"] == "405469******0768"
    assert card["last4"] == "0768"
    assert card["brand"] == "VISA"
    assert card["expiryYear"] == "2030" and card["expiryMonth"] == "07"
    assert card["instUserName"] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert card["billingAddress"]["region"] == "CN" and card["billingAddress"]["zipCode"] == "3100000"
    assert set(card) == {"cardToken", "mask", "last4", "brand", "expiryYear", "expiryMonth", "instUserName",
                         "billingAddress"}
    row = services.store.get_card_token(card["cardToken"])
    assert row["expires_at"] - row["created_at"] == 30 * 60
    assert answer["expiryTime"] == iso(row["expires_at"])
    assert dt.datetime.fromisoformat(answer["expiryTime"]).utcoffset() is not None
    # never echoed, never logged; the security code is not answered either
    shown = json.loads(raw)
    shown["paymentMethodDetail"]["card"].pop("cardToken")  # random hex may hold any three digits
    assert VISA_OK not in raw and "444" not in json.dumps(shown) and "securityCode" not in raw
    assert VISA_OK not in caplog.text


def test_brand_is_detected_when_not_given(ams):
    answer = ams.call(CACHE, cache_body(MC_OK, brand=None, securityCode=None, instUserName=None,
                                        billingAddress=None))
    card = answer["paymentMethodDetail"]["card"]
    assert card["brand"] == "MASTERCARD"
    assert "instUserName" not in card and "billingAddress" not in card


def test_card_data_is_sealed_and_security_code_never_stored(ams, services):
    token = ams.call(CACHE, cache_body(securityCode="987"))["paymentMethodDetail"]["card"]["cardToken"]
    raw = b"".join(p.read_bytes() for p in services.config.db_path.parent.glob("mockpay.sqlite3*"))
    assert VISA_OK.encode() not in raw
    row = services.store.get_card_token(token)
    sealed = json.loads(services.keyring.decrypt(row["card_enc"], context="cache-card"))
    assert sealed["cardNo"] == VISA_OK
    assert "securityCode" not in sealed and "987" not in json.dumps(sealed)
    assert row["card_masked"] == "405469******0768"


@pytest.mark.parametrize("change, field", [
    ({"cardNo": None}, "paymentMethodDetail.card.cardNo"),
    ({"cardNo": "4054695723100769"}, "paymentMethodDetail.card.cardNo"),
    ({"cardNo": "4" * 33}, "paymentMethodDetail.card.cardNo"),
    ({"cardNo": 4054695723100768}, "paymentMethodDetail.card.cardNo"),
    ({"expiryYear": "30"}, "paymentMethodDetail.card.expiryYear"),
    ({"expiryYear": "20300"}, "paymentMethodDetail.card.expiryYear"),
    ({"expiryYear": None}, "paymentMethodDetail.card.expiryYear"),
    ({"expiryMonth": "13"}, "paymentMethodDetail.card.expiryMonth"),
    ({"expiryMonth": None}, "paymentMethodDetail.card.expiryMonth"),
    ({"securityCode": "12"}, "paymentMethodDetail.card.securityCode"),
    ({"securityCode": "12345"}, "paymentMethodDetail.card.securityCode"),
    ({"brand": "NOPE"}, "paymentMethodDetail.card.brand"),
    ({"instUserName": {"firstName": "x" * 33}}, "paymentMethodDetail.card.instUserName.firstName"),
    ({"instUserName": {"lastName": "x" * 33}}, "paymentMethodDetail.card.instUserName.lastName"),
    ({"billingAddress": {"region": "China"}}, "paymentMethodDetail.card.billingAddress.region"),
    ({"billingAddress": {"region": "CN", "state": "Zhejiang1"}}, "paymentMethodDetail.card.billingAddress.state"),
    ({"billingAddress": {"region": "CN", "city": "c" * 33}}, "paymentMethodDetail.card.billingAddress.city"),
    ({"billingAddress": {"region": "CN", "zipCode": "z" * 33}}, "paymentMethodDetail.card.billingAddress.zipCode"),
    ({"billingAddress": {"region": "CN", "address1": "a" * 257}},
     "paymentMethodDetail.card.billingAddress.address1"),
])
def test_bad_card_fields_are_param_illegal(ams, services, change, field):
    answer = ams.call(CACHE, cache_body(**change))
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert answer["result"]["resultStatus"] == "F"
    assert field in answer["result"]["resultMessage"]
    assert VISA_OK not in json.dumps(answer)
    assert services.store.count_card_tokens() == 0


@pytest.mark.parametrize("body, field", [
    ({}, "paymentMethodDetail"),
    ({"paymentMethodDetail": {"card": cache_body()["paymentMethodDetail"]["card"]}},
     "paymentMethodDetail.paymentMethodDetailType"),
    ({"paymentMethodDetail": {"paymentMethodDetailType": "bank",
                              "card": cache_body()["paymentMethodDetail"]["card"]}},
     "paymentMethodDetail.paymentMethodDetailType"),
    ({"paymentMethodDetail": {"paymentMethodDetailType": "card"}}, "paymentMethodDetail.card"),
])
def test_bad_structure_is_param_illegal(ams, services, body, field):
    answer = ams.call(CACHE, body)
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert field in answer["result"]["resultMessage"]
    assert services.store.count_card_tokens() == 0


def test_longest_documented_values_are_accepted(ams):
    answer = ams.call(CACHE, cache_body(
        instUserName={"firstName": "f" * 32, "lastName": "l" * 32},
        billingAddress={"region": "CN", "state": "s" * 8, "city": "c" * 32, "zipCode": "z" * 32,
                        "address1": "a" * 256, "address2": "b" * 256}))
    assert answer["result"]["resultCode"] == "SUCCESS"
    assert answer["paymentMethodDetail"]["card"]["billingAddress"]["address1"] == "a" * 256


# -- the token in vaultPaymentMethod ------------------------------------------------

def test_token_vaults_the_cached_card_once(ams, services):
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    answer = ams.call(VAULT, token_vault_body("tok-1", token))
    assert answer["result"]["resultCode"] == "SUCCESS", answer
    card = answer["paymentMethodDetail"]["card"]
    assert card["maskedCardNo"] == "************0768"
    assert card["brand"] == "VISA"
    assert card["fingerprint"] == services.keyring.fingerprint(VISA_OK)
    assert card["expiryYear"] == "30" and card["expiryMonth"] == "07"
    assert card["cardholderName"] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert card["cardToken"] != token
    vault = services.store.get_vault("SANDBOX_TEST", "tok-1")
    assert services.keyring.decrypt(vault["card_enc"], context="card") == VISA_OK
    assert services.store.get_card_token(token)["used_at"] is not None

    reused = ams.call(VAULT, token_vault_body("tok-2", token))
    assert reused["result"]["resultCode"] == "INVALID_PAYMENTMETHOD_TOKEN"
    assert reused["result"]["resultStatus"] == "F"
    assert services.store.get_vault("SANDBOX_TEST", "tok-2") is None
    assert services.store.count_vaults() == 1


def test_identical_retry_of_the_vault_replays_rather_than_reusing_the_token(ams):
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    first = ams.call(VAULT, token_vault_body("tok-r", token))
    again = ams.call(VAULT, token_vault_body("tok-r", token))
    assert first["result"]["resultCode"] == "SUCCESS"
    assert again == first


# proof (issue 7): the token is used by the transaction that stores the vault, so two
# identical requests racing with one token get one answer (found with four workers)

def test_an_identical_request_that_used_the_token_meanwhile_is_replayed(ams, services, monkeypatch):
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    first = ams.call(VAULT, token_vault_body("race-1", token))
    real = services.store.get_vault
    looks = []

    def looked_too_early(client_id, request_id):  # the first look came before the other request stored its vault
        looks.append(request_id)
        return None if len(looks) == 1 else real(client_id, request_id)
    monkeypatch.setattr(services.store, "get_vault", looked_too_early)
    assert ams.call(VAULT, token_vault_body("race-1", token)) == first
    assert services.store.count_vaults() == 1


def test_a_token_read_before_the_other_request_used_it_still_replays(ams, services, monkeypatch):
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    row_before = services.store.usable_card_token("SANDBOX_TEST", token, services.clock.now())
    first = ams.call(VAULT, token_vault_body("race-2", token))
    monkeypatch.setattr(services.store, "get_vault", lambda *a: None)  # both looks before the other stored
    monkeypatch.setattr(services.store, "usable_card_token", lambda *a: row_before)
    assert ams.call(VAULT, token_vault_body("race-2", token)) == first
    assert services.store.count_vaults() == 1


def test_a_token_in_a_request_that_stores_nothing_stays_usable(ams, services, monkeypatch):
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    with monkeypatch.context() as m:
        m.setattr(services.scenarios, "choose", lambda *a, **k: Outcome(result_code="UNKNOWN_EXCEPTION"))
        assert ams.call(VAULT, token_vault_body("u-1", token))["result"]["resultCode"] == "UNKNOWN_EXCEPTION"
    assert services.store.get_card_token(token)["used_at"] is None
    assert ams.call(VAULT, token_vault_body("u-1", token))["result"]["resultCode"] == "SUCCESS"


def test_request_fields_win_over_cached_ones_except_the_number(ams):
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    answer = ams.call(VAULT, token_vault_body("tok-o", token, expiryYear="31", expiryMonth="01",
                                              cardholderName={"fullName": "A. L."}))
    card = answer["paymentMethodDetail"]["card"]
    assert card["expiryYear"] == "31" and card["expiryMonth"] == "01"
    assert card["cardholderName"] == {"fullName": "A. L."}
    assert card["maskedCardNo"].endswith("0768")


def test_token_expires_on_the_mock_clock(ams, services):
    early = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    late = ams.call(CACHE, cache_body(MC_OK, brand="MASTERCARD"))["paymentMethodDetail"]["card"]["cardToken"]
    services.clock.advance(30 * 60 - 30)
    assert ams.call(VAULT, token_vault_body("exp-1", early))["result"]["resultCode"] == "SUCCESS"
    services.clock.advance(31)
    answer = ams.call(VAULT, token_vault_body("exp-2", late))
    assert answer["result"]["resultCode"] == "INVALID_PAYMENTMETHOD_TOKEN"
    assert services.store.get_vault("SANDBOX_TEST", "exp-2") is None


def test_token_lifetime_is_configurable(make_ams):
    svc, caller = make_ams(card_token_ttl=60)
    answer = caller.call(CACHE, cache_body())
    row = svc.store.get_card_token(answer["paymentMethodDetail"]["card"]["cardToken"])
    assert row["expires_at"] - row["created_at"] == 60
    svc.clock.advance(61)
    reply = caller.call(VAULT, token_vault_body("t", answer["paymentMethodDetail"]["card"]["cardToken"]))
    assert reply["result"]["resultCode"] == "INVALID_PAYMENTMETHOD_TOKEN"


def test_unknown_token(ams, services):
    answer = ams.call(VAULT, token_vault_body("unk", "PYMT" + "0" * 32))
    assert answer["result"]["resultCode"] == "INVALID_PAYMENTMETHOD_TOKEN"
    # the field by its full path, as every other PARAM_ILLEGAL/INVALID_* message names it
    assert answer["result"]["resultMessage"].startswith("paymentMethodDetail.card.cardToken ")
    assert services.store.count_vaults() == 0


def test_another_clients_token_is_invalid(ams, services, merchant_keys):
    from tests.conftest import Caller
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    services.clients.add("OTHER", public_key=merchant_keys["public"])
    other = Caller(ams.http.application, dict(ams.merchant, client_id="OTHER"))
    answer = other.call(VAULT, token_vault_body("x", token))
    assert answer["result"]["resultCode"] == "INVALID_PAYMENTMETHOD_TOKEN"
    # and it was not consumed by the failed attempt
    assert ams.call(VAULT, token_vault_body("y", token))["result"]["resultCode"] == "SUCCESS"


def test_scenario_sees_cache_card_and_the_number(ams, services, monkeypatch):
    seen = []

    def choose(client_id, api, request, card_no=None, db=None):
        seen.append((client_id, api, card_no, request["paymentMethodDetail"]["card"]["expiryYear"]))
        return Outcome()
    monkeypatch.setattr(services.scenarios, "choose", choose)
    assert ams.call(CACHE, cache_body())["result"]["resultCode"] == "SUCCESS"
    assert seen == [("SANDBOX_TEST", "cacheCard", VISA_OK, "2030")]


@pytest.mark.parametrize("code, status", [
    ("PROCESS_FAIL", "F"), ("UNKNOWN_EXCEPTION", "U"), ("REPEAT_REQ_INCONSISTENT", "F"),
    ("USER_NOT_EXIST", "F"), ("USER_STATUS_ABNORMAL", "F"), ("INVALID_PAYMENTMETHOD_TOKEN", "F"),
    ("REQUEST_TRAFFIC_EXCEED_LIMIT", "U"), ("ACCESS_DENIED", "F"), ("PARAM_ILLEGAL", "F"),
])
def test_documented_codes_are_reachable_through_scenarios(ams, services, monkeypatch, code, status):
    monkeypatch.setattr(services.scenarios, "choose", lambda *a, **k: Outcome(result_code=code))
    answer = ams.call(CACHE, cache_body())
    assert answer["result"]["resultCode"] == code
    assert answer["result"]["resultStatus"] == status
    assert "paymentMethodDetail" not in answer and "expiryTime" not in answer
    assert services.store.count_card_tokens() == 0


def test_scenario_fault_is_applied_by_the_gateway(ams, services, monkeypatch):
    monkeypatch.setattr(services.scenarios, "choose",
                        lambda *a, **k: Outcome(fault="http_503", processed=False))
    response = ams.post(CACHE, cache_body(), verify=False)
    assert response.status_code == 503
    assert services.store.count_card_tokens() == 0


def test_cache_card_is_post_only_and_signed(ams, services):
    response = ams.post(CACHE, cache_body(), method="GET")
    assert json.loads(response.data)["result"]["resultCode"] == "METHOD_NOT_SUPPORTED"
    text = json.dumps(cache_body(), indent=3)
    tampered = copy.deepcopy(cache_body())
    tampered["paymentMethodDetail"]["card"]["expiryMonth"] = "08"
    from tests.support import signed_headers
    headers = signed_headers("SANDBOX_TEST", ams.merchant["private_key"], CACHE, text)
    response = ams.http.post(CACHE, data=json.dumps(tampered, indent=3), headers=headers)
    assert json.loads(response.data)["result"]["resultCode"] == "INVALID_SIGNATURE"
    assert services.store.count_card_tokens() == 0


def test_messages_follow_the_cache_card_page_where_it_words_a_code_differently(ams, services, monkeypatch):
    monkeypatch.setattr(services.scenarios, "choose", lambda *a, **k: Outcome(result_code="PROCESS_FAIL"))
    assert ams.call(CACHE, cache_body())["result"]["resultMessage"] == \
        "A general business failure occurred. Don't retry."
    monkeypatch.setattr(services.scenarios, "choose", lambda *a, **k: Outcome(result_code="UNKNOWN_EXCEPTION"))
    assert ams.call(CACHE, cache_body())["result"]["resultMessage"] == "API failed due to unknown reasons."


def test_an_error_raised_on_the_way_is_worded_as_cache_cards_page_words_it(ams, services, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(services.scenarios, "choose", broken)
    assert ams.call(CACHE, cache_body())["result"] == {
        "resultStatus": "U", "resultCode": "UNKNOWN_EXCEPTION", "resultMessage": "API failed due to unknown reasons."}


@pytest.mark.parametrize("given,missing", [("expiryYear", "expiryMonth"), ("expiryMonth", "expiryYear")])
def test_with_a_token_half_an_expiry_date_is_param_illegal(ams, services, given, missing):
    """With a cardToken, expiryYear and expiryMonth come together (they replace the cached
    card's) or not at all. Half of one was UNKNOWN_EXCEPTION (a KeyError) for a year alone,
    and for a month alone a vault whose card had no expiry date at all, never checked."""
    token = ams.call(CACHE, cache_body())["paymentMethodDetail"]["card"]["cardToken"]
    answer = ams.call(VAULT, token_vault_body("half-1", token, **{given: {"expiryYear": "31",
                                                                          "expiryMonth": "01"}[given]}))
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL", answer
    assert answer["result"]["resultMessage"] == \
        f"paymentMethodDetail.card.{missing} is required with {given} (omit both to use the cached card's)"
    assert services.store.count_vaults() == 0
    assert services.store.get_card_token(token)["used_at"] is None
    whole = ams.call(VAULT, token_vault_body("half-1", token, expiryYear="31", expiryMonth="01"))
    assert whole["paymentMethodDetail"]["card"]["expiryYear"] == "31"


AMEX = luhn_complete("37828224631000")


@pytest.mark.parametrize("number,brand,good,bad,problem", [
    (AMEX, "AMEX", "1234", "123", "must be 4 digits for AMEX"),
    (VISA_OK, "VISA", "123", "1234", "must be 3 digits"),
])
def test_with_a_token_the_cvv_fits_the_cached_cards_brand(ams, services, number, brand, good, bad, problem):
    """The schema cannot tell a token's brand, so it used to ask every token for a
    3-digit cvv: an AMEX card's own 4-digit code was refused, and a 3-digit one taken."""
    def token():
        cached = ams.call(CACHE, cache_body(number, brand=brand, securityCode=good))
        return cached["paymentMethodDetail"]["card"]["cardToken"]

    refused_token = token()
    refused = ams.call(VAULT, token_vault_body("cvv-1", refused_token, cvv=bad))
    assert refused["result"] == {"resultStatus": "F", "resultCode": "PARAM_ILLEGAL",
                                 "resultMessage": f"paymentMethodDetail.card.cvv {problem}"}
    assert refused["vaultingRequestId"] == "cvv-1"
    assert services.store.count_vaults() == 0
    assert services.store.get_card_token(refused_token)["used_at"] is None
    vaulted = ams.call(VAULT, token_vault_body("cvv-2", token(), cvv=good))
    assert vaulted["result"]["resultCode"] == "SUCCESS", vaulted
    assert vaulted["paymentMethodDetail"]["card"]["brand"] == brand
