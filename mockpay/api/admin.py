"""The admin API under /_mockpay/: JSON in, JSON out, errors as
{"error": {"code", "message"}} with a 4xx status."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import openapi
from ..clients import ClientError
from ..schemas import admin as admin_schemas
from .gateway import services

bp = Blueprint("admin", __name__, url_prefix="/_mockpay")


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(AdminError)
def _admin_error(exc: AdminError):
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status


def json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise AdminError(400, "BAD_REQUEST", "the body must be a JSON object")
    return data


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
    data = json_body()
    public_key = data.get("publicKey")
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
