"""createVaultingSession and cacheCard with the official Python SDK, unmodified,
against `mockpay serve --tls` on port 443."""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
import requests
from com.alipay.ams.api.response.vaulting.alipay_vaulting_session_response import AlipayVaultingSessionResponse

from tests.integration.sdk import execute, inquire_request
from tests.integration.sdk_sessions import cache_card_request, session_request, token_vault_request
from tests.webhook import Receiver


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


# -- a finished hosted session's vault sends its notifyVaulting -------------------------------

@pytest.mark.parametrize("card_no, status, code", [("5162774114974622", "S", "SUCCESS"),
                                                   ("5162770472561357", "F", "VERIFICATION_FAIL")])
def test_a_finished_hosted_session_sends_its_notification(sdk_client, tls_server, httpserver, card_no, status, code):
    """The buyer posts the card form (plain HTTP form post, as the page does without script);
    the vault it makes is notified to the session's vaultingNotificationUrl, signed so that the
    SDK's check_signature accepts it, with what inquireVaulting reports."""
    receiver = Receiver(tls_server.client["alipayPublicKey"])
    httpserver.expect_request("/hooks/antom", method="POST").respond_with_handler(receiver.handle)
    request_id = new_id()
    created = execute(sdk_client, session_request(request_id, notification_url=httpserver.url_for("/hooks/antom")))
    page = requests.post(created["normalUrl"], allow_redirects=False, timeout=10,
                         verify=str(tls_server.data_dir / "tls" / "ca.pem"),
                         data={"cardNumber": card_no, "expiry": "07/30", "cvv": "123", "cardholderName": "Ada Lovelace"})
    assert page.status_code == 303 and page.headers["Location"] == "https://merchant.example/return"

    [call] = receiver.wait_calls(request_id, 1)
    assert call.verified, call.verify_error
    assert call.path == "/hooks/antom" and call.headers["client-id"] == tls_server.client["clientId"]
    assert (call.body["result"]["resultStatus"], call.body["result"]["resultCode"]) == (status, code)
    inquired = execute(sdk_client, inquire_request(request_id))
    assert inquired["vaultingStatus"] == ("SUCCESS" if status == "S" else "FAIL")
    assert call.body.get("paymentMethodDetail") == inquired.get("paymentMethodDetail")
    assert ("paymentMethodDetail" in call.body) is (status == "S")
    assert card_no not in call.raw
