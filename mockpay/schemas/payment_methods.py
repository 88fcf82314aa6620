"""cacheCard request body.

Field names follow the cacheCard reference, which differ from vaultPaymentMethod:
`paymentMethodDetailType`, `securityCode`, `instUserName`, and a 4-digit
`expiryYear`. `billingAddress.region` is a 2-letter ISO 3166 code as everywhere
else in AMS: the reference's sample ("China") is not, and that sample is not
even valid JSON (trailing commas), so the mock does not take it as the rule.
"""
from __future__ import annotations

from marshmallow import ValidationError, validates_schema

from .fields import CARD_BRANDS, AmsObject, AmsString, card_errors
from .vaulting import DIGITS, AddressSchema, AmsSchema, UserNameSchema


class InstUserNameSchema(UserNameSchema):
    """cacheCard's name for vaultPaymentMethod's cardholderName, which it becomes."""


class CacheCardSchema(AmsSchema):
    cardNo = AmsString(32, required=True, pattern=r"\d{12,19}", pattern_help="12 to 19 digits, Luhn-valid",
                       **DIGITS)
    brand = AmsString(64, choices=CARD_BRANDS, ignore_case=True)
    securityCode = AmsString(4, pattern=r"\d{3,4}", pattern_help="3 digits (4 for AMEX)", **DIGITS)
    expiryYear = AmsString(4, required=True, pattern=r"\d{4}", pattern_help='4 digits, e.g. "2030"', **DIGITS)
    expiryMonth = AmsString(2, required=True, pattern=r"0[1-9]|1[0-2]", pattern_help="01 to 12", **DIGITS)
    instUserName = AmsObject(InstUserNameSchema)
    billingAddress = AmsObject(AddressSchema)

    @validates_schema
    def _card(self, data, **kwargs):
        errors = card_errors(data, "securityCode")
        if errors:
            raise ValidationError(errors)


class CachePaymentMethodDetailSchema(AmsSchema):
    # documented as "card"; compared case-insensitively, answered as "card"
    paymentMethodDetailType = AmsString(32, required=True, choices=("CARD",), ignore_case=True)
    card = AmsObject(CacheCardSchema, required=True)


class CacheCardRequestSchema(AmsSchema):
    paymentMethodDetail = AmsObject(CachePaymentMethodDetailSchema, required=True)


cache_card = CacheCardRequestSchema()
