"""The vaulting state machine. It knows nothing of Flask or HTTP: it takes
validated request bodies and returns response bodies, or raises AmsError
carrying the documented result code.

States of a vault:  PROCESSING (3DS challenge open) -> SUCCESS | FAIL.
Idempotency: the same client and vaultingRequestId with the same body replays
the stored answer; with another body it is REPEAT_REQ_INCONSISTENT.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from . import cards, store as store_mod
from .clock import iso
from .codes import FAILURE_REASONS, RESULT_CODES, AmsError, result
from .crypto import new_card_token, new_id
from .scenarios import Outcome

# Result codes after which a vault exists (and replays); anything else is a
# rejected request that stores nothing and may be retried with the same id.
STORED_CODES = {"SUCCESS", "VERIFICATION_IN_PROCESS", "VERIFICATION_FAIL", "PROCESS_FAIL", "RISK_REJECT"}
DEFAULT_REASON = {"VERIFICATION_FAIL": "DO_NOT_HONOR", "PROCESS_FAIL": "PROCESS_FAIL", "RISK_REJECT": "FRAUD_REJECT"}
URL_FIELDS = ("normalUrl", "schemeUrl", "applinkUrl")


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Reply:
    """A response body, plus what the HTTP layer should do about the outcome (delay, fault)."""
    body: dict
    outcome: Outcome | None = None


class Links:
    """Where the mock's own pages live; the base URL comes from the caller."""

    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")

    def challenge(self, challenge_id: str) -> dict[str, str]:
        return {
            "normalUrl": f"{self.base}/challenge/{challenge_id}",
            "schemeUrl": f"mockpay://challenge/{challenge_id}",
            "applinkUrl": f"{self.base}/app/challenge/{challenge_id}",
        }


class Vaulting:
    def __init__(self, store, clock, keyring, scenarios, config, card_tokens=None):
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self.scenarios = scenarios
        self.config = config
        self.card_tokens = card_tokens  # redeems cacheCard tokens; None: every token is invalid
        # called inside the transaction that makes a vault final: listener(db, vault_row)
        self.final_listeners: list[Callable] = []

    # -- vaultPaymentMethod ------------------------------------------------------
    def vault_payment_method(self, client_id: str, req: dict, links: Links) -> Reply:
        request_id = req["vaultingRequestId"]
        digest = self.keyring.digest(canonical(req))
        existing = self.store.get_vault(client_id, request_id)
        if existing is not None:
            return Reply(self._replay(existing, digest))

        card = dict(req["paymentMethodDetail"]["card"])
        if "cardToken" in card:
            if self.card_tokens is None:
                raise AmsError("INVALID_PAYMENTMETHOD_TOKEN")
            card = self.card_tokens.redeem(client_id, card)
        number = card["cardNo"]
        outcome = self.scenarios.choose(client_id, "vaultPaymentMethod", req, number)
        if outcome.fault and outcome.extra.get("processed") is False:
            return Reply({}, outcome)

        code = outcome.result_code
        reason = outcome.reason
        if code == "SUCCESS" and self._expired(card):
            code, reason = "VERIFICATION_FAIL", "CARD_EXPIRED"
        if code not in STORED_CODES or (code == "VERIFICATION_IN_PROCESS" and not outcome.urls):
            # A rejected request: nothing is stored, the same id may be tried again.
            body = {"result": result(code, outcome.result_message), "vaultingRequestId": request_id}
            return Reply(body, outcome)

        now = self.clock.now()
        brand = card.get("brand") or cards.detect_brand(number) or "VISA"
        row = {
            "client_id": client_id,
            "vaulting_request_id": request_id,
            "request_digest": digest,
            "source": req.get("_source", "api"),
            "card_enc": self.keyring.encrypt(number, context="card"),
            "card_fingerprint": self.keyring.fingerprint(number),
            "card_masked": cards.mask_6_4(number),
            "brand": brand,
            "notification_url": req.get("vaultingNotificationUrl"),
            "redirect_url": req.get("redirectUrl"),
            "metadata": req.get("metadata"),
            "created_at": now,
            "updated_at": now,
        }
        res = result(code, outcome.result_message)
        body: dict = {"result": res, "vaultingRequestId": request_id}
        row.update(result_status=res["resultStatus"], result_code=code, result_message=res["resultMessage"])
        if code == "SUCCESS":
            detail = self._payment_method_detail(number, brand, card, outcome)
            row.update(status="SUCCESS", card_token=detail["card"]["cardToken"],
                       payment_method_detail=store_mod.dumps(detail),
                       vaulting_result_code="SUCCESS", vaulting_result_message="success")
            body["paymentMethodDetail"] = detail
        elif code == "VERIFICATION_IN_PROCESS":
            challenge_id = new_id("ch_")
            urls = {k: v for k, v in links.challenge(challenge_id).items() if k in outcome.urls}
            row.update(status="PROCESSING", urls=store_mod.dumps(urls), challenge_id=challenge_id,
                       challenge=store_mod.dumps({
                           "success": outcome.challenge_success, "fail": outcome.challenge_fail,
                           "funding": outcome.funding, "issuing_country": outcome.issuing_country,
                           "card": {k: v for k, v in card.items() if k not in ("cardNo", "cvv")},
                       }),
                       challenge_expires_at=now + self.config.challenge_ttl,
                       vaulting_result_code="VERIFICATION_IN_PROCESS",
                       vaulting_result_message=RESULT_CODES["VERIFICATION_IN_PROCESS"][1])
            body.update(urls)
        else:
            reason = reason or DEFAULT_REASON.get(code, code)
            row.update(status="FAIL", vaulting_result_code=reason,
                       vaulting_result_message=FAILURE_REASONS.get(reason, res["resultMessage"]))
        row["response_json"] = store_mod.dumps(body)

        with self.store.tx() as db:
            raced = self.store.get_vault_in(db, client_id, request_id)
            if raced is not None:
                replay = self._replay(raced, digest)
            else:
                row["id"] = self.store.insert_vault(db, row)
                if row["status"] in ("SUCCESS", "FAIL"):
                    self._finalised(db, row)
                replay = None
        return Reply(replay if replay is not None else body, outcome)

    def _replay(self, vault, digest: str) -> dict:
        if vault["request_digest"] != digest:
            raise AmsError("REPEAT_REQ_INCONSISTENT",
                           "vaultingRequestId was already used with a different request body")
        return json.loads(vault["response_json"])

    def _expired(self, card: dict) -> bool:
        year, month = card.get("expiryYear"), card.get("expiryMonth")
        if not (year and month):
            return False
        now = iso(self.clock.now())
        current = (int(now[:4]), int(now[5:7]))
        full_year = int(year) if len(year) == 4 else 2000 + int(year)
        return (full_year, int(month)) < current

    def _payment_method_detail(self, number: str, brand: str, card: dict, outcome: Outcome) -> dict:
        detail_card = {
            "cardToken": new_card_token(),
            "maskedCardNo": cards.masked_card_no(number),
            "brand": brand,
            "fingerprint": self.keyring.fingerprint(number),
            "funding": outcome.funding,
            "bin": number[:6],
            "lastFour": number[-4:],
        }
        if outcome.issuing_country:
            detail_card["issuingCountry"] = outcome.issuing_country
        if card.get("expiryYear"):
            detail_card["expiryYear"] = card["expiryYear"]
            detail_card["expiryMonth"] = card["expiryMonth"]
        if card.get("cardholderName"):
            detail_card["cardholderName"] = card["cardholderName"]
        return {"paymentMethodType": "CARD", "card": detail_card}

    def _finalised(self, db, vault: dict) -> None:
        for listener in self.final_listeners:
            listener(db, vault)

    # -- inquireVaulting ---------------------------------------------------------
    def inquire(self, client_id: str, req: dict) -> dict:
        vault = self.store.get_vault(client_id, req["vaultingRequestId"])
        if vault is None:
            raise AmsError("VAULTING_NOT_EXIST")
        return self.describe(vault)

    @staticmethod
    def describe(vault) -> dict:
        """The inquireVaulting answer (and the core of notifyVaulting) for a stored vault."""
        body: dict = {
            "result": result("SUCCESS"),
            "vaultingRequestId": vault["vaulting_request_id"],
            "vaultingStatus": vault["status"],
            "vaultingResultCode": vault["vaulting_result_code"],
            "vaultingResultMessage": vault["vaulting_result_message"],
        }
        if vault["status"] == "SUCCESS":
            body["paymentMethodDetail"] = json.loads(vault["payment_method_detail"])
        elif vault["status"] == "PROCESSING" and vault["urls"]:
            body.update(json.loads(vault["urls"]))
        if vault["metadata"]:
            body["metadata"] = vault["metadata"]
        return body
