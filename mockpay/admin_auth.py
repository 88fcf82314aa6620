"""The admin token that guards /_mockpay/ (admin API and dashboard).

- Listening on a loopback address (127.0.0.0/8, ::1, localhost) without a token:
  the admin API is open, as it is for a developer's own machine.
- Listening on anything else: a token is required (MOCKPAY_ADMIN_TOKEN);
  without one the server refuses to start (check_bind).
- With a token set, it is required whatever the address.

A request presents the token in one of three ways:
- `Authorization: Bearer <token>`: for scripts and CI;
- the `mockpay_admin_token` cookie: for browsers;
- `?token=<token>` on any /_mockpay/ URL: for opening the dashboard in a
  browser. A valid query token sets the cookie (HttpOnly, SameSite=Strict,
  Path=/_mockpay); a GET from a browser (Accept: text/html) is then redirected
  to the same URL without the token, so it does not linger in the history.

/_mockpay/health stays open: Docker's healthcheck and load balancers call it.

Token or not, a browser request from another site's page may not change anything
under /_mockpay/ (a form on any web page could otherwise reset the mock): a POST,
PUT, PATCH or DELETE whose Sec-Fetch-Site is not same-origin, or whose Origin is
another origin or "null", is refused 403. Scripts, the CLI and the SDK send neither
header and are not affected.
"""
from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, abort, after_this_request, jsonify, redirect, request

PREFIX = "/_mockpay"            # the admin API, its OpenAPI document and docs
UI_PREFIX = PREFIX + "/ui"      # the dashboard's HTML pages
OPEN_PATHS = {PREFIX + "/health"}
COOKIE = "mockpay_admin_token"
QUERY = "token"
ENV = "MOCKPAY_ADMIN_TOKEN"


class AdminTokenMissing(ValueError):
    pass


def is_loopback(host: str) -> bool:
    host = (host or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or "": it may be reachable from elsewhere


def check_bind(config) -> None:
    """Refuse a non-loopback listener without an admin token."""
    if config.admin_token or is_loopback(config.host):
        return
    raise AdminTokenMissing(
        f"refusing to listen on {config.host or 'all addresses'} without an admin token: anyone who can reach "
        f"it could read and reset the mock's state through /_mockpay/. Set {ENV} to a secret (the admin API "
        f"then needs 'Authorization: Bearer <token>'), or listen on 127.0.0.1.")


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def is_admin_path(path: str) -> bool:
    """Anything under /_mockpay, the dashboard included."""
    return under(path, PREFIX)


def is_admin_json_path(path: str) -> bool:
    """/_mockpay/... except the dashboard's HTML pages: errors there are JSON."""
    return under(path, PREFIX) and not under(path, UI_PREFIX)


def _unauthorized(message: str) -> Response:
    response = jsonify({"error": {"code": "UNAUTHORIZED", "message": message}})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="mockpay admin"'
    return response


def presented_token() -> tuple[str | None, str | None]:
    """(token, where it came from: header | cookie | query)."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), "header"
    if request.args.get(QUERY):
        return request.args[QUERY], "query"
    if request.cookies.get(COOKIE):
        return request.cookies[COOKIE], "cookie"
    return None, None


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_cross_site() -> bool:
    """A browser request that another site's page sent (Fetch metadata, else Origin)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    try:
        return origin == "null" or urlsplit(origin).netloc != request.host
    except ValueError:  # not a URL at all ("http://[", an unclosed IPv6 address): not this server's origin
        return True


def init_app(app: Flask, token: str) -> None:
    @app.before_request
    def _same_site_changes_only():
        if request.method not in SAFE_METHODS and is_admin_path(request.path) and is_cross_site():
            abort(403, description="a page on another site may not change mockpay's state")

    if not token:
        return
    expected = token.encode()

    @app.before_request
    def _require_admin_token():
        path = request.path
        if not is_admin_path(path) or path in OPEN_PATHS:
            return None
        given, source = presented_token()
        if given is None:
            return _unauthorized(f"the admin API needs the admin token ({ENV}): send "
                                 "'Authorization: Bearer <token>', or open the URL once with ?token=<token>")
        if not hmac.compare_digest(given.encode(), expected):
            return _unauthorized("the admin token is wrong")
        if source != "query":
            return None
        secure = request.is_secure
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != QUERY]
            response = redirect(path + ("?" + urlencode(rest) if rest else ""), code=303)
            _set_cookie(response, token, secure)
            return response

        @after_this_request
        def _remember(response):
            _set_cookie(response, token, secure)
            return response

        return None


def _set_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(COOKIE, token, path=PREFIX, httponly=True, samesite="Strict", secure=secure)
