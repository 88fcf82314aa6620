"""The paymentMethods API family: cacheCard."""
from __future__ import annotations

from flask import Blueprint

from ..schemas import payment_methods as schemas
from ..schemas import responses
from .gateway import ams_endpoint, route, services

bp = Blueprint("payment_methods", __name__)


@route(bp, "/paymentMethods/cacheCard")
@ams_endpoint(schemas.cache_card, "cacheCard", response=responses.cache_card)
def cache_card(client_id, body):
    """Exchange card data for a temporary token that vaultPaymentMethod takes once."""
    return services().card_tokens.cache_card(client_id, body)
