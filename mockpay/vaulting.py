"""The vaulting state machine. It knows nothing of Flask or HTTP: it takes
validated request bodies and returns response bodies, or raises AmsError
carrying the documented result code.

States of a vault:  PROCESSING (3DS challenge open) -> SUCCESS | FAIL.
Idempotency: the same client and vaultingRequestId with the same body replays
the stored answer; with another body it is REPEAT_REQ_INCONSISTENT.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Callable

from . import cards, store as store_mod
from .clock import iso
from .codes import FAILURE_REASONS, VAULTING_MESSAGES, AmsError, result
from .crypto import new_card_token, new_id
from .scenarios import Outcome

# Result codes after which a vault exists (and replays); anything else is a
# rejected request that stores nothing and may be retried with the same id.
STORED_CODES = {"SUCCESS", "VERIFICATION_IN_PROCESS", "VERIFICATION_FAIL", "PROCESS_FAIL", "RISK_REJECT"}
DEFAULT_REASON = {"VERIFICATION_FAIL": "DO_NOT_HONOR", "PROCESS_FAIL": "PROCESS_FAIL", "RISK_REJECT": "FRAUD_REJECT"}
URL_FIELDS = ("normalUrl", "schemeUrl", "applinkUrl")
# The request's card fields that _payment_method_detail copies into a vaulted card's description.
DESCRIBED_CARD_FIELDS = ("expiryYear", "expiryMonth", "cardholderName")


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def matched_request(req: dict, card: dict, token: str | None) -> dict:
    """The request a scenario rule is tested against. With a cacheCard token, the card is
    the cached one, as vaulted (its number, expiry, brand, name and address filled in), so
    `cardNo: {prefix: ...}`, `brand` or `expiryMonth` match as they would had the card
    been sent itself; `cardToken` stays, for rules about tokens. A card sent without a
    `brand` has the one mockpay detects from its number, so that `brand: MASTERCARD`
    matches every Mastercard, as a merchant would expect (the SDK rarely sends one)."""
    if token is None and card.get("brand"):
        return req
    matched_card = {**card, "cardToken": token} if token is not None else dict(card)
    if not matched_card.get("brand"):
        detected = cards.detect_brand(matched_card["cardNo"])
        if detected:
            matched_card["brand"] = detected
    detail = {**req["paymentMethodDetail"], "card": matched_card}
    return {**req, "paymentMethodDetail": detail}


@dataclass
class Reply:
    """A response body, plus what the HTTP layer should do about the outcome (delay, fault)."""
    body: dict
    outcome: Outcome | None = None


def refusal(outcome: Outcome, api: str) -> Reply | None:
    """For the APIs that store something only on SUCCESS (cacheCard, createVaultingSession):
    the answer when the outcome is a fault that hit before processing, or any code but
    SUCCESS; None to go on and store."""
    if outcome.fault and not outcome.processed:
        # should the client still be listening (a "timeout" longer than its own), it hears U
        return Reply({"result": result("UNKNOWN_EXCEPTION", api=api)}, outcome)
    if outcome.result_code != "SUCCESS":
        return Reply({"result": result(outcome.result_code, outcome.result_message, api=api)}, outcome)
    return None


class Links:
    """Where the mock's own pages live. The base URL comes from the caller, as a
    string or as a function asked only when a link is made (most answers have none)."""

    def __init__(self, base_url: str | Callable[[], str]):
        self._base_url = base_url

    @functools.cached_property
    def base(self) -> str:
        base_url = self._base_url() if callable(self._base_url) else self._base_url
        return base_url.rstrip("/")

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
            return Reply(self._replay(self.expire_if_due(existing), digest))

        card = dict(req["paymentMethodDetail"]["card"])
        token = card.get("cardToken")
        if token is not None:
            if self.card_tokens is None:
                raise AmsError("INVALID_PAYMENTMETHOD_TOKEN")
            try:
                card = self.card_tokens.resolve(client_id, card)
            except AmsError:
                # used up, perhaps by an identical request that has just stored its vault: replay that
                existing = self.store.get_vault(client_id, request_id)
                if existing is not None:
                    return Reply(self._replay(self.expire_if_due(existing), digest))
                raise
        number = card["cardNo"]
        matched = matched_request(req, card, token)
        self.scenarios.client_set(client_id)  # compiled (and cached) before taking the write lock
        # One transaction decides and stores: an identical request that stored the vault
        # meanwhile (another worker) is replayed before any rule is asked, so that its call
        # does not count as a step of a sequence, and the step it would have taken is the
        # next request's. One id, one vaulting: as createVaultingSession refuses an id a
        # vault has, an id a session has is refused here (looked up in the transaction, so
        # that a session stored by another worker a moment ago counts too).
        with self.store.tx() as db:
            raced = self.store.get_vault_in(db, client_id, request_id)
            if raced is None and req.get("_source") != "session" and \
                    self.store.get_session_by_request_in(db, client_id, request_id):
                raise AmsError("REPEAT_REQ_INCONSISTENT",
                               "vaultingRequestId was already used by a createVaultingSession request")
            if raced is None:
                outcome = self.scenarios.choose(client_id, "vaultPaymentMethod", matched, number, db=db)
                reply = self._store_outcome(db, client_id, req, card, number, token, digest, outcome, links)
        if raced is not None:
            return Reply(self._replay(raced, digest))
        return reply

    def _store_outcome(self, db, client_id: str, req: dict, card: dict, number: str, token: str | None,
                       digest: str, outcome: Outcome, links: Links) -> Reply:
        """Within the transaction of vault_payment_method: the answer to `outcome`, and the
        vault it stores (none for a rejected request)."""
        request_id = req["vaultingRequestId"]
        if outcome.fault and not outcome.processed:
            # The fault hit before the request was processed: nothing is stored. Should
            # the client still be listening (a "timeout" longer than its own), it hears U.
            return Reply({"result": result("UNKNOWN_EXCEPTION"), "vaultingRequestId": request_id}, outcome)

        code, reason, message = outcome.result_code, outcome.reason, outcome.result_message
        opens_challenge = code == "VERIFICATION_IN_PROCESS" and bool(outcome.urls)
        if (code == "SUCCESS" or opens_challenge) and self._past_expiry(client_id, outcome, card, number):
            # declined, before any challenge; the rule's own message was for what it chose
            code, reason, message = "VERIFICATION_FAIL", "CARD_EXPIRED", None
        if code not in STORED_CODES or (code == "VERIFICATION_IN_PROCESS" and not opens_challenge):
            # A rejected request: nothing is stored, the same id may be tried again.
            body = {"result": result(code, message), "vaultingRequestId": request_id}
            return Reply(body, outcome)

        now = self.clock.now()
        # A co-badged card is vaulted for the brand the buyer chose (selectedCardBrand): "the
        # subsequent token payment will be debited for this card brand" (the integration guide).
        brand = card.get("selectedCardBrand") or card.get("brand") or outcome.brand or \
            cards.detect_brand(number) or "VISA"
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
        res = result(code, message)
        body: dict = {"result": res, "vaultingRequestId": request_id}
        row.update(result_status=res["resultStatus"], result_code=code, result_message=res["resultMessage"])
        if code == "SUCCESS":
            detail = self._payment_method_detail(number, brand, card, outcome)
            row.update(self._vaulted(detail))
            body["paymentMethodDetail"] = detail
        elif code == "VERIFICATION_IN_PROCESS":
            challenge_id = new_id("ch_")
            urls = {k: v for k, v in links.challenge(challenge_id).items() if k in outcome.urls}
            row.update(status="PROCESSING", urls=store_mod.dumps(urls), challenge_id=challenge_id,
                       challenge=store_mod.dumps({
                           "success": outcome.challenge_success, "fail": outcome.challenge_fail,
                           "cancel": outcome.challenge_cancel, "expire": outcome.challenge_expire,
                           "otp": outcome.challenge_otp, "rule": outcome.rule,
                           "funding": outcome.funding, "issuing_country": outcome.issuing_country,
                           # only what the vaulted card's description needs, later: never the
                           # number, the CVV, cardPasswordDigest, cpf or dateOfBirth
                           "card": {k: card[k] for k in DESCRIBED_CARD_FIELDS if k in card},
                       }),
                       challenge_expires_at=now + self.config.challenge_ttl,
                       vaulting_result_code="VERIFICATION_IN_PROCESS",
                       vaulting_result_message=VAULTING_MESSAGES["VERIFICATION_IN_PROCESS"])
            body.update(urls)
        else:
            reason = reason or DEFAULT_REASON.get(code, code)
            row.update(status="FAIL", vaulting_result_code=reason,
                       vaulting_result_message=FAILURE_REASONS.get(reason, res["resultMessage"]))
        row["response_json"] = store_mod.dumps(body)

        if token is not None:  # used only now, by the request that stores the vault
            self.card_tokens.use_in(db, client_id, token)
        row["id"] = self.store.insert_vault(db, row)
        if row["status"] in ("SUCCESS", "FAIL"):
            self._finalised(db, row)
        return Reply(body, outcome)

    def _replay(self, vault, digest: str) -> dict:
        if vault["request_digest"] != digest:
            raise AmsError("REPEAT_REQ_INCONSISTENT",
                           "vaultingRequestId was already used with a different request body")
        return json.loads(vault["response_json"])

    def _past_expiry(self, client_id: str, outcome: Outcome, card: dict, number: str) -> bool:
        """The card's expiry date is past and nothing lets it through: `expiry: any` on the
        outcome, or, for a challenge (which the 3DS flag may have chosen), on the rules for
        this card number (Antom's cards)."""
        if outcome.any_expiry or not self._expired(card):
            return False
        return outcome.result_code == "SUCCESS" or not self.scenarios.takes_any_expiry(client_id, number)

    def _expired(self, card: dict) -> bool:
        year, month = card.get("expiryYear"), card.get("expiryMonth")
        if not (year and month):
            return False
        now = iso(self.clock.now())
        current = (int(now[:4]), int(now[5:7]))
        full_year = int(year) if len(year) == 4 else 2000 + int(year)
        return (full_year, int(month)) < current

    @staticmethod
    def _vaulted(detail: dict) -> dict:
        """The columns of a SUCCESS vault (direct, or after its 3DS challenge)."""
        return dict(status="SUCCESS", card_token=detail["card"]["cardToken"],
                    payment_method_detail=store_mod.dumps(detail),
                    vaulting_result_code="SUCCESS", vaulting_result_message=VAULTING_MESSAGES["SUCCESS"])

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
    def inquire(self, client_id: str, req: dict) -> Reply:
        outcome = self.scenarios.choose(client_id, "inquireVaulting", req, None)
        if outcome.result_code != "SUCCESS":
            return Reply({"result": result(outcome.result_code, outcome.result_message)}, outcome)
        vault = self.store.get_vault(client_id, req["vaultingRequestId"])
        if vault is None:
            return Reply({"result": AmsError("VAULTING_NOT_EXIST").result()}, outcome)
        return Reply(self.describe(self.expire_if_due(vault)), outcome)

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

    # -- 3DS challenge -----------------------------------------------------------
    def complete_challenge(self, challenge_id: str, action: str, otp: str | None = None, check_otp: bool = True):
        """The buyer authenticates, fails or cancels the challenge: the vault becomes
        SUCCESS or FAIL as the scenario set it. Returns the final vault row; raises
        ChallengeError (NOT_FOUND, ALREADY_FINAL, EXPIRED, WRONG_CODE). The last wrong
        one-time code of OTP_ATTEMPTS fails the vault (VERIFY_TIMES_EXCEED_LIMIT) and
        returns it, as an issuer ends the verification."""
        if action not in ("authenticate", "fail", "cancel"):
            raise ValueError(f"unknown challenge action {action!r}")
        expired = wrong = None
        with self.store.tx() as db:
            row = self.store.get_vault_by_challenge_in(db, challenge_id)
            if row is None:
                raise ChallengeError("NOT_FOUND", "no such challenge")
            if row["status"] != "PROCESSING":
                raise ChallengeError("ALREADY_FINAL", f"the challenge is already over: the vault is {row['status']}",
                                     row)
            now = self.clock.now()
            challenge = json.loads(row["challenge"] or "{}")
            expected = challenge.get("otp")
            if self._challenge_due(row, now):
                expired = self._finish_challenge(db, row, "expire", now)
            elif action == "authenticate" and expected and check_otp and (otp or "").strip() != expected:
                challenge["wrong_codes"] = challenge.get("wrong_codes", 0) + 1
                if challenge["wrong_codes"] >= OTP_ATTEMPTS:
                    final = self._finish_challenge(db, {**dict(row), "challenge": store_mod.dumps(challenge)},
                                                   "too_many_codes", now)
                else:  # kept, so that the count holds across pages, workers and restarts
                    self.store.update_vault(db, row["id"], {"challenge": store_mod.dumps(challenge),
                                                            "updated_at": now})
                    wrong = self.store.get_vault_by_id_in(db, row["id"])
                    left = OTP_ATTEMPTS - challenge["wrong_codes"]
            else:
                final = self._finish_challenge(db, row, action, now)
        if expired is not None:
            raise ChallengeError("EXPIRED", "the challenge expired before it was completed", expired)
        if wrong is not None:
            raise ChallengeError("WRONG_CODE", f"the one-time code is not correct ({tries(left)} left)", wrong,
                                 tries_left=left)
        return final

    def expire_challenges(self, limit: int = 100) -> int:
        """Fail every challenge left open past config.challenge_ttl (mock clock). Returns how many."""
        count = 0
        for row in self.store.expired_challenges(self.clock.now(), limit):
            if self.expire_if_due(row)["status"] != "PROCESSING":
                count += 1
        return count

    def expire_if_due(self, vault):
        """`vault`, or its final form if its challenge just expired."""
        if vault["status"] != "PROCESSING" or not self._challenge_due(vault, self.clock.now()):
            return vault
        with self.store.tx() as db:
            row = self.store.get_vault_by_id_in(db, vault["id"])
            now = self.clock.now()
            if row["status"] != "PROCESSING" or not self._challenge_due(row, now):
                return row
            return self._finish_challenge(db, row, "expire", now)

    def challenge(self, challenge_id: str):
        """The vault behind a challenge page (expired ones already failed), or None."""
        row = self.store.get_vault_by_challenge(challenge_id)
        return None if row is None else self.expire_if_due(row)

    @staticmethod
    def _challenge_due(row, now: float) -> bool:
        return row["challenge_expires_at"] is not None and now >= row["challenge_expires_at"]

    def _finish_challenge(self, db, row, action: str, now: float):
        """Within a transaction: make the PROCESSING vault final and tell the listeners."""
        challenge = json.loads(row["challenge"] or "{}")
        if action == "too_many_codes":
            target = "VERIFY_TIMES_EXCEED_LIMIT"
        else:
            target = challenge.get({"authenticate": "success"}.get(action, action)) or \
                ("SUCCESS" if action == "authenticate" else "USER_PAYMENT_VERIFICATION_FAILED")
        request_id = row["vaulting_request_id"]
        if target == "SUCCESS":
            number = self.keyring.decrypt(row["card_enc"], context="card")
            detail = self._payment_method_detail(
                number, row["brand"], challenge.get("card") or {},
                Outcome(funding=challenge.get("funding") or "CREDIT",
                        issuing_country=challenge.get("issuing_country")))
            res = result("SUCCESS")
            body = {"result": res, "vaultingRequestId": request_id, "paymentMethodDetail": detail}
            changes = self._vaulted(detail)
        else:
            if target == "USER_PAYMENT_VERIFICATION_FAILED" or action in ("expire", "too_many_codes"):
                message = CHALLENGE_FAILURES[action].format(minutes=round(self.config.challenge_ttl / 60),
                                                            attempts=OTP_ATTEMPTS)
            else:
                message = FAILURE_REASONS.get(target, target)
            res = result("VERIFICATION_FAIL", message)
            body = {"result": res, "vaultingRequestId": request_id}
            changes = dict(status="FAIL", vaulting_result_code=target, vaulting_result_message=message)
        challenge["completed"] = {"action": action, "at": now, "result": target}
        changes.update(result_status=res["resultStatus"], result_code=res["resultCode"],
                       result_message=res["resultMessage"], response_json=store_mod.dumps(body),
                       challenge=store_mod.dumps(challenge), updated_at=now)
        self.store.update_vault(db, row["id"], changes)
        final = self.store.get_vault_by_id_in(db, row["id"])
        self._finalised(db, dict(final))
        return final


CHALLENGE_FAILURES = {
    "authenticate": "The buyer failed the 3DS verification.",
    "fail": "The buyer failed the 3DS verification.",
    "cancel": "The buyer cancelled the 3DS verification.",
    "expire": "The 3DS verification was not completed within {minutes} minutes.",
    "too_many_codes": "The buyer entered a wrong one-time code {attempts} times.",
}
# wrong one-time codes a challenge takes; the last one fails the vault (VERIFY_TIMES_EXCEED_LIMIT)
OTP_ATTEMPTS = 3


class ChallengeError(Exception):
    """Why a challenge cannot be completed: NOT_FOUND, ALREADY_FINAL, EXPIRED or WRONG_CODE."""

    def __init__(self, code: str, message: str, vault=None, tries_left: int | None = None):
        super().__init__(message)
        self.code, self.message, self.vault, self.tries_left = code, message, vault, tries_left


def tries(n: int) -> str:
    return f"{n} {'try' if n == 1 else 'tries'}"
