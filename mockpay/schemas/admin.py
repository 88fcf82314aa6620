"""Schemas of the admin API (/_mockpay/...), for its OpenAPI document.

An admin view documents itself with `@openapi.doc(request=..., response=...)`
using schemas from here (or its own module)."""
from __future__ import annotations

from marshmallow import Schema, fields

from ..codes import API_CODES
from ..notify import STATUSES as NOTIFICATION_STATUSES
from .responses import ResultSchema, VaultedPaymentMethodDetailSchema


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
    status = fields.String(metadata={"enum": list(NOTIFICATION_STATUSES)})
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


# -- the answers of the clock, notification, scenario and challenge
# endpoints, as closed as the bodies the views build (api/admin.py, notify.Notifier._describe,
# scenarios.Rule.describe / Scenarios.catalogue, vaulting.Vaulting.describe) ----------

RESULT_STATUSES = ["S", "F", "U"]
ATTEMPT_STATES = ["scheduled", "sending", "acked", "failed", "cancelled"]


class ClockSchema(Schema):
    now = fields.String(required=True, metadata={"description": "mock time, ISO 8601 with milliseconds"})
    epoch = fields.Float(required=True, metadata={"description": "mock time, epoch seconds (3 decimals)"})
    scale = fields.Float(required=True, metadata={"description": "mock seconds per real second"})
    workerPid = fields.Integer(required=True, metadata={"description": "the worker that read the shared clock"})


class ClockAdvancedSchema(ClockSchema):
    advancedBy = fields.Float(required=True, metadata={"minimum": 0, "description": "the seconds asked for"})
    dueNotificationAttempts = fields.Integer(required=True, metadata={
        "minimum": 0, "description": "notification attempts now due (sent at once)"})


class NotifyVaultingBodySchema(Schema):
    """The notifyVaulting request mockpay sends (notify.notification_body)."""
    result = fields.Nested(ResultSchema, required=True)
    vaultingRequestId = fields.String(required=True)
    paymentMethodDetail = fields.Nested(VaultedPaymentMethodDetailSchema,
                                        metadata={"description": "when the vault is SUCCESS"})
    vaultingCreateTime = fields.String(required=True)
    metadata = fields.String()


class NotificationAttemptSchema(Schema):
    number = fields.Integer(required=True, metadata={"minimum": 1})
    scheduleIndex = fields.Integer(required=True, allow_none=True, metadata={
        "minimum": 1, "description": "1-based place in the retry schedule; null: a manual resend"})
    manual = fields.Boolean(required=True)
    state = fields.String(required=True, metadata={"enum": ATTEMPT_STATES})
    scheduledAt = fields.String(required=True)
    sentAt = fields.String(required=True, allow_none=True)
    requestTime = fields.String(required=True, allow_none=True, metadata={"description": "the header sent"})
    httpStatus = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    latencyMs = fields.Float(required=True, allow_none=True)
    response = fields.String(required=True, allow_none=True, metadata={
        "description": "the first 1024 bytes of the merchant's answer"})
    workerPid = fields.Integer(required=True, allow_none=True)


class NotificationSchema(Schema):
    id = fields.Integer(required=True)
    type = fields.String(required=True, metadata={"enum": ["notifyVaulting"]})
    clientId = fields.String(required=True)
    vaultingRequestId = fields.String(required=True)
    url = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(NOTIFICATION_STATUSES)})
    createdAt = fields.String(required=True)
    deliveredAt = fields.String(required=True, allow_none=True)
    nextAttemptAt = fields.String(required=True, allow_none=True)
    maxAttempts = fields.Integer(required=True, metadata={"minimum": 1})
    body = fields.Nested(NotifyVaultingBodySchema, required=True)
    attempts = fields.List(fields.Nested(NotificationAttemptSchema), required=True)


class NotificationListSchema(Schema):
    notifications = fields.List(fields.Nested(NotificationSchema), required=True)


class ScenarioRuleSchema(Schema):
    """A rule as the catalogue lists it (scenarios.Rule.describe)."""
    source = fields.String(required=True, metadata={"description": "the file, or client:<id> for a run-time set"})
    line = fields.Integer(required=True)
    name = fields.String(required=True, allow_none=True)
    api = fields.String(required=True, metadata={"enum": sorted(API_CODES)})
    description = fields.String(required=True, allow_none=True)
    match = fields.String(required=True, metadata={"description": "the conditions, in words"})
    matchSpec = fields.Dict(required=True, metadata={"description": "match: as written"})
    cards = fields.List(fields.String(), required=True)
    outcome = fields.String(required=True, metadata={"description": "the outcome, in words"})
    resultStatus = fields.String(required=True, allow_none=True, metadata={
        "enum": RESULT_STATUSES + [None], "description": "null for a sequence"})
    resultCode = fields.String(required=True, allow_none=True, metadata={"description": "null for a sequence"})
    sequence = fields.List(fields.Dict(), required=True, allow_none=True)
    spec = fields.Dict(required=True, allow_none=True, metadata={"description": "outcome: as written"})


class ScenarioDefaultSchema(Schema):
    resultStatus = fields.String(required=True, metadata={"enum": RESULT_STATUSES})
    resultCode = fields.String(required=True)
    outcome = fields.String(required=True)
    rule = fields.String(required=True)


class ScenarioCatalogueSchema(Schema):
    sources = fields.List(fields.String(), required=True)
    rules = fields.List(fields.Nested(ScenarioRuleSchema), required=True, metadata={
        "description": "in the order they are tried"})
    default = fields.Nested(ScenarioDefaultSchema, required=True)


class ScenarioResetResultSchema(Schema):
    reset = fields.Integer(required=True, metadata={"minimum": 0, "description": "sequence counts dropped"})


class ClientScenariosLoadedSchema(Schema):
    clientId = fields.String(required=True)
    rules = fields.List(fields.Nested(ScenarioRuleSchema), required=True)
    default = fields.Dict(required=True, allow_none=True, metadata={"description": "default: as written"})


class ClientScenariosSchema(ClientScenariosLoadedSchema):
    source = fields.String(required=True, metadata={"description": "the text as it was PUT"})
    updatedAt = fields.String(required=True)


class ClientScenariosDeletedSchema(Schema):
    clientId = fields.String(required=True)
    deleted = fields.Boolean(required=True, metadata={"description": "false: the client had no set"})


class CompletedChallengeSchema(Schema):
    """The vault once its challenge is over: inquireVaulting's answer, with clientId and redirectUrl."""
    result = fields.Nested(ResultSchema, required=True)
    vaultingRequestId = fields.String(required=True)
    vaultingStatus = fields.String(required=True, metadata={"enum": ["SUCCESS", "FAIL"]})
    vaultingResultCode = fields.String(required=True, allow_none=True)
    vaultingResultMessage = fields.String(required=True, allow_none=True)
    paymentMethodDetail = fields.Nested(VaultedPaymentMethodDetailSchema,
                                        metadata={"description": "when vaultingStatus is SUCCESS"})
    metadata = fields.String()
    clientId = fields.String(required=True)
    redirectUrl = fields.String(required=True, allow_none=True)
