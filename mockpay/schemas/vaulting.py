"""vaultPaymentMethod and inquireVaulting request bodies."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, validates_schema

from .fields import CARD_BRANDS, AmsBoolean, AmsInteger, AmsObject, AmsString, card_errors

URL = 2048
ID = 64
ISO_REGION = dict(pattern=r"[A-Z]{2}", pattern_help="a 2-letter ISO 3166 code in upper case")
DIGITS = dict(ascii_only=True)


class AmsSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a real gateway ignores fields it does not know


class UserNameSchema(AmsSchema):
    """A cardholder's name. mockpay keeps it in plain text and answers it in
    paymentMethodDetail, so it must not hold a card number (typed in the wrong field)."""
    firstName = AmsString(32, no_card_number=True)
    middleName = AmsString(32, no_card_number=True)
    lastName = AmsString(32, no_card_number=True)
    fullName = AmsString(128, no_card_number=True)


class AddressSchema(AmsSchema):
    region = AmsString(2, **ISO_REGION)
    state = AmsString(8)
    city = AmsString(32)
    address1 = AmsString(256)
    address2 = AmsString(256)
    zipCode = AmsString(32)


class CardSchema(AmsSchema):
    """The card to vault. cardNo, expiryYear and expiryMonth are required unless cardToken (from cacheCard) is given, and with a cardToken expiryYear and expiryMonth come together or not at all; the CVV has 4 digits for AMEX, 3 otherwise."""
    cardNo = AmsString(32, pattern=r"\d{12,19}", pattern_help="12 to 19 digits, Luhn-valid", **DIGITS)
    cardToken = AmsString(2048, ascii_only=True)
    cvv = AmsString(4, pattern=r"\d{3,4}", pattern_help="3 digits (4 for AMEX)", **DIGITS)
    expiryYear = AmsString(2, pattern=r"\d{2}", pattern_help="2 digits, e.g. \"26\"", **DIGITS)
    expiryMonth = AmsString(2, pattern=r"0[1-9]|1[0-2]", pattern_help="01 to 12", **DIGITS)
    cardholderName = AmsObject(UserNameSchema)
    billingAddress = AmsObject(AddressSchema)
    brand = AmsString(64, choices=CARD_BRANDS, ignore_case=True)
    selectedCardBrand = AmsString(64, choices=CARD_BRANDS, ignore_case=True)
    is3DSAuthentication = AmsBoolean()
    businessNo = AmsString(10)
    businessRegistrationNo = AmsString(64)
    dateOfBirth = AmsString(10, pattern=r"\d{4}-\d{2}-\d{2}", pattern_help="YYYY-MM-DD", **DIGITS)
    cardPasswordDigest = AmsString(2)
    cpf = AmsString(11, pattern=r"\d{11}", pattern_help="11 digits", **DIGITS)
    # (control characters spelled out: the OpenAPI document's pattern is ECMA-262, whose \s holds fewer)
    payerEmail = AmsString(64, pattern=r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+", pattern_help="an e-mail address")

    @validates_schema
    def _card(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        if "cardToken" not in data:
            for name in ("cardNo", "expiryYear", "expiryMonth"):
                if name not in data:
                    errors[name] = ["is required (unless card.cardToken is given)"]
        else:  # the expiry date is given whole, or taken whole from the cached card
            for name, other in (("expiryYear", "expiryMonth"), ("expiryMonth", "expiryYear")):
                if other in data and name not in data:
                    errors[name] = [f"is required with {other} (omit both to use the cached card's)"]
        errors.update(card_errors(data, "cvv"))
        if errors:
            raise ValidationError(errors)


class PaymentMethodDetailSchema(AmsSchema):
    paymentMethodType = AmsString(64, required=True, choices=("CARD",), ignore_case=True)
    card = AmsObject(CardSchema, required=True)


class BrowserInfoSchema(AmsSchema):
    acceptHeader = AmsString(2048)
    javaEnabled = AmsBoolean()
    javaScriptEnabled = AmsBoolean()
    language = AmsString(32)
    userAgent = AmsString(2048)


class EnvSchema(AmsSchema):
    terminalType = AmsString(16, required=True, choices=("WEB", "WAP", "APP", "MINI_APP"), ignore_case=True)
    osType = AmsString(16, choices=("IOS", "ANDROID"), ignore_case=True)
    userAgent = AmsString(2048)
    deviceTokenId = AmsString(64)
    clientIp = AmsString(64, ascii_only=True)
    cookieId = AmsString(64)
    browserInfo = AmsObject(BrowserInfoSchema)
    colorDepth = AmsString(4, pattern=r"\d{1,4}", pattern_help="digits", **DIGITS)
    screenHeight = AmsString(6, pattern=r"\d{1,6}", pattern_help="digits", **DIGITS)
    screenWidth = AmsString(6, pattern=r"\d{1,6}", pattern_help="digits", **DIGITS)
    timeZoneOffset = AmsInteger(-720, 720, allow_json_number=True)


class VaultPaymentMethodSchema(AmsSchema):
    vaultingRequestId = AmsString(ID, required=True, ascii_only=True)
    vaultingNotificationUrl = AmsString(URL, required=True, ascii_only=True)
    redirectUrl = AmsString(URL, required=True, ascii_only=True)
    merchantRegion = AmsString(2, **ISO_REGION)
    merchantAccountId = AmsString(64)
    metadata = AmsString(2048)
    paymentMethodDetail = AmsObject(PaymentMethodDetailSchema, required=True)
    env = AmsObject(EnvSchema, required=True)


class InquireVaultingSchema(AmsSchema):
    vaultingRequestId = AmsString(ID, required=True, ascii_only=True)
    merchantAccountId = AmsString(64)


vault_payment_method = VaultPaymentMethodSchema()
inquire_vaulting = InquireVaultingSchema()
