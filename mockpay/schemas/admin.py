"""Schemas of the admin API (/_mockpay/...), for its OpenAPI document.

An admin view documents itself with `@openapi.doc(request=..., response=...)`
using schemas from here (or its own module)."""
from __future__ import annotations

from marshmallow import Schema, fields


class AdminErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "BAD_REQUEST, NOT_FOUND, ..."})
    message = fields.String(required=True)


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
