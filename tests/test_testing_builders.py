"""mockpay.testing request builders: valid, realistic, within the documented limits."""
from __future__ import annotations

import json

import pytest
from marshmallow import fields as ma_fields

from mockpay import testing
from mockpay.cards import detect_brand, luhn_ok
from mockpay.codes import AmsError
from mockpay.schemas import load
from mockpay.schemas import vaulting as schemas
from mockpay.schemas.fields import AmsString
from mockpay.testing import RequestBuilder

LOCALES = ["en_US", "pt_BR", "ja_JP", "de_DE", "fr_FR",
           "en_GB", "en_IN", "en_NZ"]  # their street addresses have a line break in Faker


def string_limits(schema, value: dict, path: str = "") -> list[tuple[str, int, int]]:
    """(path, length, documented max) for every string the request holds; fails on
    any field the schema does not declare (EXCLUDE would drop it silently)."""
    out = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        assert key in schema.fields, f"{where} is not a field of {type(schema).__name__}"
        field = schema.fields[key]
        if isinstance(field, ma_fields.Nested):
            out += string_limits(field.schema, item, where)
        elif isinstance(field, AmsString):
            out.append((where, len(item), field.max_length))
    return out


@pytest.mark.parametrize("brand", sorted(testing.BRANDS))
def test_card_numbers_are_luhn_valid_and_of_the_brand(brand):
    builder = RequestBuilder(seed=7)
    _, length = testing.BRANDS[brand]
    for _ in range(50):
        number = builder.card_number(brand)
        assert luhn_ok(number), number
        assert len(number) == length
        assert detect_brand(number) == brand


def test_card_number_for_a_bin_prefix():
    builder = RequestBuilder(seed=3)
    numbers = {builder.card_number(prefix="411111", length=19) for _ in range(20)}
    assert len(numbers) > 1
    for number in numbers:
        assert number.startswith("411111") and len(number) == 19 and luhn_ok(number)


def test_card_number_rejects_unknown_brand_and_bad_length():
    with pytest.raises(ValueError, match="CARTES_BANCAIRES"):
        testing.card_number("CARTES_BANCAIRES")
    with pytest.raises(ValueError, match="12 to 19"):
        testing.card_number("VISA", length=20)


def test_sandbox_cards_are_luhn_valid():
    for name, number in testing.SANDBOX_CARDS.items():
        assert luhn_ok(number), name


@pytest.mark.parametrize("locale", LOCALES)
def test_vault_bodies_are_accepted_by_the_schema_and_within_limits(locale):
    builder = RequestBuilder(seed=11, locale=locale)
    for i in range(40):
        body = builder.vault_payment_method(brand=sorted(testing.BRANDS)[i % len(testing.BRANDS)])
        loaded = load(schemas.vault_payment_method, body)
        assert loaded["paymentMethodDetail"]["card"]["cardNo"] == body["paymentMethodDetail"]["card"]["cardNo"]
        limits = string_limits(schemas.vault_payment_method, body)
        assert len(limits) > 15  # names, address, env: the realistic parts are there
        for where, length, maximum in limits:
            assert 0 < length <= maximum, f"{where}: {length} > {maximum}"


def test_amex_gets_a_four_digit_cvv_and_others_three():
    assert len(testing.card("AMEX")["cvv"]) == 4
    assert len(testing.card("VISA")["cvv"]) == 3


@pytest.mark.parametrize("number,digits", [("378282246310005", 4), ("4054695723100768", 3)])
def test_a_card_number_given_in_card_gets_a_cvv_of_its_brand(number, digits):
    """card={"cardNo": an Amex} kept the 3-digit CVV made for the generated Visa,
    so the request a test built to vault an Amex was refused PARAM_ILLEGAL (cvv must be 4 digits)."""
    for body in (testing.vault_payment_method(card={"cardNo": number}),
                 testing.vault_payment_method(card={"cardNo": number}, scenario="3ds_challenge")):
        card = body["paymentMethodDetail"]["card"]
        assert card["cardNo"] == number and len(card["cvv"]) == digits
        load(schemas.vault_payment_method, body)
    assert len(testing.card(cardNo=number)["cvv"]) == digits


def test_minimal_body_has_only_the_required_fields():
    body = testing.vault_payment_method(minimal=True)
    assert set(body) == {"vaultingRequestId", "vaultingNotificationUrl", "redirectUrl", "paymentMethodDetail", "env"}
    assert set(body["paymentMethodDetail"]["card"]) == {"cardNo", "expiryYear", "expiryMonth"}
    assert body["env"] == {"terminalType": "WEB"}
    load(schemas.vault_payment_method, body)


def test_overrides_merge_deep_and_none_removes():
    body = testing.vault_payment_method(card={"cvv": None, "billingAddress": {"city": "Lyon"}},
                                        env={"terminalType": "APP", "osType": "IOS"},
                                        vaultingNotificationUrl="http://127.0.0.1:9/notify")
    card = body["paymentMethodDetail"]["card"]
    assert "cvv" not in card
    assert card["billingAddress"]["city"] == "Lyon" and "zipCode" in card["billingAddress"]
    assert body["env"]["terminalType"] == "APP" and "userAgent" in body["env"]
    assert body["vaultingNotificationUrl"] == "http://127.0.0.1:9/notify"
    load(schemas.vault_payment_method, body)


def test_an_override_the_test_cares_about_is_what_the_mock_rejects():
    body = testing.vault_payment_method(card={"expiryMonth": "13"})
    with pytest.raises(AmsError) as info:
        load(schemas.vault_payment_method, body)
    assert info.value.code == "PARAM_ILLEGAL"
    assert "paymentMethodDetail.card.expiryMonth" in info.value.message


@pytest.mark.parametrize("scenario,brand,number", [
    ("failure", "MASTERCARD", "5162770472561357"),
    ("failure", None, "4054692760174822"),
    ("success", "MASTERCARD", "5162774114974622"),
    ("3ds_exemption", None, "4035501000000008"),
    ("success_brazil", None, "4294097400915107"),
])
def test_scenarios_pick_antoms_sandbox_cards(scenario, brand, number):
    body = testing.vault_payment_method(scenario=scenario, brand=brand)
    assert body["paymentMethodDetail"]["card"]["cardNo"] == number
    load(schemas.vault_payment_method, body)


def test_scenarios_that_change_the_card():
    challenge = testing.card(scenario="3ds_challenge", brand="MASTERCARD")
    assert challenge["is3DSAuthentication"] == "true" and detect_brand(challenge["cardNo"]) == "MASTERCARD"
    assert testing.card(scenario="invalid_expiry")["expiryMonth"] == "13"
    assert testing.card(scenario="invalid_cvv")["cvv"] == "99"
    with pytest.raises(ValueError, match="unknown scenario"):
        testing.card(scenario="no-such-thing")
    with pytest.raises(ValueError, match="VISA and MASTERCARD"):
        testing.card(scenario="failure", brand="AMEX")


def test_seed_makes_personal_data_reproducible_but_ids_unique():
    a = RequestBuilder(seed=42).vault_payment_method()
    b = RequestBuilder(seed=42).vault_payment_method()
    assert a["paymentMethodDetail"]["card"]["cardholderName"] == b["paymentMethodDetail"]["card"]["cardholderName"]
    assert a["paymentMethodDetail"]["card"]["cardNo"] == b["paymentMethodDetail"]["card"]["cardNo"]
    assert a["vaultingRequestId"] != b["vaultingRequestId"]


def test_sdk_request_objects_serialise_to_the_same_body():
    builder = RequestBuilder(seed=5)
    body = builder.vault_payment_method(brand="AMEX", scenario="3ds_challenge")
    request = testing.to_sdk_request("vaultPaymentMethod", body)
    assert request.path == "/ams/api/v1/vaults/vaultPaymentMethod"
    sent = json.loads(request.to_ams_json())
    expected = json.loads(json.dumps(body))
    expected["paymentMethodDetail"]["card"]["is3DSAuthentication"] = True  # the SDK types it bool
    assert sent == expected
    load(schemas.vault_payment_method, sent)


def test_sdk_builders_for_inquire_and_session():
    inquire = testing.inquire_vaulting_request("vault-123")
    assert json.loads(inquire.to_ams_json()) == {"vaultingRequestId": "vault-123"}
    load(schemas.inquire_vaulting, json.loads(inquire.to_ams_json()))
    session = testing.create_vaulting_session_request(is3ds=True)
    sent = json.loads(session.to_ams_json())
    assert session.path == "/ams/api/v1/vaults/createVaultingSession"
    assert sent["paymentMethodType"] == "CARD" and sent["is3DSAuthentication"] is True


def test_session_bodies_within_the_documented_limits():
    # createVaultingSession's limits from the API reference (its schema lands with that API)
    limits = {"paymentMethodType": 64, "vaultingRequestId": 64, "vaultingNotificationUrl": 2048,
              "redirectUrl": 2048, "merchantRegion": 2}
    for locale in LOCALES:
        body = RequestBuilder(seed=1, locale=locale).create_vaulting_session()
        assert set(body) == set(limits)
        for key, maximum in limits.items():
            assert 0 < len(body[key]) <= maximum, key


def test_deep_merge_does_not_touch_its_inputs():
    base = {"a": {"b": 1, "c": [1]}}
    merged = testing.deep_merge(base, {"a": {"b": None, "d": 2}})
    assert merged == {"a": {"c": [1], "d": 2}}
    assert base == {"a": {"b": 1, "c": [1]}}
