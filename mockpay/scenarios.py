"""Outcomes: what the mock answers to a given request.

This module picks the Outcome for a request. Scenario files (YAML, validated
with marshmallow) map card numbers, BIN prefixes and other request fields to
outcomes; with no rule matching, the default outcome is success.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .codes import RESULT_CODES


@dataclass(frozen=True)
class Outcome:
    result_code: str = "SUCCESS"
    result_message: str | None = None
    # vaultingResultCode that inquireVaulting reports for a FAIL
    reason: str | None = None
    # VERIFICATION_IN_PROCESS: which links to return (any of normalUrl, schemeUrl, applinkUrl)
    urls: tuple[str, ...] = ("normalUrl",)
    # what a 3DS challenge resolves to when the buyer authenticates / fails it
    challenge_success: str = "SUCCESS"
    challenge_fail: str = "USER_PAYMENT_VERIFICATION_FAILED"
    delay_ms: int = 0
    # None, or one of: http_500, http_502, http_503, drop, timeout
    fault: str | None = None
    funding: str = "CREDIT"
    issuing_country: str | None = None
    rule: str = "default: success"
    extra: dict = field(default_factory=dict)

    @property
    def result_status(self) -> str:
        return RESULT_CODES[self.result_code][0]


DEFAULT_OUTCOME = Outcome()


class ScenarioEngine:
    """Chooses the outcome of a request. With no rules loaded, every request succeeds."""

    def __init__(self, store=None, default: Outcome = DEFAULT_OUTCOME):
        self.store = store
        self.default = default

    def choose(self, client_id: str, api: str, request: dict, card_no: str | None = None) -> Outcome:
        return self.default
