"""Field types shared by every AMS schema.

The API reference says every field except arrays is a String. Where the
official SDK itself types a field otherwise (is3DSAuthentication, javaEnabled
as bool, timeZoneOffset as int), the SDK wins and both forms are accepted.
"""
from __future__ import annotations

import re

from marshmallow import ValidationError, fields

from ..cards import could_hold_card_number, detect_brand, luhn_ok, security_code_problem
from ..text import CONTROL


CARD_BRANDS = (
    "AMEX", "BC", "CARNET", "CARTES_BANCAIRES", "CITI", "CUP", "DINERS", "DISCOVER", "ELO",
    "GWANGJUBANK", "HIPERCARD", "HYUNDAI", "IBK_BC", "JCB", "JEJUBANK", "JEONBUKBANK", "KAKAOBANK",
    "KBANK", "KDBBANK", "KEBHANA", "KOOKMIN", "LOTTE", "MAESTRO", "MASTERCARD", "MIR", "NONGHYUP",
    "POST", "SAEMAUL", "SAMSUNG", "SAVINGBANK", "SHINHAN", "SHINHYEOP", "SUHYEOP", "TOSSBANK", "TROY",
    "VISA", "WOORI",
)


class AmsString(fields.String):
    """A JSON string, non-empty, at most `max_length` characters, no control characters.

    `choices`: allowed values (compared upper-case when `ignore_case`, and then
    normalised to upper case). `pattern`: a regex the whole value must match,
    explained by `pattern_help`. `ascii_only`: for codes, ids and URLs. `no_card_number`:
    for free text mockpay keeps and answers in plain text (a cardholder's name), which
    must not hold a card number (cards.could_hold_card_number).
    """

    default_error_messages = {
        "invalid": "must be a JSON string",
        "empty": "must not be empty",
        "too_long": "must be at most {max} characters",
        "control": "must not contain control characters",
        "ascii": "must contain ASCII characters only",
        "choice": "must be one of {choices}",
        "pattern": "must be {help}",
        "card_number": "must not contain a card number",
    }

    def __init__(self, max_length: int, *, choices=None, ignore_case: bool = False, pattern: str | None = None,
                 pattern_help: str = "well-formed", ascii_only: bool = False, no_card_number: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.choices = tuple(choices) if choices else None
        self.ignore_case = ignore_case
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_help = pattern_help
        self.ascii_only = ascii_only
        self.no_card_number = no_card_number
        self.metadata.setdefault("maxLength", max_length)
        if self.choices:
            self.metadata.setdefault("enum", list(self.choices))

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if value == "":
            raise self.make_error("empty")
        if len(value) > self.max_length:
            raise self.make_error("too_long", max=self.max_length)
        if CONTROL.search(value):
            raise self.make_error("control")
        if self.ascii_only and not value.isascii():
            raise self.make_error("ascii")
        if self.choices:
            probe = value.upper() if self.ignore_case else value
            if probe not in self.choices:
                raise self.make_error("choice", choices=", ".join(self.choices))
            value = probe
        if self.pattern and not self.pattern.fullmatch(value):
            raise self.make_error("pattern", help=self.pattern_help)
        if self.no_card_number and could_hold_card_number(value):
            raise self.make_error("card_number")
        return value


class AmsBoolean(fields.Field):
    """"true"/"false" as the docs ask, or a JSON boolean as the Python SDK sends.
    Loads as the string "true" or "false"."""

    default_error_messages = {"invalid": 'must be "true" or "false"'}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        raise self.make_error("invalid")


class AmsInteger(fields.Field):
    """An integer given as a digit string, or as a JSON integer where the SDK types it so."""

    default_error_messages = {"invalid": "must be an integer from {low} to {high}"}

    def __init__(self, low: int, high: int, *, allow_json_number: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high, self.allow_json_number = low, high, allow_json_number

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid", low=self.low, high=self.high)
        if isinstance(value, int) and self.allow_json_number:
            number = value
        elif isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,6}", value):
            number = int(value)
        else:
            raise self.make_error("invalid", low=self.low, high=self.high)
        if not self.low <= number <= self.high:
            raise self.make_error("invalid", low=self.low, high=self.high)
        return str(number)


class AmsObject(fields.Nested):
    default_error_messages = {"type": "must be a JSON object"}


def card_errors(data: dict, code_field: str) -> dict[str, list[str]]:
    """The card rules both card schemas share: a Luhn-valid number, and a security
    code of 4 digits for AMEX, 3 otherwise. `code_field` is cvv or securityCode."""
    errors: dict[str, list[str]] = {}
    number = data.get("cardNo")
    if number and not luhn_ok(number):
        errors["cardNo"] = ["fails the Luhn check"]
    brand = data.get("brand") or (detect_brand(number) if number else None)
    if brand is None and "cardToken" in data:
        return errors  # the brand is the cached card's: CardTokens.resolve checks the code
    problem = security_code_problem(data.get(code_field), brand)
    if problem:
        errors[code_field] = [problem]
    return errors


def fail(message: str, field: str):
    raise ValidationError(message, field_name=field)
