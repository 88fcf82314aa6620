"""What the hunt on scenario semantics found: valid scenarios that did something other
than what the README promises, pinned down through the views (signed requests)."""
from __future__ import annotations

import pytest

from tests.support import cache_body, token_vault_body, vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
CACHE = "/ams/api/v1/paymentMethods/cacheCard"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"


def put_rules(app, text: str, client_id: str = "SANDBOX_TEST"):
    response = app.test_client().put(f"/_mockpay/clients/{client_id}/scenarios", data=text,
                                     content_type="application/yaml")
    assert response.status_code == 200, response.data
    return response.get_json()


def token_for(ams, card_no: str, **card) -> str:
    answer = ams.call(CACHE, cache_body(card_no, **card))
    assert answer["result"]["resultCode"] == "SUCCESS", answer
    return answer["paymentMethodDetail"]["card"]["cardToken"]


# -- a card vaulted with a cacheCard token matches as the card itself ----------------

TOKEN_RULES = """\
rules:
  - match: {cardNo: {prefix: "41111"}}
    outcome: {resultCode: VERIFICATION_FAIL, reason: LOST_CARD}
  - match: {cardNo: {in: ["4242424242424242"]}}
    outcome: {resultCode: VERIFICATION_FAIL, reason: STOLEN_CARD}
  - match: {cardNo: {regex: "^5555"}}
    outcome: {resultCode: VERIFICATION_FAIL, reason: PICKUP_CARD}
  - match: {brand: DISCOVER}
    outcome: {resultCode: VERIFICATION_FAIL, reason: CARD_NOT_SUPPORTED}
  - match: {expiryMonth: "02", expiryYear: "31"}
    outcome: {resultCode: VERIFICATION_FAIL, reason: INVALID_EXPIRATION_DATE}
  - match: {billingAddress.region: "BR"}
    outcome: {resultCode: RISK_REJECT, reason: FRAUD_REJECT}
"""


@pytest.mark.parametrize("card_no, card, reason", [
    ("4111111111111111", {"brand": None}, "LOST_CARD"),
    ("4242424242424242", {"brand": None}, "STOLEN_CARD"),
    ("5555555555554444", {"brand": None}, "PICKUP_CARD"),
    ("6011111111111117", {"brand": "DISCOVER"}, "CARD_NOT_SUPPORTED"),
    ("4000000101000000", {"expiryYear": "2031", "expiryMonth": "02"}, "INVALID_EXPIRATION_DATE"),
    ("4000000101000000", {"billingAddress": {"region": "BR"}}, "FRAUD_REJECT"),
])
def test_a_rule_on_the_card_matches_a_card_given_by_its_cache_card_token(app, ams, card_no, card, reason):
    """Before, the rule was tested on the request as sent, which has a cardToken and no
    card number, expiry, brand or address: only `cardNo: "..."` and `bin` saw the cached
    card, so these rules matched the card sent in full and never the same card by token."""
    put_rules(app, TOKEN_RULES)
    direct = vault_body("direct", card_no, **{k: v for k, v in card.items() if k != "billingAddress"})
    if "expiryYear" in card:
        direct["paymentMethodDetail"]["card"]["expiryYear"] = card["expiryYear"][-2:]
    if "billingAddress" in card:
        direct["paymentMethodDetail"]["card"]["billingAddress"] = card["billingAddress"]
    direct["paymentMethodDetail"]["card"] = {k: v for k, v in direct["paymentMethodDetail"]["card"].items()
                                             if v is not None}
    by_token = token_vault_body("by-token", token_for(ams, card_no, **card))
    for request_id, body in (("direct", direct), ("by-token", by_token)):
        answer = ams.call(VAULT, body)
        assert answer["result"]["resultStatus"] == "F", (request_id, answer)
        assert ams.call(INQUIRE, {"vaultingRequestId": request_id})["vaultingResultCode"] == reason, request_id


def test_a_rule_about_tokens_still_sees_the_token(app, ams):
    put_rules(app, "rules:\n  - match: {cardToken: {present: true}}\n"
                   "    outcome: {resultCode: PROCESS_FAIL, reason: PROCESS_FAIL}\n")
    assert ams.call(VAULT, vault_body("sent", "4000000101000000"))["result"]["resultCode"] == "SUCCESS"
    token = token_for(ams, "4000000101000000")
    assert ams.call(VAULT, token_vault_body("tokened", token))["result"]["resultCode"] == "PROCESS_FAIL"


def test_a_brand_rule_matches_a_card_sent_without_its_brand(app, ams):
    """The SDK rarely sends `brand`: `brand: MASTERCARD` matched only a request that
    said so itself, never a Mastercard number sent alone. The brand mockpay detects from
    the number now stands in; a brand the request sends still wins."""
    put_rules(app, "rules:\n  - match: {brand: MASTERCARD}\n"
                   "    outcome: {resultCode: VERIFICATION_FAIL, reason: CARD_NOT_SUPPORTED}\n")
    mastercard = vault_body("mc-no-brand", "5555555555554444")
    assert "brand" not in mastercard["paymentMethodDetail"]["card"]
    assert ams.call(VAULT, mastercard)["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert ams.call(VAULT, vault_body("visa-no-brand", "4000000101000000"))["result"]["resultCode"] == "SUCCESS"
    said = vault_body("mc-said", "5555555555554444", brand="MASTERCARD")
    assert ams.call(VAULT, said)["result"]["resultCode"] == "VERIFICATION_FAIL"
    by_token = token_vault_body("mc-token", token_for(ams, "5555555555554444", brand=None))
    assert ams.call(VAULT, by_token)["result"]["resultCode"] == "VERIFICATION_FAIL"


# -- a replay never takes a step of a sequence, even one that raced -----------------

SEQUENCE_RULES = """\
rules:
  - name: steps
    match: {cardNo: "4000000101000000"}
    sequence: [{resultCode: SUCCESS}, {resultCode: VERIFICATION_FAIL, reason: LOST_CARD}, {resultCode: SUCCESS}]
  - name: session-steps
    api: createVaultingSession
    sequence: [{resultCode: SUCCESS}, {resultCode: PROCESS_FAIL}, {resultCode: SUCCESS}]
"""


def calls_of(services, rule: str) -> int | None:
    rows = services.store._all("SELECT calls FROM scenario_state WHERE client_id = ? AND rule_key = ?",
                               ("SANDBOX_TEST", f"clients/SANDBOX_TEST#{rule}"))
    return rows[0]["calls"] if rows else None


def first_look_misses(monkeypatch, store, name: str) -> list:
    """The first look for a stored request comes before the identical request that stores it
    (another worker) has committed, as when a retry races the original."""
    real, looks = getattr(store, name), []

    def look(*args):
        looks.append(args)
        return None if len(looks) == 1 else real(*args)
    monkeypatch.setattr(store, name, look)
    return looks


def test_a_vault_request_that_raced_an_identical_one_replays_it_without_taking_a_step(app, ams, services,
                                                                                       monkeypatch):
    """Before, the rule was asked (and the step counted) before the transaction found the
    vault the other request had stored: the replay took step 2, and the next request got
    step 3 (SUCCESS) instead of the LOST_CARD of step 2."""
    put_rules(app, SEQUENCE_RULES)
    first = ams.call(VAULT, vault_body("seq-1", "4000000101000000"))
    assert first["result"]["resultCode"] == "SUCCESS"
    with monkeypatch.context() as m:
        looks = first_look_misses(m, services.store, "get_vault")
        assert ams.call(VAULT, vault_body("seq-1", "4000000101000000")) == first
        assert looks  # the race was staged
    assert calls_of(services, "steps") == 1
    second = ams.call(VAULT, vault_body("seq-2", "4000000101000000"))
    assert second["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert ams.call(INQUIRE, {"vaultingRequestId": "seq-2"})["vaultingResultCode"] == "LOST_CARD"
    assert calls_of(services, "steps") == 2


def test_a_session_request_that_raced_an_identical_one_replays_it_without_taking_a_step(app, ams, services,
                                                                                         monkeypatch):
    from tests.support import session_body
    create = "/ams/api/v1/vaults/createVaultingSession"
    put_rules(app, SEQUENCE_RULES)
    first = ams.call(create, session_body("vs-seq-1"))
    assert first["result"]["resultCode"] == "SUCCESS"
    with monkeypatch.context() as m:
        looks = first_look_misses(m, services.store, "get_session_by_request")
        assert ams.call(create, session_body("vs-seq-1")) == first
        assert looks
    assert calls_of(services, "session-steps") == 1
    assert ams.call(create, session_body("vs-seq-2"))["result"]["resultCode"] == "PROCESS_FAIL"


# -- enumerations compare upper-cased, a prefix too ----------------------------------

def test_a_prefix_of_an_enumeration_compares_as_the_api_loads_it(app, ams):
    """`terminalType: mini_app` matched MINI_APP (values compare upper-cased, as the API
    loads enumerations), but `{prefix: mini}` never did."""
    put_rules(app, "rules:\n  - match: {terminalType: {prefix: mini}}\n"
                   "    outcome: {resultCode: VERIFICATION_FAIL, reason: RESTRICTED_CARD}\n")
    for request_id, terminal in (("mini-1", "MINI_APP"), ("mini-2", "mini_app"), ("web-1", "WEB")):
        body = vault_body(request_id, "4000000101000000")
        body["env"]["terminalType"] = terminal
        code = ams.call(VAULT, body)["result"]["resultCode"]
        assert code == ("SUCCESS" if terminal == "WEB" else "VERIFICATION_FAIL"), (terminal, code)
