"""The hosted card-binding page at createVaultingSession's normalUrl: the mock's
stand-in for Antom's client-side vaulting component. Server-rendered HTML; the
logic is in mockpay/sessions.py.

GET  /vaulting/session?sessionData=...  exchange session data for the page (redirect)
GET  /vaulting/session/<id>             the form
POST /vaulting/session/<id>             vault the card, then redirect (challenge page or redirectUrl)
"""
from __future__ import annotations

import secrets

from flask import Blueprint, Response, redirect, render_template, request

from ..clock import iso
from ..sessions import FORM_FIELDS, SessionClosed
from .gateway import services
from .pages import redirect_target
from .vaults import session_links

bp = Blueprint("hosted", __name__)

CLOSED_STATUS = {"unknown": 404, "expired": 410, "used": 409}


def _no_store(response: Response, script_nonce: str | None = None) -> Response:
    # the form may carry back the card number the buyer typed: keep it out of caches
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    # like the 3DS page's: no script but the form's own (by its nonce), nothing loaded from
    # anywhere, so nothing injected could read the card fields. No form-action: Chromium
    # applies it to the redirect after the POST, which goes to the merchant.
    scripts = f"'nonce-{script_nonce}'" if script_nonce else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src {scripts}; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _closed(exc: SessionClosed) -> Response:
    session = exc.session
    expired_at = iso(session["expires_at"]) if session is not None else None
    html = render_template("session_closed.html", reason=exc.reason, expired_at=expired_at)
    return _no_store(Response(html, status=CLOSED_STATUS[exc.reason], content_type="text/html; charset=utf-8"))


def _form(session, values=None, errors=None, status: int = 200) -> Response:
    """The card form; `values` are what sessions.submit gives back, never the card number
    nor the CVV (the page keeps the typed number in the browser, in sessionStorage, across
    an error round-trip, masked with a pad only the open session's form carries)."""
    values = values or {}
    nonce = secrets.token_urlsafe(18)
    html = render_template("session_form.html", session_id=session["session_id"],
                           expires_at=iso(session["expires_at"]), values=values, errors=errors or {},
                           fields=FORM_FIELDS, pad=services().keyring.page_pad(session["session_id"]),
                           nonce=nonce)
    return _no_store(Response(html, status=status, content_type="text/html; charset=utf-8"), nonce)


@bp.get("/vaulting/session")
def exchange():
    sessions = services().sessions
    try:
        session_id = sessions.session_id_from_data(request.args.get("sessionData", ""))
    except SessionClosed as exc:
        return _closed(exc)
    return redirect(session_links().session_page(session_id), code=302)


@bp.get("/vaulting/session/<session_id>")
def show(session_id):
    try:
        session = services().sessions.open(session_id)
    except SessionClosed as exc:
        return _closed(exc)
    return _form(session)


@bp.post("/vaulting/session/<session_id>")
def submit(session_id):
    sessions = services().sessions
    try:
        outcome = sessions.submit(session_id, request.form.to_dict(), session_links())
    except SessionClosed as exc:
        return _closed(exc)
    if outcome.errors:
        session = sessions.store.get_session(session_id)
        if session is None:  # deleted meanwhile (POST /_mockpay/reset): the page of an unknown session
            return _closed(SessionClosed("unknown"))
        return _form(session, outcome.values, outcome.errors, status=422)
    # as the challenge page does: a redirectUrl a browser cannot open as an absolute URL (the
    # docs' sample "www.test.com" would resolve against this page) shows the result instead
    target = redirect_target(outcome.redirect)
    if target:
        return _no_store(redirect(target, code=303))
    html = render_template("session_done.html", status=outcome.vaulting_status, raw_redirect_url=outcome.redirect)
    return _no_store(Response(html, content_type="text/html; charset=utf-8"))
