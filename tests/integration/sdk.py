"""Build official-SDK request objects (global-open-sdk-python)."""
from __future__ import annotations

import json

from com.alipay.ams.api.model.card_payment_method_detail import CardPaymentMethodDetail
from com.alipay.ams.api.model.env import Env
from com.alipay.ams.api.model.payment_method_detail import PaymentMethodDetail
from com.alipay.ams.api.request.vaulting.alipay_vaulting_payment_method_request import \
    AlipayVaultingPaymentMethodRequest
from com.alipay.ams.api.request.vaulting.alipay_vaulting_query_request import AlipayVaultingQueryRequest


def vault_request(request_id: str, card_no: str | None = "4054695723100768", *, cvv: str = "123",
                  expiry_year: str | None = "30", expiry_month: str | None = "08", card_token: str | None = None,
                  notification_url: str = "https://merchant.example/notify",
                  redirect_url: str = "https://merchant.example/return", is3ds=None,
                  metadata: str | None = None, brand=None,
                  selected_card_brand=None) -> AlipayVaultingPaymentMethodRequest:
    """vaultPaymentMethod through the SDK's own model. With `card_token` (a cacheCard token),
    the card carries the token and the CVV only."""
    if card_token is not None:
        card_no = expiry_year = expiry_month = None
    req = AlipayVaultingPaymentMethodRequest()
    req.vaulting_request_id = request_id
    req.vaulting_notification_url = notification_url
    req.redirect_url = redirect_url
    detail = PaymentMethodDetail()
    detail.payment_method_type = "CARD"
    card = CardPaymentMethodDetail()
    card.card_no = card_no
    card.card_token = card_token
    card.cvv = cvv
    card.expiry_year = expiry_year
    card.expiry_month = expiry_month
    if is3ds is not None:
        card.is3_ds_authentication = is3ds
    card.brand, card.selected_card_brand = brand, selected_card_brand
    detail.card = card
    req.payment_method_detail = detail
    env = Env()
    env.terminal_type = "WEB"
    req.env = env
    if metadata is not None:
        req.metadata = metadata  # not an SDK property; ignored by to_ams_json
    return req


def inquire_request(request_id: str) -> AlipayVaultingQueryRequest:
    req = AlipayVaultingQueryRequest()
    req.vaulting_request_id = request_id
    return req


def execute(client, request) -> dict:
    """Send with the SDK (which verifies the answer's signature) and parse the JSON."""
    return json.loads(client.execute(request))
