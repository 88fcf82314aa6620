"""What the AMS APIs answer, as marshmallow schemas. They validate nothing at
run time: mockpay.openapi publishes them, and the tests check real answers
against the published document, so they cannot drift from the domain unnoticed.

A new API adds its response schema here and passes it to
`@ams_endpoint(request_schema, api, response=...)`.
"""
from __future__ import annotations

from marshmallow import Schema, fields

from .payment_methods import InstUserNameSchema
from .vaulting import AddressSchema, UserNameSchema


def _s(max_length: int | None = None, description: str | None = None, **metadata) -> fields.String:
    if max_length is not None:
        metadata["maxLength"] = max_length
    if description:
        metadata["description"] = description
    return fields.String(metadata=metadata)


class ResultSchema(Schema):
    """The result envelope every AMS answer carries, errors included (always HTTP 200)."""
    resultStatus = fields.String(required=True, metadata={
        "enum": ["S", "F", "U"], "description": "S success, F failure, U unknown: inquire or retry later"})
    resultCode = fields.String(required=True, metadata={"maxLength": 64})
    resultMessage = fields.String(required=True, metadata={"maxLength": 256})


class EnvelopeSchema(Schema):
    """An AMS answer of which only the envelope is documented."""
    class Meta:
        unknown = "include"

    result = fields.Nested(ResultSchema, required=True)


class VaultedCardSchema(Schema):
    """The vaulted card as the answers describe it: never the full number, never the CVV."""
    cardToken = _s(2048, "token to pay with the vaulted card")
    maskedCardNo = _s(64, "all but the last four digits masked")
    brand = _s(64)
    fingerprint = _s(64, "64 lower-case hex characters, stable for a card number", pattern="^[0-9a-f]{64}$")
    funding = _s(20, "CREDIT, DEBIT, PREPAID, ...")
    bin = _s(8, "first six digits")
    lastFour = _s(4)
    issuingCountry = _s(2)
    expiryYear = _s(2)
    expiryMonth = _s(2)
    cardholderName = fields.Nested(UserNameSchema)


class VaultedPaymentMethodDetailSchema(Schema):
    paymentMethodType = _s(64, enum=["CARD"])
    card = fields.Nested(VaultedCardSchema)


_URLS = {
    "normalUrl": "the 3DS challenge page for a browser (while verification is in process)",
    "schemeUrl": "the challenge as an app scheme URL",
    "applinkUrl": "the challenge as an app link",
}


class VaultPaymentMethodResponseSchema(Schema):
    result = fields.Nested(ResultSchema, required=True)
    vaultingRequestId = _s(64)
    paymentMethodDetail = fields.Nested(VaultedPaymentMethodDetailSchema,
                                        metadata={"description": "when resultStatus is S"})
    normalUrl = _s(2048, _URLS["normalUrl"])
    schemeUrl = _s(2048, _URLS["schemeUrl"])
    applinkUrl = _s(2048, _URLS["applinkUrl"])


class InquireVaultingResponseSchema(Schema):
    result = fields.Nested(ResultSchema, required=True)
    vaultingRequestId = _s(64)
    vaultingStatus = _s(10, "when resultStatus is S", enum=["SUCCESS", "FAIL", "PROCESSING"])
    vaultingResultCode = _s(64, "SUCCESS, VERIFICATION_IN_PROCESS, or why it failed (e.g. CARD_EXPIRED)")
    vaultingResultMessage = _s(256)
    paymentMethodDetail = fields.Nested(VaultedPaymentMethodDetailSchema,
                                        metadata={"description": "when vaultingStatus is SUCCESS"})
    normalUrl = _s(2048, _URLS["normalUrl"])
    schemeUrl = _s(2048, _URLS["schemeUrl"])
    applinkUrl = _s(2048, _URLS["applinkUrl"])
    metadata = _s(2048, "echoed from vaultPaymentMethod")


class CreateVaultingSessionResponseSchema(Schema):
    result = fields.Nested(ResultSchema, required=True)
    vaultingSessionData = _s(4096, "opaque; for the client component (four segments joined by &&)")
    vaultingSessionId = _s(64)
    vaultingSessionExpiryTime = _s(64, "ISO 8601 with offset (mock clock)")
    normalUrl = _s(2048, "the hosted card-binding page")


class CachedCardSchema(Schema):
    """The card behind a cacheCard token: never the full number, never the security code."""
    cardToken = _s(2048, "temporary: usable once in vaultPaymentMethod's card.cardToken until expiryTime")
    mask = _s(32, "first six and last four digits, e.g. 123456******1234")
    last4 = _s(4)
    brand = _s(64)
    expiryYear = _s(4)
    expiryMonth = _s(2)
    instUserName = fields.Nested(InstUserNameSchema)
    billingAddress = fields.Nested(AddressSchema)


class CachedPaymentMethodDetailSchema(Schema):
    paymentMethodDetailType = _s(32, enum=["card"])
    card = fields.Nested(CachedCardSchema)


class CacheCardResponseSchema(Schema):
    result = fields.Nested(ResultSchema, required=True)
    paymentMethodDetail = fields.Nested(CachedPaymentMethodDetailSchema,
                                        metadata={"description": "when resultStatus is S"})
    expiryTime = _s(64, "when the token expires: ISO 8601 with offset (mock clock)")


vault_payment_method = VaultPaymentMethodResponseSchema()
inquire_vaulting = InquireVaultingResponseSchema()
create_vaulting_session = CreateVaultingSessionResponseSchema()
cache_card = CacheCardResponseSchema()
