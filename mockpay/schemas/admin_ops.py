"""Schemas of the journal, vaults and reset admin endpoints (issue 6, dx-ops),
for the OpenAPI document. The views validate their input themselves."""
from __future__ import annotations

from marshmallow import Schema, fields

from ..state import VAULT_STATUSES
from .responses import ResultSchema


def _s(description: str, **kwargs) -> fields.String:
    return fields.String(metadata={"description": description}, **kwargs)


# -- GET /_mockpay/requests ----------------------------------------------------------

class RequestsQuerySchema(Schema):
    clientId = _s("only calls with this client-id header")
    path = _s("only calls to this path; a GLOB pattern when it holds * (*/vaults/vaultPaymentMethod)")
    api = _s("only calls to this API: vaultPaymentMethod, inquireVaulting, ...")
    vaultingRequestId = _s("only calls about this vaultingRequestId (request or answer)")
    resultCode = _s("only calls answered with this result code")
    limit = fields.Integer(metadata={"minimum": 1, "maximum": 1000, "description": "default 100, newest first"})
    before = fields.Integer(metadata={"minimum": 0, "maximum": 2 ** 62,
                                      "description": "only entries with a smaller id (the next page); 0: none"})


class JournalEntrySchema(Schema):
    id = fields.Integer(required=True)
    time = _s("mock time of the answer, ISO 8601 with milliseconds", required=True)
    clientId = _s("the client-id header as received", required=True, allow_none=True)
    method = fields.String(required=True)
    path = fields.String(required=True)
    api = _s("null for a path that is no API", required=True, allow_none=True)
    vaultingRequestId = fields.String(required=True, allow_none=True)
    httpStatus = fields.Integer(required=True)
    resultStatus = fields.String(required=True, allow_none=True)
    resultCode = fields.String(required=True, allow_none=True)
    fault = _s("the scenario fault applied (http_500, drop, timeout, ...)", required=True, allow_none=True)
    latencyMs = fields.Float(required=True)
    request = fields.Raw(required=True, allow_none=True, metadata={
        "description": "the request body; card numbers masked to first six and last four, CVV removed"})
    response = fields.Raw(required=True, allow_none=True, metadata={"description": "the answer body, masked"})


class NextPageSchema(Schema):
    before = fields.Integer(required=True)


class JournalSchema(Schema):
    requests = fields.List(fields.Nested(JournalEntrySchema), required=True)
    next = fields.Nested(NextPageSchema, metadata={"description": "present when a full page came back"})


# -- GET /_mockpay/vaults[/<vaultingRequestId>] --------------------------------------

class VaultsQuerySchema(Schema):
    clientId = _s("only this client's vaults")
    status = _s("SUCCESS, FAIL or PROCESSING")
    limit = fields.Integer(metadata={"minimum": 1, "maximum": 1000, "description": "default 100, newest first"})
    offset = fields.Integer(metadata={"minimum": 0, "maximum": 2 ** 31, "description": "default 0"})


class VaultQuerySchema(Schema):
    clientId = _s("whose vault, when several clients used the vaultingRequestId")


class VaultCardSchema(Schema):
    masked = _s("first six and last four digits", required=True, allow_none=True)
    brand = fields.String(required=True, allow_none=True)
    fingerprint = fields.String(required=True, allow_none=True)


class ChallengeSchema(Schema):
    id = fields.String(required=True)
    expiresAt = fields.String(required=True, allow_none=True)
    urls = fields.Raw(required=True, allow_none=True)


class VaultSchema(Schema):
    clientId = fields.String(required=True)
    vaultingRequestId = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(VAULT_STATUSES)})
    result = fields.Nested(ResultSchema, required=True)
    vaultingResultCode = fields.String(required=True, allow_none=True)
    vaultingResultMessage = fields.String(required=True, allow_none=True)
    source = fields.String(required=True, metadata={
        "enum": ["api", "session"], "description": "api (vaultPaymentMethod) or session (the hosted page)"})
    card = fields.Nested(VaultCardSchema, required=True)
    cardToken = fields.String(required=True, allow_none=True)
    paymentMethodDetail = fields.Raw(required=True, allow_none=True,
                                     metadata={"description": "as inquireVaulting reports it"})
    notificationUrl = fields.String(required=True, allow_none=True)
    redirectUrl = fields.String(required=True, allow_none=True)
    metadata = fields.String(required=True, allow_none=True)
    challenge = fields.Nested(ChallengeSchema, required=True, allow_none=True)
    createdAt = fields.String(required=True)
    updatedAt = fields.String(required=True)


class VaultListSchema(Schema):
    vaults = fields.List(fields.Nested(VaultSchema), required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


# -- POST /_mockpay/reset --------------------------------------------------------------

class ResetRequestSchema(Schema):
    clientId = fields.String(metadata={"minLength": 1, "description": "reset only this client; without it "
                                                                      "(or with no body) everything is reset"})


class ResetSchema(Schema):
    reset = _s('"all" or the client id', required=True)
    deleted = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                          metadata={"description": "rows deleted per table"})
