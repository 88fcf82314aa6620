"""Schemas of the admin API (/_mockpay/...), for its OpenAPI document.

An admin view documents itself with `@openapi.doc(request=..., response=...)`
using schemas from here (or its own module)."""
from __future__ import annotations

from marshmallow import Schema, fields


class AdminErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "BAD_REQUEST, NOT_FOUND, ..."})
    message = fields.String(required=True)
    details = fields.Raw(metadata={"description": "some errors add details: the list of problems in a "
                                                  "scenario file, or the vault a challenge belongs to"})


class AdminErrorSchema(Schema):
    """Every admin API error: a 4xx status and this body."""
    error = fields.Nested(AdminErrorDetailSchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


class NewClientSchema(Schema):
    clientId = fields.String(required=True, metadata={
        "maxLength": 64, "pattern": "^[A-Za-z0-9_.:\\-]{1,64}$",
        "description": "SANDBOX_... makes the SDK call /ams/sandbox/api"})
    publicKey = fields.String(metadata={
        "description": "the merchant's RSA public key (base64 X.509 SubjectPublicKeyInfo, or PEM); "
                       "omit it to have mockpay generate a key pair"})


class ClientSchema(Schema):
    clientId = fields.String(required=True)
    publicKey = fields.String(required=True, allow_none=True,
                              metadata={"description": "the merchant's public key; null: KEY_NOT_FOUND"})
    alipayPublicKey = fields.String(required=True, metadata={
        "description": "mockpay's public key: DefaultAlipayClient's alipay_public_key"})
    createdAt = fields.String(required=True)
    merchantPrivateKey = fields.String(metadata={
        "description": "only for key pairs mockpay generated: DefaultAlipayClient's merchant_private_key"})


class ClientListSchema(Schema):
    clients = fields.List(fields.Nested(ClientSchema), required=True)


# -- proof (issue 7): the bodies and queries of the clock, notification and scenario
# endpoints, documented so that the OpenAPI document (and the fuzzer that reads it,
# tests/integration/test_fuzz.py) covers what these endpoints accept --------------------

class ClockAdvanceSchema(Schema):
    seconds = fields.Float(required=True, metadata={
        "minimum": 0, "description": "how far to move the mock clock forward (it never moves back)"})


class NotificationsQuerySchema(Schema):
    status = fields.String(metadata={"enum": ["pending", "delivered", "given_up"]})
    vaultingRequestId = fields.String()
    clientId = fields.String()
    limit = fields.Integer(metadata={"minimum": 1, "maximum": 1000, "description": "default 100"})
    offset = fields.Integer(metadata={"minimum": 0, "maximum": 2 ** 31, "description": "default 0"})


class ScenarioResetSchema(Schema):
    clientId = fields.String(metadata={"description": "restart this client's sequences only; omit for all"})


class ScenarioFileSchema(Schema):
    """A scenario file: the YAML text of one, or the same as JSON."""
    rules = fields.List(fields.Dict(), metadata={"description": "tried in order; the first match wins"})
    default = fields.Dict(metadata={"description": "the outcome when no rule matches"})


class CompleteChallengeSchema(Schema):
    outcome = fields.String(required=True, metadata={"enum": ["success", "fail", "cancel"]})
    clientId = fields.String(metadata={"description": "needed when several clients used the vaultingRequestId"})
    otp = fields.String(metadata={"description": "the one-time code the scenario set, checked when given"})
