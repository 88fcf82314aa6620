"""cacheCard: short-lived tokens for card data in transit. No Flask, no HTTP.

A token stands for one card for `config.card_token_ttl` seconds of mock time and
can be redeemed once, by the client that created it, in place of `cardNo` in
vaultPaymentMethod (`card.cardToken`). The card number, expiry, name and address
are kept AES-GCM sealed; the security code is never stored.
"""
from __future__ import annotations

import json
import secrets

from . import cards
from .clock import iso
from .codes import AmsError, result
from .vaulting import Reply, refusal

SEAL_CONTEXT = "cache-card"


def new_cache_token() -> str:
    """Shaped like the reference's sample: 'PYMT' + 32 lower-case hex digits."""
    return "PYMT" + secrets.token_hex(16)


class CardTokens:
    def __init__(self, store, clock, keyring, scenarios, config):
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self.scenarios = scenarios
        self.config = config

    # -- cacheCard ---------------------------------------------------------------
    def cache_card(self, client_id: str, req: dict) -> Reply:
        detail = req["paymentMethodDetail"]
        card = detail["card"]
        number = card["cardNo"]
        outcome = self.scenarios.choose(client_id, "cacheCard", req, number)
        refused = refusal(outcome, "cacheCard")  # nothing is stored for a failed cacheCard
        if refused is not None:
            return refused

        now = self.clock.now()
        expires_at = now + self.config.card_token_ttl
        token = new_cache_token()
        brand = card.get("brand") or cards.detect_brand(number)
        kept = {k: card[k] for k in ("cardNo", "expiryYear", "expiryMonth", "instUserName", "billingAddress")
                if k in card}  # never securityCode
        if brand:
            kept["brand"] = brand
        self.store.insert_card_token({
            "token": token,
            "client_id": client_id,
            "card_enc": self.keyring.encrypt(json.dumps(kept, separators=(",", ":")), context=SEAL_CONTEXT),
            "card_masked": cards.mask_6_4(number),
            "expires_at": expires_at,
            "created_at": now,
        })
        out_card = {"cardToken": token, "mask": cards.mask_6_4(number), "last4": number[-4:]}
        if brand:
            out_card["brand"] = brand
        out_card["expiryYear"] = card["expiryYear"]
        out_card["expiryMonth"] = card["expiryMonth"]
        for key in ("instUserName", "billingAddress"):
            if key in card:
                out_card[key] = card[key]
        body = {
            "result": result("SUCCESS", outcome.result_message, api="cacheCard"),
            "paymentMethodDetail": {"paymentMethodDetailType": "card", "card": out_card},
            "expiryTime": iso(expires_at),
        }
        return Reply(body, outcome)

    # -- redemption by vaultPaymentMethod ----------------------------------------
    # In two steps, so that a token is used only by a request that stores a vault, in
    # the very transaction that stores it (Vaulting.vault_payment_method): `resolve`
    # reads the cached card, `use_in` marks the token used inside that transaction.
    INVALID = "paymentMethodDetail.card.cardToken is unknown, expired or already used"

    def resolve(self, client_id: str, card: dict) -> dict:
        """The vaultPaymentMethod card with `cardToken` replaced by the cached card.

        Fields the vaultPaymentMethod request gives itself win over the cached
        ones, except the number. Raises INVALID_PAYMENTMETHOD_TOKEN for a token
        that is unknown, another client's, expired or already used, and PARAM_ILLEGAL
        for a cvv whose length does not fit the cached card's brand. Changes nothing."""
        token = card.get("cardToken")
        row = self.store.usable_card_token(client_id, token, self.clock.now()) if token else None
        if row is None:
            raise AmsError("INVALID_PAYMENTMETHOD_TOKEN", self.INVALID)
        cached = json.loads(self.keyring.decrypt(row["card_enc"], context=SEAL_CONTEXT))
        out = {k: v for k, v in card.items() if k not in ("cardToken", "cardNo")}
        out["cardNo"] = cached["cardNo"]
        if "expiryYear" not in out and "expiryMonth" not in out:
            out["expiryYear"] = cached["expiryYear"][-2:]  # vaultPaymentMethod takes 2 digits
            out["expiryMonth"] = cached["expiryMonth"]
        if "brand" not in out and cached.get("brand"):
            out["brand"] = cached["brand"]
        if "cardholderName" not in out and cached.get("instUserName"):
            out["cardholderName"] = cached["instUserName"]
        if "billingAddress" not in out and cached.get("billingAddress"):
            out["billingAddress"] = cached["billingAddress"]
        problem = cards.security_code_problem(out.get("cvv"), out.get("brand") or cards.detect_brand(out["cardNo"]))
        if problem:  # the schema could not tell the brand of a token's card
            raise AmsError("PARAM_ILLEGAL", f"paymentMethodDetail.card.cvv {problem}")
        return out

    def use_in(self, db, client_id: str, token: str) -> None:
        """Mark the token used, within the transaction that stores the vault; raises
        INVALID_PAYMENTMETHOD_TOKEN (rolling that transaction back) if another request
        used it first."""
        if not self.store.use_card_token_in(db, client_id, token, self.clock.now()):
            raise AmsError("INVALID_PAYMENTMETHOD_TOKEN", self.INVALID)
