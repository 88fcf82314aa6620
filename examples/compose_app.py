"""The merchant app of compose.yaml, in miniature.

It does what a merchant's backend does against mockpay running beside it:
1. registers its client through the admin API (HTTP, with the admin token),
   and fetches the mock's CA so that HTTPS to the mock verifies;
2. vaults a card and asks for the result with Antom's official SDK, over
   HTTPS to port 443 of the mock (the only port the SDK uses).

Settings (compose.yaml sets them):
  MOCKPAY_ADMIN_URL   http://mockpay:8080/_mockpay
  MOCKPAY_ADMIN_TOKEN the token mockpay was started with
  ANTOM_GATEWAY_URL   https://mockpay
  ANTOM_CLIENT_ID     SANDBOX_COMPOSE_APP (SANDBOX_ makes the SDK use /ams/sandbox/api)
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.request
import uuid

ADMIN_URL = os.environ["MOCKPAY_ADMIN_URL"].rstrip("/")
ADMIN_TOKEN = os.environ["MOCKPAY_ADMIN_TOKEN"]
GATEWAY_URL = os.environ["ANTOM_GATEWAY_URL"]
CLIENT_ID = os.environ.get("ANTOM_CLIENT_ID", "SANDBOX_COMPOSE_APP")


def admin(method: str, path: str, body: dict | None = None) -> bytes:
    request = urllib.request.Request(ADMIN_URL + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def main() -> int:
    client = json.loads(admin("POST", "/clients", {"clientId": CLIENT_ID}))
    with tempfile.NamedTemporaryFile(prefix="mockpay-ca-", suffix=".pem", delete=False) as fh:
        fh.write(admin("GET", "/ca.pem"))  # a file of its own: another copy of the app keeps its own mock's CA
    os.environ["SSL_CERT_FILE"] = fh.name  # the SDK verifies with ssl.create_default_context()

    from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
    from com.alipay.ams.api.model.card_payment_method_detail import CardPaymentMethodDetail
    from com.alipay.ams.api.model.env import Env
    from com.alipay.ams.api.model.payment_method_detail import PaymentMethodDetail
    from com.alipay.ams.api.request.vaulting.alipay_vaulting_payment_method_request import \
        AlipayVaultingPaymentMethodRequest
    from com.alipay.ams.api.request.vaulting.alipay_vaulting_query_request import AlipayVaultingQueryRequest

    sdk = DefaultAlipayClient(GATEWAY_URL, CLIENT_ID, client["merchantPrivateKey"], client["alipayPublicKey"])
    request_id = "compose-" + uuid.uuid4().hex
    vault = AlipayVaultingPaymentMethodRequest()
    vault.vaulting_request_id = request_id
    vault.vaulting_notification_url = "https://app.example/notify"
    vault.redirect_url = "https://app.example/return"
    card = CardPaymentMethodDetail()
    card.card_no, card.cvv, card.expiry_year, card.expiry_month = "4054695723100768", "123", "30", "08"
    detail = PaymentMethodDetail()
    detail.payment_method_type = "CARD"
    detail.card = card
    vault.payment_method_detail = detail
    env = Env()
    env.terminal_type = "WEB"
    vault.env = env
    vaulted = json.loads(sdk.execute(vault))
    if vaulted["result"]["resultStatus"] != "S":
        print(f"vaultPaymentMethod: {vaulted['result']}", file=sys.stderr)

    query = AlipayVaultingQueryRequest()
    query.vaulting_request_id = request_id
    status = json.loads(sdk.execute(query))
    print(json.dumps({"vaultingRequestId": request_id, "vault": vaulted["result"]["resultCode"],
                      "vaultingStatus": status.get("vaultingStatus"),
                      "maskedCardNo": vaulted.get("paymentMethodDetail", {}).get("card", {}).get("maskedCardNo")}))
    return 0 if status.get("vaultingStatus") == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
