"""Official-SDK request objects for createVaultingSession and cacheCard.

The SDK ships AlipayVaultingSessionRequest. It has no cacheCard request, so
CacheCardRequest below is the smallest AlipayRequest subclass a merchant would
write: the SDK's own client still signs it, sends it and verifies the answer.
"""
from __future__ import annotations

import json

from com.alipay.ams.api.request.alipay_request import AlipayRequest
from com.alipay.ams.api.request.vaulting.alipay_vaulting_payment_method_request import \
    AlipayVaultingPaymentMethodRequest
from com.alipay.ams.api.request.vaulting.alipay_vaulting_session_request import AlipayVaultingSessionRequest

from tests.integration.sdk import vault_request

CACHE_CARD_PATH = "/ams/api/v1/paymentMethods/cacheCard"


def session_request(request_id: str, *, redirect_url: str | None = "https://merchant.example/return",
                    notification_url: str | None = "https://merchant.example/notify",
                    merchant_region: str | None = "US", is3ds=None) -> AlipayVaultingSessionRequest:
    req = AlipayVaultingSessionRequest()
    req.payment_method_type = "CARD"
    req.vaulting_request_id = request_id
    req.redirect_url = redirect_url
    req.vaulting_notification_url = notification_url
    req.merchant_region = merchant_region
    if is3ds is not None:
        req.is_3D_s_authentication = is3ds
    return req


class CacheCardRequest(AlipayRequest):
    def __init__(self, card: dict):
        super().__init__(CACHE_CARD_PATH)
        self.card = card

    def to_ams_json(self):
        return json.dumps({"paymentMethodDetail": {"paymentMethodDetailType": "card", "card": self.card}},
                          indent=3)


def cache_card_request(card_no: str = "4054695723100768", **overrides) -> CacheCardRequest:
    card = {"cardNo": card_no, "brand": "VISA", "securityCode": "444", "expiryYear": "2030", "expiryMonth": "07",
            "instUserName": {"firstName": "Ada", "lastName": "Lovelace"},
            "billingAddress": {"region": "CN", "state": "Zhejiang", "city": "Hangzhou", "zipCode": "3100000",
                               "address1": "1 West Lake Road"}}
    card.update(overrides)
    return CacheCardRequest(card)


def token_vault_request(request_id: str, card_token: str, cvv: str = "123") -> AlipayVaultingPaymentMethodRequest:
    """vaultPaymentMethod through the SDK's own model, with card.cardToken instead of cardNo."""
    return vault_request(request_id, card_token=card_token, cvv=cvv)
