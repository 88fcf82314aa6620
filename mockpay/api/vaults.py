"""The vaults API family: vaultPaymentMethod, inquireVaulting, createVaultingSession."""
from __future__ import annotations

from flask import Blueprint, request

from ..schemas import sessions as session_schemas
from ..schemas import responses
from ..schemas import vaulting as schemas
from ..sessions import SessionLinks
from ..vaulting import Links
from .gateway import ams_endpoint, route, services

bp = Blueprint("vaults", __name__)


def base_url() -> str:
    return services().config.public_url or request.host_url


def links() -> Links:
    return Links(base_url)


@route(bp, "/vaults/vaultPaymentMethod")
@ams_endpoint(schemas.vault_payment_method, "vaultPaymentMethod", response=responses.vault_payment_method,
              echo=("vaultingRequestId",))
def vault_payment_method(client_id, body):
    """Vault a card: store it (sealed) and answer a card token, or open a 3DS challenge."""
    return services().vaulting.vault_payment_method(client_id, body, links())


@route(bp, "/vaults/inquireVaulting")
@ams_endpoint(schemas.inquire_vaulting, "inquireVaulting", response=responses.inquire_vaulting)
def inquire_vaulting(client_id, body):
    """The status and result of an earlier vaulting request."""
    return services().vaulting.inquire(client_id, body)


# -- createVaultingSession ---------------------------------------------------------

def session_links() -> SessionLinks:
    return SessionLinks(base_url)


@route(bp, "/vaults/createVaultingSession")
@ams_endpoint(session_schemas.create_vaulting_session, "createVaultingSession",
              response=responses.create_vaulting_session)
def create_vaulting_session(client_id, body):
    """Open a session for the hosted card-binding page (normalUrl) or the client component (session data)."""
    return services().sessions.create(client_id, body, session_links())
