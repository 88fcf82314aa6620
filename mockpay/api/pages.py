"""The 3DS challenge pages that normalUrl and applinkUrl point to.

Plain server-rendered HTML that works without JavaScript, like an issuer's
ACS page: the masked card, the merchant, a one-time-code field and three
buttons. Submitting finalises the vault and sends the browser to the
merchant's redirectUrl.
"""
from __future__ import annotations

import json
import re

from flask import Blueprint, redirect, render_template

from ..clock import iso
from ..codes import FAILURE_REASONS
from ..vaulting import ChallengeError, tries
from .gateway import services

bp = Blueprint("pages", __name__)

ACTIONS = ("authenticate", "fail", "cancel")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_UNSAFE_SCHEMES = {"javascript", "data", "vbscript", "file", "about", "blob"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:",
    "Referrer-Policy": "no-referrer",
}


def redirect_target(url: str | None) -> str | None:
    """The merchant's redirectUrl if a browser can safely be sent there (an absolute
    URL: https, http, or an app's own scheme), else None."""
    if not url:
        return None
    m = _SCHEME.match(url)
    if not m or m.group(1).lower() in _UNSAFE_SCHEMES:
        return None
    if m.group(1).lower() in ("http", "https") and not url[len(m.group(0)):].startswith("//"):
        return None
    return url


def _view(vault) -> dict:
    challenge = json.loads(vault["challenge"] or "{}")
    return {
        "vault": vault,
        "merchant": vault["client_id"],
        "masked_card": vault["card_masked"],
        "brand": vault["brand"],
        "request_id": vault["vaulting_request_id"],
        "expires_at": iso(vault["challenge_expires_at"]) if vault["challenge_expires_at"] else None,
        "otp": challenge.get("otp"),
        "completed": challenge.get("completed"),
        "reason_text": FAILURE_REASONS.get(vault["vaulting_result_code"] or "", ""),
        "redirect_url": redirect_target(vault["redirect_url"]),
        "raw_redirect_url": vault["redirect_url"],
    }


def _page(template: str, status: int = 200, **context):
    return render_template(template, **context), status, _HEADERS


def _not_found():
    return _page("challenge_result.html", 404, title="Unknown verification",
                 message="There is no 3DS verification at this address.", vault=None)


def _over(vault, message: str, status: int = 200):
    return _page("challenge_result.html", status, title="Verification is over", message=message, **_view(vault))


@bp.get("/challenge/<challenge_id>")
@bp.get("/app/challenge/<challenge_id>")
def challenge_page(challenge_id: str):
    vault = services().vaulting.challenge(challenge_id)
    if vault is None:
        return _not_found()
    if vault["status"] != "PROCESSING":
        return _over(vault, "This verification is already over.")
    return _page("challenge.html", **_view(vault), error=None)


@bp.post("/challenge/<challenge_id>")
@bp.post("/app/challenge/<challenge_id>")
def challenge_submit(challenge_id: str):
    from flask import request

    action = request.form.get("action", "")
    if action not in ACTIONS:
        vault = services().vaulting.challenge(challenge_id)
        if vault is None:
            return _not_found()
        if vault["status"] != "PROCESSING":
            return _over(vault, "This verification is already over.")
        return _page("challenge.html", 400, **_view(vault), error="Choose authenticate, fail or cancel.")
    try:
        final = services().vaulting.complete_challenge(challenge_id, action, request.form.get("otp"))
    except ChallengeError as exc:
        if exc.code == "NOT_FOUND":
            return _not_found()
        if exc.code == "WRONG_CODE":
            return _page("challenge.html", 422, **_view(exc.vault),
                         error=f"That code is not correct. {tries(exc.tries_left).capitalize()} left.")
        if exc.code == "EXPIRED":
            return _over(exc.vault, "This verification expired before it was completed.")
        return _over(exc.vault, "This verification is already over.")
    target = redirect_target(final["redirect_url"])
    if target:
        return redirect(target, code=303)
    return _over(final, "Verification complete. The merchant gave no absolute redirectUrl to return to.")
