"""The request journal: every API call the mock answered, with its bodies.

What is stored is already redacted: a value under a card-number key (cardNo)
keeps its first six and last four characters, any other run of 12 or more digits
(spaced or not, in a string or a JSON number) anywhere else in a body is masked the
same way, and CVV-like values (cvv, securityCode, cardPasswordDigest, ...) are
removed entirely. Kept whole: identifier fields, whose names end in "Id" (a numeric
vaultingRequestId stays searchable), and the client id, unless the value could hold
a card number (cards.could_hold_card_number); and the `fingerprint` mockpay itself
answers. The request path is masked like a body string.

The write on the request path is a single INSERT. The cap (config.journal_cap)
is enforced in batches: every `trim_every`-th row id triggers one DELETE of the
ids older than the newest `cap` ids (a range on the primary key), so the
journal holds at most cap + trim_every - 1 rows and no request pays for
trimming on its own.
journal_cap = 0 turns the journal off.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re

from . import store as store_mod
from .cards import could_hold_card_number, mask_6_4, redact_card_numbers
from .text import printable

log = logging.getLogger("mockpay.journal")

# Keys (compared lower-case, without _ and -) whose values are removed entirely.
SECRET_KEYS = {"cvv", "cvv2", "cvc", "cvc2", "securitycode", "cardpassworddigest"}
# Keys whose values are card numbers: masked to first six and last four.
CARD_KEYS = {"cardno", "cardnumber", "pan"}
# A stored body larger than this (after redaction) is cut to a preview.
MAX_BODY_CHARS = 64 * 1024
PREVIEW_CHARS = 2000
# A body that is not JSON: strip anything that looks like `cvv: 123` before keeping a preview.
_SECRET_IN_TEXT = re.compile(r"(?i)(\"?(?:cvv2?|cvc2?|security_?code|card_?password_?digest)\"?\s*[:=]\s*\"?)[^\",}&\s]*")


_ID_KEY = re.compile(r"(?:Id|ID|_id)$")
# mockpay's card fingerprint, an HMAC-SHA256 in hex: kept as is, although one in six
# holds a run of 12 decimal digits that the card-number rule would mask.
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _text(value: str) -> str:
    return redact_card_numbers(printable(value))  # a refused \ud800 is still journaled, as its escape


def _norm(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def redact(value, keep_fingerprints: bool = False):
    """A copy of a JSON value with card data masked and CVVs removed.
    `keep_fingerprints`: for mockpay's own answers, whose `fingerprint` (64 hex characters
    of HMAC) would otherwise lose any run of 12 digits it happens to hold; never for what
    a client sent, which could hide a card number in such a value."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = _norm(str(key))
            if name in SECRET_KEYS:
                continue
            if name in CARD_KEYS and isinstance(item, (str, int, float)) and not isinstance(item, bool):
                out[_text(str(key))] = mask_6_4(printable(str(item)))
                continue
            if isinstance(item, str) and ((_ID_KEY.search(str(key)) and not could_hold_card_number(item)) or (
                    keep_fingerprints and name == "fingerprint" and _FINGERPRINT.fullmatch(item))):
                out[_text(str(key))] = printable(item)
                continue
            out[_text(str(key))] = redact(item, keep_fingerprints)
        return out
    if isinstance(value, list):
        return [redact(v, keep_fingerprints) for v in value]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float) and not math.isfinite(value):
        # NaN, Infinity or a number past a double's range (1e400), which json.loads takes:
        # kept as text, since no JSON may hold them (the admin API's answers included)
        return _NON_FINITE[str(value)]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 10 ** 11:
        text = str(value) if isinstance(value, int) else format(value, "f")
        masked = redact_card_numbers(text)
        return value if masked == text else masked
    return value


def redact_id(value: str) -> str:
    """An identifier as the journal keeps it: whole, unless it could hold a card number."""
    return redact_card_numbers(value) if could_hold_card_number(value) else value


def redact_text(text: str) -> str:
    """For a body that did not parse as JSON."""
    return redact_card_numbers(_SECRET_IN_TEXT.sub(r"\1", text))


def _unparsed(raw: bytes) -> dict:
    """What is kept of a body that is not JSON (or too deep to walk): a redacted preview."""
    text = raw[:PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
    return {"unparsed": redact_text(text[:PREVIEW_CHARS]), "bytes": len(raw)}


def _stored(value) -> str | None:
    if value is None:
        return None
    text = store_mod.dumps(value)
    if len(text) > MAX_BODY_CHARS:
        text = store_mod.dumps({"truncated": True, "chars": len(text), "preview": text[:PREVIEW_CHARS]})
    return text


def _iso_ms(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).isoformat(timespec="milliseconds")


class Journal:
    def __init__(self, store, clock, cap: int):
        self.store = store
        self.clock = clock
        self.cap = max(0, int(cap))
        self.trim_every = max(1, min(500, self.cap // 10))

    @property
    def enabled(self) -> bool:
        return self.cap > 0

    def record(self, call: dict, request_body=None, request_raw: bytes | None = None,
               response_body=None) -> int | None:
        """Store one API call. `call` holds method, path, api, client_id, http_status,
        result_status, result_code, fault, latency_ms. `request_body` is the parsed
        JSON when there is one; otherwise `request_raw` is kept as redacted text, and so
        is a body nested too deeply to redact or store as JSON."""
        if not self.enabled:
            return None
        try:
            if request_body is not None:
                request = redact(request_body)
            elif request_raw:
                try:
                    request = redact(json.loads(request_raw.decode("utf-8", errors="replace")))
                except ValueError:
                    request = _unparsed(request_raw)
            else:
                request = None
            request_json = _stored(request)
        except RecursionError:  # json.loads, redact and json.dumps all recurse
            request = _unparsed(request_raw or b"")
            request_json = _stored(request)
        response = redact(response_body, keep_fingerprints=True) if response_body is not None else None
        row = dict(call)
        # the path and client-id header are the client's to write too
        row["path"] = redact_card_numbers(row["path"] or "")
        row["client_id"] = redact_id(row["client_id"]) if row.get("client_id") else row.get("client_id")
        row["at"] = self.clock.now()
        row["vaulting_request_id"] = _vaulting_request_id(request) or _vaulting_request_id(response)
        row["request_json"] = request_json
        row["response_json"] = _stored(response)
        row_id = self.store.journal_insert(row)
        if row_id % self.trim_every == 0:
            self.store.journal_trim(row_id - self.cap)  # ids only grow: keep the newest `cap` ids
        return row_id

    def entries(self, *, client_id=None, path=None, vaulting_request_id=None, result_code=None, api=None,
                before=None, limit=100) -> list[dict]:
        rows = self.store.journal_list(client_id=client_id, path=path, vaulting_request_id=vaulting_request_id,
                                       result_code=result_code, api=api, before=before, limit=limit)
        return [self.describe(r) for r in rows]

    @staticmethod
    def describe(row) -> dict:
        return {
            "id": row["id"],
            "time": _iso_ms(row["at"]),
            "clientId": row["client_id"],
            "method": row["method"],
            "path": row["path"],
            "api": row["api"],
            "vaultingRequestId": row["vaulting_request_id"],
            "httpStatus": row["http_status"],
            "resultStatus": row["result_status"],
            "resultCode": row["result_code"],
            "fault": row["fault"],
            "latencyMs": round(row["latency_ms"], 3),
            "request": store_mod.loads(row["request_json"]),
            "response": store_mod.loads(row["response_json"]),
        }


def _vaulting_request_id(body) -> str | None:
    if isinstance(body, dict):
        value = body.get("vaultingRequestId")
        if isinstance(value, str) and value and len(value) <= 256:
            return value
    return None
