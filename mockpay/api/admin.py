"""The admin API under /_mockpay/: JSON in, JSON out, errors as
{"error": {"code", "message"}} with a 4xx status."""
from __future__ import annotations

import math
import os

from flask import Blueprint, jsonify, request

from .. import openapi
from ..admin_auth import PREFIX
from ..cards import redact_card_numbers
from ..clients import ClientError
from ..clock import iso
from ..crypto import ca_path
from ..notify import STATUSES, NotFound
from ..scenarios import ScenarioError
from ..schemas import admin as admin_schemas
from ..schemas import admin_ops as ops_schemas
from ..state import StateError
from ..text import lone_surrogate_at
from ..vaulting import ChallengeError
from .gateway import services

bp = Blueprint("admin", __name__, url_prefix=PREFIX)


class AdminError(Exception):
    """An admin API error; `details` (a list of problems, or the vault) goes in error.details."""

    def __init__(self, status: int, code: str, message: str, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


@bp.errorhandler(AdminError)
def _admin_error(exc: AdminError):
    body = {"error": {"code": exc.code, "message": exc.message}}
    if exc.details is not None:
        body["error"]["details"] = exc.details
    return jsonify(body), exc.status


def json_body(schema: type | None = None) -> dict:
    """The request's JSON object; 400 for anything else. With `schema` (the one the OpenAPI
    document declares for the body), a field it does not declare is refused, so that a
    typo ("otpp") is an error rather than a silently different call."""
    if not request.is_json:
        got = redact_card_numbers(request.mimetype[:100]) or "none"  # a header: never echo a card number
        raise AdminError(400, "BAD_REQUEST", f"content-type must be application/json (got {got})")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise AdminError(400, "BAD_REQUEST", "the body nests arrays or objects too deeply") from None
    if not isinstance(data, dict):
        raise AdminError(400, "BAD_REQUEST", "the body must be a JSON object")
    found = lone_surrogate_at(data)
    if found is not None:  # (keys are the sender's: never echo a card number, nor a huge key)
        where = _admin_path(*found)
        raise AdminError(400, "BAD_REQUEST", f"{redact_card_numbers(where)[:120]} is not valid Unicode: it holds "
                                             "a lone surrogate (a \\ud800-\\udfff escape without its pair)")
    if schema is not None:
        known = tuple(schema._declared_fields)
        unknown = sorted(set(data) - set(known))
        if unknown:
            name = redact_card_numbers(unknown[0])[:64]  # (the sender's key: never echo a card number)
            raise AdminError(400, "BAD_REQUEST", f"unknown field {name!r}; the body takes {', '.join(known)}")
    return data


def _admin_path(path: tuple, in_key: bool) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "the body"
    return f"a key of {where}" if in_key else where


def json_body_or_empty(schema: type | None = None) -> dict:
    """{} for no body at all; otherwise json_body(), so a broken body is a 400, never "everything"."""
    return {} if not request.get_data(cache=True).strip() else json_body(schema)


def optional_string(data: dict, name: str) -> str | None:
    """data[name] when it is a string, None when absent or null; 400 otherwise."""
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise AdminError(400, "BAD_REQUEST", f"{name} must be a string")
    return value


@bp.get("/health")
@openapi.doc(response=admin_schemas.HealthSchema)
def health():
    """Health: the server answers and its database too (the Docker healthcheck)."""
    svc = services()
    svc.store.clock_state()  # the database answers
    return jsonify({"status": "ok"})


@bp.post("/clients")
@openapi.doc(request=admin_schemas.NewClientSchema, response=admin_schemas.ClientSchema, status=201)
def add_client():
    """Register a merchant client (or replace its key); without publicKey, mockpay generates the key pair."""
    data = json_body(admin_schemas.NewClientSchema)
    public_key = optional_string(data, "publicKey")
    try:
        client = services().clients.add(data.get("clientId"), public_key=public_key, generate=public_key is None)
    except ClientError as exc:
        raise AdminError(400, "BAD_REQUEST", str(exc)) from None
    return jsonify(client), 201


@bp.get("/clients")
@openapi.doc(response=admin_schemas.ClientListSchema)
def list_clients():
    """The registered clients."""
    clients = services().clients
    return jsonify({"clients": [clients.describe(row) for row in clients.list()]})


@bp.get("/clients/<client_id>")
@openapi.doc(response=admin_schemas.ClientSchema)
def get_client(client_id):
    """One client, with its merchant private key when mockpay generated it."""
    clients = services().clients
    row = clients.get(client_id)
    if row is None:
        raise AdminError(404, "NOT_FOUND", f"no client {client_id!r}")
    return jsonify(clients.describe(row, with_private_key=bool(row["merchant_private_key"])))


# -- the mock clock and the notification outbox ------------------------------------------

def _clock_json(clock, now: float) -> dict:
    # workerPid (proof, issue 7): which gunicorn worker read the shared clock
    return {"now": iso(now), "epoch": round(now, 3), "scale": clock.scale, "workerPid": os.getpid()}


@bp.get("/clock")
@openapi.doc(response=admin_schemas.ClockSchema)
def clock_show():
    """The mock clock: now, as ISO 8601 and epoch seconds, and its scale."""
    clock = services().clock
    return jsonify(_clock_json(clock, clock.now()))


@bp.post("/clock/advance")
@openapi.doc(request=admin_schemas.ClockAdvanceSchema, response=admin_schemas.ClockAdvancedSchema)
def clock_advance():
    """Move the mock clock forward (every worker sees it); what falls due is sent at once."""
    seconds = json_body(admin_schemas.ClockAdvanceSchema).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        seconds = math.nan  # a JSON string, boolean or null: the clock refuses it, in its own words
    svc = services()
    try:
        now = svc.advance_clock(seconds)
    except ValueError as exc:  # not a number >= 0, or past the latest time the clock can show
        raise AdminError(400, "BAD_REQUEST", str(exc)) from None
    due = svc.store.count_due_attempts(now)
    return jsonify({**_clock_json(svc.clock, now), "advancedBy": seconds, "dueNotificationAttempts": due})


def _notification_or_404(notification_id: int) -> dict:
    try:
        return services().notifier.get(notification_id)
    except NotFound:
        raise AdminError(404, "NOT_FOUND", f"no notification {notification_id}") from None


@bp.get("/notifications")
@openapi.doc(query=admin_schemas.NotificationsQuerySchema, response=admin_schemas.NotificationListSchema)
def list_notifications():
    """notifyVaulting messages, newest first, each with its attempts."""
    status = query_str("status")
    if status is not None and status not in STATUSES:
        raise AdminError(400, "BAD_REQUEST", f"status must be one of {', '.join(STATUSES)}")
    # (SQLite takes 64-bit integers at most)
    limit, offset = query_int("limit", 100, 1, 1000), query_int("offset", 0, 0, 2 ** 31)
    found = services().notifier.list(vaulting_request_id=query_str("vaultingRequestId"),
                                     client_id=query_str("clientId"), status=status, limit=limit, offset=offset)
    return jsonify({"notifications": found})


# (an id beyond SQLite's 64-bit integers is the Notifier's NotFound, as any unknown id)
NOTIFICATION_ID = "<int:notification_id>"


@bp.get(f"/notifications/{NOTIFICATION_ID}")
@openapi.doc(response=admin_schemas.NotificationSchema)
def get_notification(notification_id):
    """One notification and its attempts."""
    return jsonify(_notification_or_404(notification_id))


@bp.post(f"/notifications/{NOTIFICATION_ID}/resend")
@openapi.doc(response=admin_schemas.NotificationSchema, status=202)
def resend_notification(notification_id):
    """Send a notification once more, now, outside its schedule."""
    svc = services()
    try:
        notification = svc.notifier.resend(notification_id)
    except NotFound:
        raise AdminError(404, "NOT_FOUND", f"no notification {notification_id}") from None
    svc.dispatcher.wake()
    return jsonify(notification), 202


# -- scenarios and 3DS challenges -----------------------------------------------------

@bp.get("/scenarios")
@openapi.doc(response=admin_schemas.ScenarioCatalogueSchema)
def scenario_catalogue():
    """The rules in the order they are tried; ?clientId= puts that client's run-time set first."""
    client_id = request.args.get("clientId")
    return jsonify(services().scenarios.catalogue(client_id))


@bp.post("/scenarios/reset")
@openapi.doc(request=admin_schemas.ScenarioResetSchema, response=admin_schemas.ScenarioResetResultSchema)
def scenario_reset():
    """Restart sequences: {"clientId": ...} for one client, {} for all."""
    client_id = optional_string(json_body_or_empty(admin_schemas.ScenarioResetSchema), "clientId")
    return jsonify({"reset": services().scenarios.reset_state(client_id)})


def _known_client(client_id: str) -> None:
    if services().clients.get(client_id) is None:
        raise AdminError(404, "NOT_FOUND", f"no client {client_id!r}")


@bp.put("/clients/<client_id>/scenarios")
@openapi.doc(request=admin_schemas.ScenarioFileSchema, response=admin_schemas.ClientScenariosLoadedSchema)
def put_client_scenarios(client_id):
    """Load a rule set (the YAML of a scenario file, or the same as JSON) for this client id only."""
    _known_client(client_id)
    text = request.get_data(as_text=True)
    if not text.strip():
        raise AdminError(400, "BAD_REQUEST", "the body must be a scenario file (YAML or JSON)")
    svc = services()
    try:
        compiled = svc.scenarios.put_client_set(client_id, text, svc.clock.now())
    except ScenarioError as exc:
        raise AdminError(400, "INVALID_SCENARIOS", str(exc), [str(i) for i in exc.issues]) from None
    return jsonify({"clientId": client_id, "rules": [r.describe() for r in compiled.rules],
                    "default": compiled.default_spec})


@bp.get("/clients/<client_id>/scenarios")
@openapi.doc(response=admin_schemas.ClientScenariosSchema)
def get_client_scenarios(client_id):
    """The rule set loaded for this client id: the text as it was PUT, and its rules."""
    svc = services()
    row = svc.store.get_scenario_set(client_id)
    if row is None:
        raise AdminError(404, "NOT_FOUND", f"no scenario set for client {client_id!r}")
    compiled = svc.scenarios.client_set(client_id)
    return jsonify({"clientId": client_id, "source": svc.scenarios.client_text(client_id),
                    "updatedAt": iso(row["updated_at"]),
                    "rules": [r.describe() for r in compiled.rules], "default": compiled.default_spec})


@bp.delete("/clients/<client_id>/scenarios")
@openapi.doc(response=admin_schemas.ClientScenariosDeletedSchema)
def delete_client_scenarios(client_id):
    """Drop this client's rule set (and its sequence counts); the server's rules apply again."""
    return jsonify({"clientId": client_id, "deleted": services().scenarios.delete_client_set(client_id)})


COMPLETE_ACTIONS = {"success": "authenticate", "fail": "fail", "cancel": "cancel"}


@bp.post("/vaults/<path:vaulting_request_id>/complete")
@openapi.doc(request=admin_schemas.CompleteChallengeSchema, response=admin_schemas.CompletedChallengeSchema)
def complete_vault_challenge(vaulting_request_id):
    """Finish an open 3DS challenge without a browser:
    {"outcome": "success" | "fail" | "cancel", "clientId": optional, "otp": optional}."""
    data = json_body(admin_schemas.CompleteChallengeSchema)
    outcome = data.get("outcome")
    if not isinstance(outcome, str) or outcome not in COMPLETE_ACTIONS:  # a list or object is unhashable
        raise AdminError(400, "BAD_REQUEST", 'outcome must be "success", "fail" or "cancel"')
    client_id = optional_string(data, "clientId")
    optional_string(data, "otp")
    svc = services()
    svc.vaulting.expire_challenges()
    vaults = [v for v in svc.store.find_vaults(vaulting_request_id) if client_id in (None, v["client_id"])]
    if not vaults:
        raise AdminError(404, "NOT_FOUND", f"no vault {vaulting_request_id!r}"
                         + (f" for client {client_id!r}" if client_id else ""))
    if len(vaults) > 1:
        raise AdminError(409, "AMBIGUOUS", f"{len(vaults)} clients used vaultingRequestId {vaulting_request_id!r}; "
                                           "give clientId")
    vault = vaults[0]
    if not vault["challenge_id"]:
        raise AdminError(409, "NO_CHALLENGE", f"vault {vaulting_request_id!r} has no 3DS challenge "
                                              f"(it is {vault['status']})")
    try:
        final = svc.vaulting.complete_challenge(vault["challenge_id"], COMPLETE_ACTIONS[outcome],
                                                otp=data.get("otp"), check_otp="otp" in data)
    except ChallengeError as exc:
        details = svc.vaulting.describe(exc.vault) if exc.vault is not None else None
        raise AdminError(422 if exc.code == "WRONG_CODE" else 409, exc.code, exc.message, details) from None
    body = svc.vaulting.describe(final)
    body["clientId"] = final["client_id"]
    body["redirectUrl"] = final["redirect_url"]
    return jsonify(body)
# -- request journal, vaults, reset (issue 6, dx-ops) ------------------------------

def query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AdminError(400, "BAD_REQUEST", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise AdminError(400, "BAD_REQUEST", f"{name} must be between {low} and {high}")
    return value


def query_str(name: str) -> str | None:
    value = request.args.get(name)
    return value if value else None


@bp.get("/requests")
@openapi.doc(query=ops_schemas.RequestsQuerySchema, response=ops_schemas.JournalSchema)
def list_requests():
    """The request journal, newest first. Filters: clientId, path (exact, or a
    GLOB pattern with *), api, vaultingRequestId, resultCode; paging: limit, before (an id)."""
    limit = query_int("limit", 100, 1, 1000)
    before = query_int("before", 0, 0, 2 ** 62) or None
    entries = services().journal.entries(
        client_id=query_str("clientId"), path=query_str("path"), api=query_str("api"),
        vaulting_request_id=query_str("vaultingRequestId"), result_code=query_str("resultCode"),
        before=before, limit=limit)
    out = {"requests": entries}
    if len(entries) == limit:
        out["next"] = {"before": entries[-1]["id"]}
    return jsonify(out)


STATE_ERROR_STATUS = {"NOT_FOUND": 404, "CONFLICT": 409, "BAD_REQUEST": 400}


@bp.errorhandler(StateError)
def _state_error(exc: StateError):
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), STATE_ERROR_STATUS.get(exc.code, 400)


@bp.get("/vaults")
@openapi.doc(query=ops_schemas.VaultsQuerySchema, response=ops_schemas.VaultListSchema)
def list_vaults():
    """Vaults, newest first, with the masked card only. Filters: clientId, status; paging: limit, offset."""
    limit = query_int("limit", 100, 1, 1000)
    offset = query_int("offset", 0, 0, 2 ** 31)
    vaults = services().state.vaults(client_id=query_str("clientId"), status=query_str("status"),
                                     limit=limit, offset=offset)
    return jsonify({"vaults": vaults, "limit": limit, "offset": offset})


@bp.get("/vaults/<path:vaulting_request_id>")
@openapi.doc(query=ops_schemas.VaultQuerySchema, response=ops_schemas.VaultSchema)
def get_vault(vaulting_request_id):
    """One vault by vaultingRequestId (409 when several clients used it and none is named)."""
    return jsonify(services().state.vault(vaulting_request_id, client_id=query_str("clientId")))


@bp.post("/reset")
@openapi.doc(request=ops_schemas.ResetRequestSchema, response=ops_schemas.ResetSchema)
def reset():
    """Delete recorded state: everything (no body, or {}) or one client's ({"clientId": ...})."""
    data = json_body_or_empty(ops_schemas.ResetRequestSchema)
    client_id = data.get("clientId")
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise AdminError(400, "BAD_REQUEST", "clientId must be a non-empty string")
    return jsonify(services().state.reset(client_id))


@bp.get("/ca.pem")
@openapi.doc(content_type="application/x-pem-file")
def ca_certificate():
    """The local CA that issued the HTTPS certificate, for clients to trust (public, not a secret)."""
    from flask import Response
    path = ca_path(services().config.data_dir)
    if not path.exists():
        raise AdminError(404, "NOT_FOUND", "this server has no TLS CA yet (start it with --tls or --https-port)")
    return Response(path.read_bytes(), content_type="application/x-pem-file")
