"""Result codes of the AMS gateway and the vaulting APIs, with their documented
status and message. One table, used by the gateway, the domain and scenarios."""
from __future__ import annotations

from .text import printable

RESULT_CODES: dict[str, tuple[str, str]] = {
    "SUCCESS": ("S", "success."),  # the vaulting pages' samples; their tables say "Success"
    # gateway
    "ACCESS_DENIED": ("F", "Access denied."),
    "INVALID_API": ("F", "API is invalid (or not active)."),
    "INVALID_CLIENT": ("F", "Invalid client."),
    "INVALID_SIGNATURE": ("F", "Signature is invalid."),
    "KEY_NOT_FOUND": ("F", "Key is not found."),
    "MEDIA_TYPE_NOT_ACCEPTABLE": ("F", "The server does not implement the media type that is acceptable to the client."),
    "METHOD_NOT_SUPPORTED": ("F", "The server does not implement the requested HTTP method."),
    "NO_INTERFACE_DEF": ("F", "API is not defined."),
    "PARAM_ILLEGAL": ("F", "The required parameters are not passed, or illegal parameters exist."),
    "PROCESS_FAIL": ("F", "A general business failure occurred."),
    "RISK_REJECT": ("F", "The request is rejected because of the risk control."),
    "SYSTEM_ERROR": ("F", "A system error occurred."),
    "REQUEST_TRAFFIC_EXCEED_LIMIT": ("U", "Request traffic exceeds the limit."),
    "UNKNOWN_EXCEPTION": ("U", "An API call has failed, which is caused by unknown reasons."),
    # vaulting
    "VERIFICATION_IN_PROCESS": ("U", "The verification of the payment method information is under process."),
    "VERIFICATION_FAIL": ("F", "The verification of the payment method information failed."),
    "VAULTING_NOT_EXIST": ("F", "The vaulting request ID does not exist."),
    "REPEAT_REQ_INCONSISTENT": ("F", "Repeat request inconsistent."),
    # cacheCard (API_MESSAGES has its own wording of some common codes)
    "USER_NOT_EXIST": ("F", "The user does not exist."),
    "USER_STATUS_ABNORMAL": ("F", "The user status is abnormal."),
    "INVALID_PAYMENTMETHOD_TOKEN": ("F", "The payment method token is invalid."),
}

# Where an API's reference page words a common code differently.
API_MESSAGES: dict[str, dict[str, str]] = {
    "cacheCard": {
        "SUCCESS": "success",  # its sample
        "PROCESS_FAIL": "A general business failure occurred. Don't retry.",
        "PARAM_ILLEGAL": "Illegal parameters. For example, non-numeric input, invalid date.",
        "UNKNOWN_EXCEPTION": "API failed due to unknown reasons.",
    },
}

# vaultingResultMessage (inquireVaulting) for a vault that is not FAIL, in the SDK's words.
VAULTING_MESSAGES: dict[str, str] = {
    "SUCCESS": "success.",
    "VERIFICATION_IN_PROCESS": "The verification is still under process.",
}

# Reasons inquireVaulting reports in vaultingResultCode when vaultingStatus is FAIL.
FAILURE_REASONS: dict[str, str] = {
    "CARD_EXPIRED": "The card has expired.",
    "CARD_NOT_SUPPORTED": "The card is not supported.",
    "DO_NOT_HONOR": "The issuing bank declined the verification (do not honor).",
    "FRAUD_REJECT": "The verification was rejected as suspected fraud.",
    "INVALID_CARD_NUMBER": "The card number is invalid.",
    "INVALID_CVV": "The CVV is invalid.",
    "INVALID_EXPIRATION_DATE": "The expiration date is invalid.",
    "LOST_CARD": "The card was reported lost.",
    "STOLEN_CARD": "The card was reported stolen.",
    "RESTRICTED_CARD": "The card is restricted.",
    "PICKUP_CARD": "The issuer asks to pick up the card.",
    "USER_PAYMENT_VERIFICATION_FAILED": "The buyer failed the payment verification.",
    "VERIFY_TIMES_EXCEED_LIMIT": "The verification was attempted too many times.",
    "PROCESS_FAIL": "A general business failure occurred.",
}

# Which result codes each API documents (gateway codes apply to all).
GATEWAY_CODES = frozenset({
    "ACCESS_DENIED", "INVALID_API", "INVALID_CLIENT", "INVALID_SIGNATURE", "KEY_NOT_FOUND",
    "MEDIA_TYPE_NOT_ACCEPTABLE", "METHOD_NOT_SUPPORTED", "NO_INTERFACE_DEF", "PARAM_ILLEGAL",
    "PROCESS_FAIL", "RISK_REJECT", "SYSTEM_ERROR", "REQUEST_TRAFFIC_EXCEED_LIMIT", "UNKNOWN_EXCEPTION",
})
API_CODES: dict[str, frozenset[str]] = {
    "vaultPaymentMethod": GATEWAY_CODES | {"SUCCESS", "VERIFICATION_IN_PROCESS", "VERIFICATION_FAIL",
                                           "REPEAT_REQ_INCONSISTENT", "INVALID_PAYMENTMETHOD_TOKEN"},
    "inquireVaulting": GATEWAY_CODES | {"SUCCESS", "VAULTING_NOT_EXIST"},
    "createVaultingSession": GATEWAY_CODES | {"SUCCESS", "REPEAT_REQ_INCONSISTENT"},
    "cacheCard": GATEWAY_CODES | {"SUCCESS", "REPEAT_REQ_INCONSISTENT", "USER_NOT_EXIST",
                                  "USER_STATUS_ABNORMAL", "INVALID_PAYMENTMETHOD_TOKEN"},
}


# resultMessage is documented as at most 256 characters. Messages may quote what the
# client sent (a field name, a client id, a path), so every message is held to that.
MESSAGE_MAX = 256


def fit_message(message: str) -> str:
    """At most MESSAGE_MAX characters, and encodable: a lone surrogate the client sent (in
    a JSON key a message quotes) is written as its escape, \\ud800."""
    message = printable(message)
    return message if len(message) <= MESSAGE_MAX else message[:MESSAGE_MAX - 3] + "..."


def status_of(code: str) -> str:
    return RESULT_CODES[code][0]


class AmsError(Exception):
    """A domain or gateway failure that becomes a signed AMS answer with HTTP 200."""

    def __init__(self, code: str, message: str | None = None, status: str | None = None):
        self.code = code
        self.status = status or RESULT_CODES[code][0]
        self.given_message = message
        self.message = fit_message(message or RESULT_CODES[code][1])
        super().__init__(f"{self.code}: {self.message}")

    def result(self, api: str | None = None) -> dict[str, str]:
        """The result envelope, in `api`'s wording when the error has no message of its own."""
        return result(self.code, self.given_message, self.status, api)


def result(code: str, message: str | None = None, status: str | None = None,
           api: str | None = None) -> dict[str, str]:
    """The result envelope; `api` picks that API's wording of the message, where it has one."""
    status_, default = RESULT_CODES.get(code, ("F", code))
    default = API_MESSAGES.get(api, {}).get(code, default)
    return {"resultStatus": status or status_, "resultCode": code, "resultMessage": fit_message(message or default)}
