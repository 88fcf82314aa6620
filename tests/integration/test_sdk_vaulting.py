"""The official Python SDK, unmodified, against `mockpay serve --tls` on port 443."""
from __future__ import annotations

import uuid

import pytest
from com.alipay.ams.api.exception.exception import AlipayApiException
from com.alipay.ams.api.response.vaulting.alipay_vaulting_payment_method_response import \
    AlipayVaultingPaymentMethodResponse

from tests.integration.sdk import execute, inquire_request, vault_request


def new_id() -> str:
    return "sdk-" + uuid.uuid4().hex


def test_vault_then_inquire_through_the_sdk(sdk_client):
    request_id = new_id()
    raw = sdk_client.execute(vault_request(request_id))
    parsed = AlipayVaultingPaymentMethodResponse(raw)
    assert parsed.result.result_status.value == "S"
    assert parsed.vaulting_request_id == request_id
    import json
    card = json.loads(raw)["paymentMethodDetail"]["card"]
    assert card["maskedCardNo"] == "************0768"
    assert card["brand"] == "VISA"
    assert len(card["fingerprint"]) == 64 and card["fingerprint"] == card["fingerprint"].lower()
    assert "4054695723100768" not in raw

    answer = execute(sdk_client, inquire_request(request_id))
    assert answer["result"]["resultCode"] == "SUCCESS"
    assert answer["vaultingStatus"] == "SUCCESS"
    assert answer["paymentMethodDetail"]["card"]["cardToken"] == card["cardToken"]


def test_production_path_client(production_sdk_client):
    answer = execute(production_sdk_client, vault_request(new_id(), "5162774114974622"))
    assert answer["result"]["resultCode"] == "SUCCESS"
    assert answer["paymentMethodDetail"]["card"]["brand"] == "MASTERCARD"


def test_same_card_twice_same_fingerprint_different_tokens(sdk_client):
    a = execute(sdk_client, vault_request(new_id()))["paymentMethodDetail"]["card"]
    b = execute(sdk_client, vault_request(new_id()))["paymentMethodDetail"]["card"]
    assert a["fingerprint"] == b["fingerprint"]
    assert a["cardToken"] != b["cardToken"]


def test_idempotent_replay_and_inconsistent_repeat(sdk_client):
    request_id = new_id()
    first = sdk_client.execute(vault_request(request_id))
    again = sdk_client.execute(vault_request(request_id))
    assert again == first
    other = execute(sdk_client, vault_request(request_id, "5162774114974622"))
    assert other["result"] == {"resultStatus": "F", "resultCode": "REPEAT_REQ_INCONSISTENT",
                               "resultMessage": other["result"]["resultMessage"]}
    assert other["vaultingRequestId"] == request_id


def test_a_refused_request_still_answers_its_vaulting_request_id_to_the_sdk(sdk_client):
    request_id = new_id()
    raw = sdk_client.execute(vault_request(request_id, expiry_month="13"))
    parsed = AlipayVaultingPaymentMethodResponse(raw)
    assert parsed.result.result_code == "PARAM_ILLEGAL"
    assert parsed.vaulting_request_id == request_id


def test_validation_failure_is_signed_and_accepted_by_the_sdk(sdk_client):
    answer = execute(sdk_client, vault_request(new_id(), expiry_month="13"))
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert "paymentMethodDetail.card.expiryMonth" in answer["result"]["resultMessage"]


def test_unknown_vaulting_request_id(sdk_client):
    answer = execute(sdk_client, inquire_request(new_id()))
    assert answer["result"]["resultCode"] == "VAULTING_NOT_EXIST"
    assert answer["result"]["resultStatus"] == "F"


def test_sdk_rejects_an_answer_signed_with_another_key(tls_server):
    """The SDK's own verification is live: with the wrong alipay public key it refuses."""
    from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
    from mockpay import signing
    c = tls_server.client
    wrong = signing.public_key_body(signing.generate_private_key().public_key())
    client = DefaultAlipayClient(tls_server.gateway_url, c["clientId"], c["merchantPrivateKey"], wrong)
    with pytest.raises(AlipayApiException):
        client.execute(vault_request(new_id()))


def test_a_co_badged_card_is_vaulted_for_the_brand_the_buyer_selected(sdk_client):
    """The integration guide: "If the card entered by the buyer is a co-badged card, you need to
    specify the card brand to be bound via paymentMethodDetail.card.selectedCardBrand, and the
    subsequent token payment will be debited for this card brand." The answer's brand (what the
    merchant shows the buyer) is that brand, as the SDK's CardBrand enum reads it."""
    from com.alipay.ams.api.model.card_brand import CardBrand
    from com.alipay.ams.api.response.pay.alipay_vaulting_payment_method_response import \
        AlipayVaultingPaymentMethodResponse as PayVaultingResponse
    from com.alipay.ams.api.response.pay.alipay_vaulting_query_response import AlipayVaultingQueryResponse
    request_id = new_id()
    raw = sdk_client.execute(vault_request(request_id, brand=CardBrand.VISA,
                                           selected_card_brand=CardBrand.CARTES_BANCAIRES))
    parsed = PayVaultingResponse(raw)
    assert parsed.result.result_code == "SUCCESS"
    assert parsed.payment_method_detail.card.brand is CardBrand.CARTES_BANCAIRES
    inquired = AlipayVaultingQueryResponse(sdk_client.execute(inquire_request(request_id)))
    assert inquired.payment_method_detail.card.brand is CardBrand.CARTES_BANCAIRES
    # without a selection, the brand given (or read from the number) as before
    plain = execute(sdk_client, vault_request(new_id(), brand=CardBrand.VISA))
    assert plain["paymentMethodDetail"]["card"]["brand"] == "VISA"


def _unread_fields(raw: dict, model, where: str = "") -> list[str]:
    """The fields of an answer that the SDK's model (and its nested models) leave at None."""
    import re
    missing = []
    for name, value in raw.items():
        read = getattr(model, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(), None)
        if read is None:
            missing.append(where + name)
        elif isinstance(value, dict):
            missing += _unread_fields(value, read, f"{where}{name}.")
    return missing


def test_every_field_of_every_answer_lands_in_the_sdks_response_models(sdk_client):
    """What a merchant reads through the SDK's response classes (com.alipay.ams.api.response.pay)
    is all mockpay says: a vaulted card, a 3DS challenge, and inquireVaulting on SUCCESS,
    PROCESSING and FAIL. A field the SDK does not parse would reach only merchants who read
    the JSON themselves."""
    import json

    from com.alipay.ams.api.response.pay.alipay_vaulting_payment_method_response import \
        AlipayVaultingPaymentMethodResponse as PayVaultingResponse
    from com.alipay.ams.api.response.pay.alipay_vaulting_query_response import AlipayVaultingQueryResponse
    ids = {name: new_id() for name in ("vaulted", "challenge", "failed")}
    answers = [
        sdk_client.execute(vault_request(ids["vaulted"])),
        sdk_client.execute(vault_request(ids["challenge"], "4000000207000003")),  # all three links
        sdk_client.execute(vault_request(ids["failed"], "4000000301000008")),  # CARD_EXPIRED
    ]
    inquiries = [sdk_client.execute(inquire_request(request_id)) for request_id in ids.values()]
    for raw in answers:
        assert _unread_fields(json.loads(raw), PayVaultingResponse(raw)) == [], raw
    for raw in inquiries:
        assert _unread_fields(json.loads(raw), AlipayVaultingQueryResponse(raw)) == [], raw
    statuses = [json.loads(raw)["vaultingStatus"] for raw in inquiries]
    assert statuses == ["SUCCESS", "PROCESSING", "FAIL"]
    card = json.loads(answers[0])["paymentMethodDetail"]["card"]
    assert {"cardToken", "maskedCardNo", "brand", "fingerprint", "funding", "bin", "lastFour"} <= set(card)
    # the README's warning: the older classes under response.vaulting drop paymentMethodDetail
    # (they keep PaymentMethodDetail.parse_rsp_body's return value, None)
    assert AlipayVaultingPaymentMethodResponse(answers[0]).payment_method_detail is None
    assert PayVaultingResponse(answers[0]).payment_method_detail.card.card_token == card["cardToken"]
