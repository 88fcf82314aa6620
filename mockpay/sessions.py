"""createVaultingSession and the hosted card-binding page that stands in for
Antom's client-side component. No Flask, no HTTP: the blueprints in api/ call
this module with validated bodies and plain form fields.

A session lives `config.session_ttl` seconds of mock time, OPEN until the buyer's
card is vaulted through it (then USED). The page vaults through the very same
domain call as vaultPaymentMethod (`Vaulting.vault_payment_method`), so the
scenario engine, 3DS challenges and the notification hooks apply unchanged; the
vault carries the session's vaultingRequestId, so inquireVaulting reports it.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field

from marshmallow import ValidationError

from . import store as store_mod
from .cards import could_hold_card_number
from .clock import iso
from .codes import AmsError, result
from .crypto import new_id
from .schemas.vaulting import CardSchema
from .vaulting import Links, Reply, canonical, refusal

SEAL_CONTEXT = "vaulting-session-data"
DATA_VERSION = "1"
CLIENT_CONFIG = {"paymentSessionConfig": {"productScene": "VAULTING", "paymentMethodCategoryType": "CARD"}}


class SessionLinks(Links):
    """Links, plus the hosted card-binding page."""

    def session_page(self, session_id: str) -> str:
        return f"{self.base}/vaulting/session/{session_id}"


class SessionClosed(Exception):
    """The page cannot be used: reason is 'unknown', 'expired' or 'used'."""

    def __init__(self, reason: str, session=None):
        super().__init__(reason)
        self.reason = reason
        self.session = session


@dataclass
class FormResult:
    """What the page does after a submission: re-render with errors, or redirect."""
    errors: dict[str, str] = field(default_factory=dict)  # form field -> message; "" key: whole form
    # what to put back in the form: never the card number, the CVV, or a value that could hold one
    values: dict[str, str] = field(default_factory=dict)
    redirect: str | None = None
    vaulting_status: str | None = None  # SUCCESS | FAIL | PROCESSING once a vault exists


# The page's fields, and which card-schema field each one feeds.
FORM_FIELDS = ("cardNumber", "expiry", "cvv", "cardholderName")
SCHEMA_TO_FORM = {"cardNo": "cardNumber", "expiryYear": "expiry", "expiryMonth": "expiry", "cvv": "cvv",
                  "cardholderName": "cardholderName"}
LABELS = {"cardNo": "Card number", "expiryYear": "Expiry year", "expiryMonth": "Expiry month", "cvv": "CVV",
          "cardholderName": "Cardholder name"}
NAME_PART = 32  # cardholderName.firstName, lastName
_EXPIRY = re.compile(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*")


def session_data(sealed: str, region: str) -> str:
    """Four segments joined by '&&', as the client component parses them: the
    sealed session, the region, a format version, and base64 JSON with the
    paymentSessionConfig the component reads."""
    config = base64.b64encode(json.dumps(CLIENT_CONFIG, separators=(",", ":")).encode()).decode()
    return "&&".join((sealed, region, DATA_VERSION, config))


class VaultingSessions:
    def __init__(self, store, clock, keyring, scenarios, vaulting, config):
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self.scenarios = scenarios
        self.vaulting = vaulting
        self.config = config

    # -- createVaultingSession ---------------------------------------------------
    def create(self, client_id: str, req: dict, links: SessionLinks) -> Reply:
        request_id = req["vaultingRequestId"]
        digest = self.keyring.digest(canonical(req))
        existing = self.store.get_session_by_request(client_id, request_id)
        if existing is not None:
            return Reply(self._replay(existing, digest))

        self.scenarios.client_set(client_id)  # compiled (and cached) before taking the write lock
        # One transaction decides and stores, as for vaultPaymentMethod: an identical request
        # that stored the session meanwhile is replayed before any rule is asked, so that it
        # does not count as a step of a sequence. One id, one vaulting: an id a vault has is
        # refused (looked up in the transaction, so that another worker's vault counts too).
        with self.store.tx() as db:
            raced = self.store.get_session_by_request_in(db, client_id, request_id)
            if raced is None and self.store.get_vault_in(db, client_id, request_id) is not None:
                raise AmsError("REPEAT_REQ_INCONSISTENT",
                               "vaultingRequestId was already used by a vaultPaymentMethod request")
            if raced is None:
                outcome = self.scenarios.choose(client_id, "createVaultingSession", req, None, db=db)
                reply = self._store_outcome(db, client_id, req, digest, outcome, links)
        if raced is not None:
            return Reply(self._replay(raced, digest))
        return reply

    def _store_outcome(self, db, client_id: str, req: dict, digest: str, outcome, links: SessionLinks) -> Reply:
        """Within the transaction of create: the answer to `outcome`, and the session it stores."""
        refused = refusal(outcome, "createVaultingSession")
        if refused is not None:
            return refused

        request_id = req["vaultingRequestId"]
        now = self.clock.now()
        expires_at = now + self.config.session_ttl
        session_id = new_id("VS", 20)
        sealed = self.keyring.seal_json({"sid": session_id, "cid": client_id, "exp": int(expires_at)},
                                        SEAL_CONTEXT)
        body = {
            "result": result("SUCCESS", outcome.result_message),
            "vaultingSessionData": session_data(sealed, req.get("merchantRegion") or "SG"),
            "vaultingSessionId": session_id,
            "vaultingSessionExpiryTime": iso(expires_at),
            "normalUrl": links.session_page(session_id),
        }
        row = {
            "session_id": session_id,
            "client_id": client_id,
            "vaulting_request_id": request_id,
            "request_digest": digest,
            "request_json": store_mod.dumps(req),
            "response_json": store_mod.dumps(body),
            "status": "OPEN",
            "expires_at": expires_at,
            "created_at": now,
        }
        self.store.insert_session(db, row)
        return Reply(body, outcome)

    @staticmethod
    def _replay(session, digest: str) -> dict:
        if session["request_digest"] != digest:
            raise AmsError("REPEAT_REQ_INCONSISTENT",
                           "vaultingRequestId was already used with a different request body")
        return json.loads(session["response_json"])

    # -- session data -> page --------------------------------------------------
    def session_id_from_data(self, data: str) -> str:
        """The session a vaultingSessionData names; SessionClosed('unknown') if it is not ours."""
        parts = (data or "").split("&&")
        if len(parts) != 4:
            raise SessionClosed("unknown")
        try:
            sealed = self.keyring.open_json(parts[0], SEAL_CONTEXT)
        except ValueError:
            raise SessionClosed("unknown") from None
        session_id = sealed.get("sid") if isinstance(sealed, dict) else None
        if not isinstance(session_id, str):
            raise SessionClosed("unknown")
        return session_id

    # -- the hosted page ---------------------------------------------------------
    def open(self, session_id: str):
        """The session behind the page, if the buyer may still use it."""
        session = self.store.get_session(session_id)
        if session is None:
            raise SessionClosed("unknown")
        if session["status"] != "OPEN" or self.store.get_vault(session["client_id"],
                                                                session["vaulting_request_id"]) is not None:
            raise SessionClosed("used", session)
        if self.clock.now() >= session["expires_at"]:
            raise SessionClosed("expired", session)
        return session

    def submit(self, session_id: str, form: dict[str, str], links: Links) -> FormResult:
        """Validate the buyer's card as vaultPaymentMethod does, then vault it."""
        session = self.open(session_id)
        # what goes back into the form: never the CVV, nor a value that could hold a card
        # number (typed into the wrong field), which the buyer types again
        values = {k: (form.get(k) or "").strip() for k in FORM_FIELDS if k not in ("cvv", "cardNumber")}
        values = {k: v for k, v in values.items() if not could_hold_card_number(v)}
        card, errors = self._card_from_form(form)
        if errors:
            return FormResult(errors=errors, values=values)

        req = json.loads(session["request_json"])
        if req.get("is3DSAuthentication"):
            card["is3DSAuthentication"] = req["is3DSAuthentication"]
        try:
            card = CardSchema().load(card)
        except ValidationError as exc:
            return FormResult(errors=self._form_errors(exc.messages), values=values)

        body = {"vaultingRequestId": session["vaulting_request_id"]}
        for key in ("vaultingNotificationUrl", "redirectUrl", "merchantRegion"):
            if req.get(key):
                body[key] = req[key]
        body["paymentMethodDetail"] = {"paymentMethodType": "CARD", "card": card}
        body["env"] = {"terminalType": "WEB"}
        body["_source"] = "session"

        try:
            reply = self.vaulting.vault_payment_method(session["client_id"], body, links)
        except AmsError as exc:
            if exc.code == "REPEAT_REQ_INCONSISTENT":  # another submission won the race
                raise SessionClosed("used", session) from None
            return FormResult(errors={"": f"The card could not be saved ({exc.code}: {exc.message})."},
                              values=values)

        vault = self.store.get_vault(session["client_id"], session["vaulting_request_id"])
        if vault is None:
            # a rejected request (e.g. a scenario's UNKNOWN_EXCEPTION): nothing stored, the buyer may retry
            res = reply.body.get("result") or result("UNKNOWN_EXCEPTION")
            return FormResult(errors={"": f"The card could not be saved ({res['resultCode']}: "
                                          f"{res['resultMessage']}). Please try again."}, values=values)
        self.store.mark_session_used(session_id, self.clock.now())
        if vault["status"] == "PROCESSING":
            url = reply.body.get("normalUrl")
            if not url and vault["challenge_id"]:
                url = links.challenge(vault["challenge_id"])["normalUrl"]
            return FormResult(redirect=url, vaulting_status="PROCESSING")
        return FormResult(redirect=req.get("redirectUrl"), vaulting_status=vault["status"])

    @staticmethod
    def _card_from_form(form: dict[str, str]) -> tuple[dict, dict[str, str]]:
        errors: dict[str, str] = {}
        card: dict = {}
        number = re.sub(r"[\s-]", "", form.get("cardNumber") or "")
        if not number:
            errors["cardNumber"] = "Card number is required."
        else:
            card["cardNo"] = number
        expiry = (form.get("expiry") or "").strip()
        match = _EXPIRY.fullmatch(expiry)
        if not expiry:
            errors["expiry"] = "Expiry date is required."
        elif not match:
            errors["expiry"] = "Expiry date must be MM/YY."
        elif len(match.group(2)) == 4 and not match.group(2).startswith("20"):
            # expiryYear has two digits, read as 20YY: 12/1999 would be vaulted as 12/2099
            errors["expiry"] = "Expiry year must be between 2000 and 2099."
        else:
            card["expiryMonth"] = match.group(1).zfill(2)
            card["expiryYear"] = match.group(2)[-2:]
        cvv = (form.get("cvv") or "").strip()
        if not cvv:
            errors["cvv"] = "CVV is required."
        else:
            card["cvv"] = cvv
        name = " ".join((form.get("cardholderName") or "").split())
        if not name:
            errors["cardholderName"] = "Cardholder name is required."
        elif could_hold_card_number(name):  # else vaulted, then stored and notified, in plain text
            errors["cardholderName"] = "Cardholder name must not contain a card number."
        else:
            # fullName (128) always: the field takes 128 characters; firstName and lastName
            # (32 each) only when the split fits them, so a long name is not refused for a
            # part the buyer never typed as such
            first, _, last = name.rpartition(" ")
            holder = {}
            if len(first) <= NAME_PART and len(last) <= NAME_PART:
                holder = {"firstName": first, "lastName": last} if first else {"lastName": last}
            holder["fullName"] = name
            card["cardholderName"] = holder
        return card, errors

    @staticmethod
    def _form_errors(messages: dict) -> dict[str, str]:
        """Card-schema errors ('cardNo': ['fails the Luhn check']) as messages under the page's fields."""
        errors: dict[str, str] = {}
        for key, value in messages.items():
            target = SCHEMA_TO_FORM.get(key, "")
            if target not in errors:
                errors[target] = f"{LABELS.get(key, 'The card')} {_first_message(value).rstrip('.')}."
        return errors


def _first_message(value) -> str:
    if isinstance(value, dict):
        for inner in value.values():
            return _first_message(inner)
        return "is invalid"
    if isinstance(value, list) and value:
        return _first_message(value[0])
    return str(value)
