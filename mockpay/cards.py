"""Card-number helpers: Luhn, brand from the BIN, and the masks the APIs and logs use."""
from __future__ import annotations

import re

_BRAND_RULES: list[tuple[str, str]] = [
    (r"^3[47]", "AMEX"),
    (r"^(5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)", "MASTERCARD"),
    (r"^(4011|4312|4389|4514|4576|5041|5066|5067|509|6277|6362|6363|650|6516|6550)", "ELO"),
    (r"^(6011|64[4-9]|65)", "DISCOVER"),
    (r"^35(2[89]|[3-8]\d)", "JCB"),
    (r"^(606282|3841)", "HIPERCARD"),  # before DINERS, whose 38 would take 3841
    (r"^(36|30[0-5]|3095|38|39)", "DINERS"),
    (r"^62", "CUP"),
    (r"^220[0-4]", "MIR"),
    (r"^9792", "TROY"),
    (r"^(5018|5020|5038|5893|6304|6759|676[1-3])", "MAESTRO"),
    (r"^4", "VISA"),
]


def luhn_ok(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(partial: str) -> str:
    """Append the check digit that makes `partial` Luhn-valid."""
    for digit in "0123456789":
        if luhn_ok(partial + digit):
            return partial + digit
    raise AssertionError("unreachable")


_BRAND_PATTERNS = [(re.compile(pattern), brand) for pattern, brand in _BRAND_RULES]


def detect_brand(number: str) -> str | None:
    for pattern, brand in _BRAND_PATTERNS:
        if pattern.match(number):
            return brand
    return None


def security_code_problem(code: str | None, brand: str | None) -> str | None:
    """What is wrong with a CVV's length for the card's brand (4 digits for AMEX, 3
    otherwise), or None."""
    if not code:
        return None
    amex = (brand or "").upper() == "AMEX"
    if len(code) != (4 if amex else 3):
        return "must be 4 digits for AMEX" if amex else "must be 3 digits"
    return None


def masked_card_no(number: str) -> str:
    """vaultPaymentMethod's maskedCardNo: '************8764'."""
    return "*" * (len(number) - 4) + number[-4:]


def mask_6_4(number: str) -> str:
    """cacheCard's mask, and what logs and the journal keep: '123456******1234'."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


# 12 digits or more (optionally spaced): a run longer than a card number may hold one
# glued to other digits, so it is masked too.
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,}")


def redact_card_numbers(text: str) -> str:
    """Mask every run of 12 or more digits (optionally spaced) that could be or hold a card
    number, keeping at most its first six and last four digits."""
    def repl(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return mask_6_4(digits)
    if len(text) < 12:  # too short to hold 12 digits: most values, kept without a regex
        return text
    return _DIGIT_RUN.sub(repl, text)


def could_hold_card_number(value: str) -> bool:
    """An identifier that could be or hold a card number: a run of digits (spaces or dashes
    between them allowed) of 12 to 19 digits passing the Luhn check, or longer than 19 (a
    card number glued to other digits). Other numeric ids may be kept whole."""
    for run in _DIGIT_RUN.findall(value):
        digits = re.sub(r"\D", "", run)
        if len(digits) > 19 or luhn_ok(digits):
            return True
    return False
