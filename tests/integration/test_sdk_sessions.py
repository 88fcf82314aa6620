"""createVaultingSession and cacheCard with the official Python SDK, unmodified,
against `mockpay serve --tls` on port 443."""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

from com.alipay.ams.api.response.vaulting.alipay_vaulting_session_response import AlipayVaultingSessionResponse

from tests.integration.sdk import execute, inquire_request
from tests.integration.sdk_sessions import cache_card_request, session_request, token_vault_request


def new_id() -> str:
    return "sdk-" + uuid.uuid4().hex


def test_sdk_creates_a_session_and_parses_the_answer(sdk_client, tls_server):
    request_id = new_id()
    raw = sdk_client.execute(session_request(request_id))
    parsed = AlipayVaultingSessionResponse(raw)
    assert parsed.result.result_status.value == "S"
    assert parsed.result.result_code == "SUCCESS"
    assert parsed.vaulting_session_id and len(parsed.vaulting_session_id) <= 64
    data = parsed.vaulting_session_data
    assert len(data) <= 4096
    segments = data.split("&&")
    assert len(segments) == 4
    assert json.loads(base64.b64decode(segments[3]))["paymentSessionConfig"] == {
        "productScene": "VAULTING", "paymentMethodCategoryType": "CARD"}
    expiry = dt.datetime.fromisoformat(parsed.vaulting_session_expiry_time)
    assert expiry.utcoffset() is not None
    normal_url = json.loads(raw)["normalUrl"]
    assert normal_url == f"{tls_server.gateway_url}/vaulting/session/{parsed.vaulting_session_id}"

    # the same request replays the same session; another body under the id is inconsistent
    assert AlipayVaultingSessionResponse(sdk_client.execute(session_request(request_id))).vaulting_session_id \
        == parsed.vaulting_session_id
    other = execute(sdk_client, session_request(request_id, redirect_url="https://merchant.example/elsewhere"))
    assert other["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"


def test_sdk_sends_is3ds_as_a_json_bool_and_it_is_accepted(sdk_client):
    request = session_request(new_id(), is3ds=True)
    assert '"is3DSAuthentication": true' in request.to_ams_json()
    assert execute(sdk_client, request)["result"]["resultCode"] == "SUCCESS"


def test_sdk_session_validation_failure_names_the_field(sdk_client):
    answer = execute(sdk_client, session_request(new_id(), merchant_region="USA"))
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert "merchantRegion" in answer["result"]["resultMessage"]


def test_sdk_cache_card_then_vault_with_the_token_once(sdk_client):
    raw = sdk_client.execute(cache_card_request())
    cached = json.loads(raw)
    assert cached["result"]["resultCode"] == "SUCCESS"
    card = cached["paymentMethodDetail"]["card"]
    assert card["mask"] == "405469******0768" and card["last4"] == "0768"
    assert "4054695723100768" not in raw
    assert dt.datetime.fromisoformat(cached["expiryTime"]).utcoffset() is not None

    request_id = new_id()
    vaulted = execute(sdk_client, token_vault_request(request_id, card["cardToken"]))
    assert vaulted["result"]["resultCode"] == "SUCCESS", vaulted
    assert vaulted["paymentMethodDetail"]["card"]["maskedCardNo"] == "************0768"
    inquiry = execute(sdk_client, inquire_request(request_id))
    assert inquiry["vaultingStatus"] == "SUCCESS"
    assert inquiry["paymentMethodDetail"]["card"]["expiryYear"] == "30"

    reused = execute(sdk_client, token_vault_request(new_id(), card["cardToken"]))
    assert reused["result"] == {"resultStatus": "F", "resultCode": "INVALID_PAYMENTMETHOD_TOKEN",
                                "resultMessage": reused["result"]["resultMessage"]}


def test_sdk_cache_card_validation(sdk_client):
    answer = execute(sdk_client, cache_card_request(expiryYear="30"))
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert "paymentMethodDetail.card.expiryYear" in answer["result"]["resultMessage"]
    region = execute(sdk_client, cache_card_request(billingAddress={"region": "China"}))
    assert region["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert "billingAddress.region" in region["result"]["resultMessage"]


def test_production_path_cache_card(production_sdk_client):
    answer = execute(production_sdk_client, cache_card_request("5162774114974622", brand="MASTERCARD"))
    assert answer["result"]["resultCode"] == "SUCCESS"
    assert answer["paymentMethodDetail"]["card"]["brand"] == "MASTERCARD"
