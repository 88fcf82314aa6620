"""vaultPaymentMethod and inquireVaulting through the view layer: every
validation rule, idempotency, business failures, card data handling."""
from __future__ import annotations

import json

import pytest

from tests.support import OWN_OK, VISA_OK, vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"


def set_path(body: dict, path: str, value):
    *parents, leaf = path.split(".")
    node = body
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return body


DELETE = object()
CARD = "paymentMethodDetail.card"

# (field path, bad value, words the message must contain)
INVALID = [
    ("vaultingRequestId", DELETE, "is required"),
    ("vaultingRequestId", "x" * 65, "at most 64"),
    ("vaultingRequestId", "", "must not be empty"),
    ("vaultingRequestId", 12345, "JSON string"),
    ("vaultingRequestId", None, "must not be null"),
    ("vaultingNotificationUrl", DELETE, "is required"),
    ("vaultingNotificationUrl", "https://m.example/" + "a" * 2040, "at most 2048"),
    ("redirectUrl", DELETE, "is required"),
    ("redirectUrl", "https://m.example/" + "a" * 2040, "at most 2048"),
    ("merchantRegion", "USA", "at most 2"),
    ("merchantRegion", "us", "2-letter"),
    ("metadata", "m" * 2049, "at most 2048"),
    ("paymentMethodDetail", DELETE, "is required"),
    ("paymentMethodDetail", "CARD", "JSON object"),
    ("paymentMethodDetail.paymentMethodType", DELETE, "is required"),
    ("paymentMethodDetail.paymentMethodType", "WALLET", "must be one of CARD"),
    (CARD, DELETE, "is required"),
    (f"{CARD}.cardNo", DELETE, "is required"),
    (f"{CARD}.cardNo", "4054695723100769", "Luhn"),
    (f"{CARD}.cardNo", "4054 6957 2310 0768", "12 to 19 digits"),
    (f"{CARD}.cardNo", "40546957231OO768", "12 to 19 digits"),
    (f"{CARD}.cardNo", "40546957231", "12 to 19 digits"),
    (f"{CARD}.cardNo", "4" * 20, "12 to 19 digits"),
    (f"{CARD}.cardNo", "1" * 33, "at most 32"),
    (f"{CARD}.cardNo", 4054695723100768, "JSON string"),
    (f"{CARD}.cvv", "12345", "at most 4"),
    (f"{CARD}.cvv", "99", "3 digits"),
    (f"{CARD}.cvv", "1234", "3 digits"),
    (f"{CARD}.cvv", "12a", "3 digits"),
    (f"{CARD}.cvv", 123, "JSON string"),
    (f"{CARD}.expiryYear", "2030", "at most 2"),
    (f"{CARD}.expiryYear", "3x", "2 digits"),
    (f"{CARD}.expiryYear", DELETE, "is required"),
    (f"{CARD}.expiryMonth", "13", "01 to 12"),
    (f"{CARD}.expiryMonth", "00", "01 to 12"),
    (f"{CARD}.expiryMonth", "8", "01 to 12"),
    (f"{CARD}.expiryMonth", 8, "JSON string"),
    (f"{CARD}.expiryMonth", DELETE, "is required"),
    (f"{CARD}.cardholderName.firstName", "f" * 33, "at most 32"),
    (f"{CARD}.cardholderName.middleName", "m" * 33, "at most 32"),
    (f"{CARD}.cardholderName.lastName", "l" * 33, "at most 32"),
    (f"{CARD}.cardholderName.fullName", "n" * 129, "at most 128"),
    (f"{CARD}.cardholderName.firstName", "Ada\x00", "control characters"),
    (f"{CARD}.billingAddress.region", "CHN", "at most 2"),
    (f"{CARD}.billingAddress.state", "s" * 9, "at most 8"),
    (f"{CARD}.billingAddress.city", "c" * 33, "at most 32"),
    (f"{CARD}.billingAddress.address1", "a" * 257, "at most 256"),
    (f"{CARD}.billingAddress.address2", "a" * 257, "at most 256"),
    (f"{CARD}.billingAddress.zipCode", "z" * 33, "at most 32"),
    (f"{CARD}.brand", "VISAA", "must be one of"),
    (f"{CARD}.selectedCardBrand", "NOPE", "must be one of"),
    (f"{CARD}.is3DSAuthentication", "yes", '"true" or "false"'),
    (f"{CARD}.is3DSAuthentication", 1, '"true" or "false"'),
    (f"{CARD}.businessNo", "1" * 11, "at most 10"),
    (f"{CARD}.cardPasswordDigest", "123", "at most 2"),
    (f"{CARD}.cpf", "1" * 12, "at most 11"),
    (f"{CARD}.payerEmail", "e" * 60 + "@x.com", "at most 64"),
    ("env", DELETE, "is required"),
    ("env.terminalType", DELETE, "is required"),
    ("env.terminalType", "PC", "must be one of"),
    ("env.osType", "WINDOWS", "must be one of"),
    ("env.deviceTokenId", "d" * 65, "at most 64"),
    ("env.timeZoneOffset", "721", "from -720 to 720"),
    ("env.timeZoneOffset", True, "from -720 to 720"),
    ("env.timeZoneOffset", "\u0664\u0668\u0660", "from -720 to 720"),  # Arabic-Indic 480: \d and int() took it
    ("env.browserInfo.javaEnabled", "maybe", '"true" or "false"'),
    ("env.colorDepth", 24, "JSON string"),
]


@pytest.mark.parametrize("path,value,words", INVALID,
                         ids=[f"{p}={'<missing>' if v is DELETE else str(v)[:12]}" for p, v, _ in INVALID])
def test_each_validation_rule(ams, services, path, value, words):
    body = set_path(vault_body("bad-1"), path, value)
    answer = ams.call(VAULT, body)  # Caller checks HTTP 200 and the signature
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert answer["result"]["resultStatus"] == "F"
    message = answer["result"]["resultMessage"]
    assert message.startswith(path), message
    assert words in message, message
    assert VISA_OK not in json.dumps(answer)
    # vaultingRequestId is required in the answer: echoed when it is itself valid, never when it was refused
    if path == "vaultingRequestId":
        assert "vaultingRequestId" not in answer, answer
    else:
        assert answer["vaultingRequestId"] == "bad-1", answer
    assert services.store.count_vaults() == 0
    assert ams.call(INQUIRE, {"vaultingRequestId": "bad-1"})["result"]["resultCode"] == "VAULTING_NOT_EXIST"


VALID_VARIANTS = [
    ("env.terminalType", "app"),            # the reference sample sends lower case
    ("env.terminalType", "MINI_APP"),
    ("env.osType", "ios"),
    (f"{CARD}.is3DSAuthentication", "false"),
    (f"{CARD}.is3DSAuthentication", False),  # the Python SDK types it bool
    ("env.timeZoneOffset", -480),            # the Python SDK types it int
    ("env.timeZoneOffset", "480"),
    (f"{CARD}.brand", "visa"),
    (f"{CARD}.cvv", DELETE),
    ("unknownTopLevel", "ignored like a real gateway"),
    (f"{CARD}.unknownCardField", {"nested": 1}),
    (f"{CARD}.cardholderName.fullName", "José Ñúñez"),
]


@pytest.mark.parametrize("path,value", VALID_VARIANTS, ids=[f"{p}={v!r}"[:40] for p, v in VALID_VARIANTS])
def test_accepted_variants(ams, services, path, value):
    body = set_path(vault_body("ok-1"), path, value)
    assert ams.call(VAULT, body)["result"]["resultCode"] == "SUCCESS"
    assert services.store.count_vaults() == 1


def test_amex_needs_a_four_digit_cvv(ams):
    amex = "378282246310005"
    assert ams.call(VAULT, vault_body("a1", amex, cvv="123"))["result"]["resultCode"] == "PARAM_ILLEGAL"
    answer = ams.call(VAULT, vault_body("a2", amex, cvv="1234"))
    assert answer["result"]["resultCode"] == "SUCCESS"
    assert answer["paymentMethodDetail"]["card"]["brand"] == "AMEX"
    assert answer["paymentMethodDetail"]["card"]["maskedCardNo"] == "***********0005"


def test_success_answer_shape(ams):
    answer = ams.call(VAULT, vault_body("shape-1"))
    assert answer["vaultingRequestId"] == "shape-1"
    detail = answer["paymentMethodDetail"]
    assert detail["paymentMethodType"] == "CARD"
    card = detail["card"]
    assert card["maskedCardNo"] == "************0768"
    assert card["brand"] == "VISA"
    assert card["cardToken"].startswith("ALIPAY") and len(card["cardToken"]) > 40
    assert '"cvv"' not in json.dumps(answer)  # as a key: the random base64 cardToken may spell "cvv"


def test_process_fail_has_the_vaulting_pages_message_without_cache_cards_dont_retry(ams):
    answer = ams.call(VAULT, vault_body("pf-1", "4000000103000008"))
    assert answer["result"] == {"resultStatus": "F", "resultCode": "PROCESS_FAIL",
                                "resultMessage": "A general business failure occurred."}


def test_inquire_words_vaulting_result_message_as_the_sdk_documents(ams):
    assert ams.call(VAULT, vault_body("msg-ok"))["result"]["resultMessage"] == "success."
    ok = ams.call(INQUIRE, {"vaultingRequestId": "msg-ok"})
    assert (ok["vaultingResultCode"], ok["vaultingResultMessage"]) == ("SUCCESS", "success.")
    ams.call(VAULT, vault_body("msg-3ds", "4000000201000009"))
    pending = ams.call(INQUIRE, {"vaultingRequestId": "msg-3ds"})
    assert (pending["vaultingStatus"], pending["vaultingResultCode"], pending["vaultingResultMessage"]) == \
        ("PROCESSING", "VERIFICATION_IN_PROCESS", "The verification is still under process.")


def test_expired_card_is_a_business_failure(ams, services):
    answer = ams.call(VAULT, vault_body("old-1", OWN_OK, expiryYear="20", expiryMonth="01"))
    assert answer["result"]["resultStatus"] == "F"
    assert answer["result"]["resultCode"] == "VERIFICATION_FAIL"
    inquiry = ams.call(INQUIRE, {"vaultingRequestId": "old-1"})
    assert inquiry["result"]["resultCode"] == "SUCCESS"
    assert inquiry["vaultingStatus"] == "FAIL"
    assert inquiry["vaultingResultCode"] == "CARD_EXPIRED"
    assert "paymentMethodDetail" not in inquiry
    # a final F replays too
    assert ams.call(VAULT, vault_body("old-1", OWN_OK, expiryYear="20", expiryMonth="01")) == answer


def test_expiry_is_judged_on_the_mock_clock(ams, services):
    body = vault_body("clock-1", OWN_OK, expiryYear="30", expiryMonth="08")
    services.clock.advance(10 * 365 * 86400)  # well past 08/2030
    assert ams.call(VAULT, body)["result"]["resultCode"] == "VERIFICATION_FAIL"


@pytest.mark.parametrize("card_no", ["4054695723100768", "5162774114974622", "9490220011669217",
                                     "4294097400915107", "4006055482525268", "4600729331819383",
                                     "4310377720003234", "4035501000000008"])
def test_antoms_sandbox_cards_take_any_expiry_as_in_antoms_sandbox(ams, card_no):
    # the docs' own sample request has expiry 08/26; Antom's sandbox takes any expiry for its cards
    answer = ams.call(VAULT, vault_body(f"any-{card_no}", card_no, expiryYear="26", expiryMonth="08"))
    assert answer["result"]["resultCode"] == "SUCCESS", answer
    past = ams.call(VAULT, vault_body(f"past-{card_no}", card_no, expiryYear="20", expiryMonth="01"))
    assert past["result"]["resultCode"] == "SUCCESS", past


def test_any_other_card_with_a_past_expiry_is_declined_card_expired(ams):
    luhn_ok_not_in_catalogue = "4111111111111111"
    answer = ams.call(VAULT, vault_body("past-other", luhn_ok_not_in_catalogue, expiryYear="20", expiryMonth="01"))
    assert answer["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert ams.call(INQUIRE, {"vaultingRequestId": "past-other"})["vaultingResultCode"] == "CARD_EXPIRED"


EXPIRED_3DS = {"expiryYear": "20", "expiryMonth": "01", "is3DSAuthentication": "true"}


@pytest.mark.parametrize("card_no", ["4111111111111111", "4000000504000003"],
                         ids=["unknown-card-with-3ds-flag", "mockpays-challenge-card"])
def test_an_expired_card_is_declined_before_any_3ds_challenge(ams, services, card_no):
    answer = ams.call(VAULT, vault_body(f"old-3ds-{card_no}", card_no, **EXPIRED_3DS))
    assert answer["result"]["resultCode"] == "VERIFICATION_FAIL", answer
    assert "normalUrl" not in answer
    inquiry = ams.call(INQUIRE, {"vaultingRequestId": f"old-3ds-{card_no}"})
    assert (inquiry["vaultingStatus"], inquiry["vaultingResultCode"]) == ("FAIL", "CARD_EXPIRED")
    # the same card before its expiry date gets the challenge
    fresh = ams.call(VAULT, vault_body(f"new-3ds-{card_no}", card_no, is3DSAuthentication="true"))
    assert fresh["result"]["resultCode"] == "VERIFICATION_IN_PROCESS" and fresh["normalUrl"], fresh


def test_antoms_card_with_the_3ds_flag_gets_its_challenge_whatever_the_expiry(ams):
    answer = ams.call(VAULT, vault_body("old-3ds-antom", VISA_OK, **EXPIRED_3DS))
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS", answer
    assert answer["normalUrl"]


def test_a_clients_own_any_expiry_card_keeps_its_challenge_under_the_3ds_flag(ams, services):
    services.scenarios.put_client_set(ams.merchant["client_id"], """
version: 1
rules:
  - match: {is3DSAuthentication: "true"}
    outcome: {resultCode: VERIFICATION_IN_PROCESS, urls: [normalUrl]}
  - match: {cardNo: "4111111111111111"}
    outcome: {resultCode: SUCCESS, expiry: any}
""", services.clock.now())
    old = "4111111111111111"
    answer = ams.call(VAULT, vault_body("old-3ds-own", old, **EXPIRED_3DS))
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS", answer
    other = ams.call(VAULT, vault_body("old-3ds-other", "4000000101000000", **EXPIRED_3DS))
    assert other["result"]["resultCode"] == "VERIFICATION_FAIL", other


def test_a_clients_own_rule_for_an_antom_card_decides_its_expiry_under_the_3ds_flag(ams, services):
    services.scenarios.put_client_set(ams.merchant["client_id"], f"""
version: 1
rules:
  - match: {{is3DSAuthentication: "true"}}
    outcome: {{resultCode: VERIFICATION_IN_PROCESS, urls: [normalUrl]}}
  - match: {{cardNo: "{VISA_OK}"}}
    outcome: {{resultCode: SUCCESS}}
""", services.clock.now())
    answer = ams.call(VAULT, vault_body("old-3ds-antom-own", VISA_OK, **EXPIRED_3DS))
    assert answer["result"]["resultCode"] == "VERIFICATION_FAIL", answer  # the catalogue's expiry: any is not asked


def test_an_expired_card_is_declined_in_the_declines_own_words(ams, services):
    services.scenarios.put_client_set(ams.merchant["client_id"], """
version: 1
rules:
  - match: {cardNo: "4111111111111111"}
    outcome: {resultCode: SUCCESS, resultMessage: "Vaulted, well done."}
""", services.clock.now())
    answer = ams.call(VAULT, vault_body("old-msg", "4111111111111111", expiryYear="20", expiryMonth="01"))
    assert answer["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert answer["result"]["resultMessage"] != "Vaulted, well done.", answer


def test_idempotent_replay_creates_nothing_new(ams, services):
    first = ams.call(VAULT, vault_body("idem-1"))
    second = ams.call(VAULT, vault_body("idem-1"))
    assert second == first
    assert services.store.count_vaults() == 1


def test_replay_ignores_formatting_and_key_order(ams, services):
    first = ams.call(VAULT, vault_body("idem-2"))
    compact = json.dumps(dict(reversed(list(vault_body("idem-2").items()))), separators=(",", ":"))
    assert ams.call(VAULT, None, raw=compact) == first
    assert services.store.count_vaults() == 1


def test_same_id_different_body_is_inconsistent(ams, services):
    ams.call(VAULT, vault_body("idem-3"))
    answer = ams.call(VAULT, vault_body("idem-3", "5162774114974622"))
    assert answer["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"
    assert answer["result"]["resultStatus"] == "F"
    assert answer["vaultingRequestId"] == "idem-3"
    assert "paymentMethodDetail" not in answer
    assert services.store.count_vaults() == 1


def test_ids_are_scoped_per_client(ams, services, merchant_keys):
    from tests.conftest import Caller
    services.clients.add("OTHER", public_key=merchant_keys["public"])
    other = Caller(ams.http.application, {**ams.merchant, "client_id": "OTHER"})
    ams.call(VAULT, vault_body("shared-id"))
    assert other.call(VAULT, vault_body("shared-id", "5162774114974622"))["result"]["resultCode"] == "SUCCESS"
    assert other.call(INQUIRE, {"vaultingRequestId": "shared-id"})["paymentMethodDetail"]["card"]["brand"] \
        == "MASTERCARD"


def test_card_token_without_cache_card_token_is_invalid(ams, services):
    body = vault_body("tok-1")
    body["paymentMethodDetail"]["card"] = {"cardToken": "ALIPAYnotatoken"}
    answer = ams.call(VAULT, body)
    assert answer["result"]["resultCode"] == "INVALID_PAYMENTMETHOD_TOKEN"
    assert answer["vaultingRequestId"] == "tok-1"
    assert services.store.count_vaults() == 0


def test_inquire_validation(ams):
    assert ams.call(INQUIRE, {})["result"]["resultMessage"].startswith("vaultingRequestId is required")
    long_id = ams.call(INQUIRE, {"vaultingRequestId": "x" * 65})["result"]
    assert long_id["resultCode"] == "PARAM_ILLEGAL" and "at most 64" in long_id["resultMessage"]
    number = ams.call(INQUIRE, {"vaultingRequestId": 7})["result"]
    assert number["resultCode"] == "PARAM_ILLEGAL" and "JSON string" in number["resultMessage"]


def test_card_number_is_sealed_and_cvv_never_stored(ams, services, app):
    ams.call(VAULT, vault_body("seal-1", cvv="737"))
    row = dict(services.store.get_vault("SANDBOX_TEST", "seal-1"))
    assert services.keyring.decrypt(row["card_enc"], context="card") == VISA_OK
    assert row["card_masked"] == "405469******0768"
    # Random material (tokens, fingerprints, sealed data) may hold any three digits by
    # chance, so look for the number anywhere and for a cvv key in every JSON column.
    everything = " ".join(str(v) for v in row.values())
    assert VISA_OK not in everything
    for column in ("response_json", "payment_method_detail", "challenge", "urls"):
        assert '"cvv"' not in (row[column] or "")
    assert "737" not in json.dumps({k: v for k, v in row.items()
                                    if k in ("card_masked", "brand", "metadata", "notification_url")})
    services.store.close()
    raw = b"".join(p.read_bytes() for p in services.config.data_dir.rglob("*") if p.is_file())
    assert VISA_OK.encode() not in raw
