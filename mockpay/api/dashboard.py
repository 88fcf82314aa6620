"""The dashboard: server-rendered HTML pages at /_mockpay/ui (issue 6, part 3).

Plain Jinja templates (`templates/dashboard_*.html`, autoescaped), a little inline
CSS, no JavaScript and nothing fetched from another host. The views are thin: they
read from the domain (vaulting, notifier, scenarios, clock) and the store, and the
two forms (advance the clock, resend a notification) call the same domain code as
the admin API, then redirect (Post/Redirect/Get).

Card data: only the stored `card_masked` column (first six and last four digits)
is ever shown; the sealed card number is never opened here.
"""
from __future__ import annotations

import json
import math
from urllib.parse import quote

from flask import Blueprint, redirect, render_template, request, url_for

from ..admin_auth import UI_PREFIX
from ..clock import iso
from ..notify import STATUSES as NOTIFICATION_STATUSES, NotFound
from ..state import VAULT_STATUSES
from .admin import NOTIFICATION_ID
from .gateway import services

bp = Blueprint("dashboard", __name__, url_prefix=UI_PREFIX)

LIST_LIMIT = 200
QUICK_ADVANCE = ((60, "+1 minute"), (3600, "+1 hour"), (86400, "+1 day"))
_HEADERS = {
    "Cache-Control": "no-store",
    # nothing but this server: no scripts at all, inline styles, forms post back here only
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    # the dashboard's own forms then send their Origin (admin_auth refuses other sites')
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


@bp.app_template_filter("mock_time")
def _mock_time(epoch):
    """Mock epoch seconds as ISO 8601 (mockpay.clock.iso); '' for None."""
    return "" if epoch is None else iso(epoch)


def _page(template: str, http_status: int = 200, /, **context):
    context.setdefault("now", services().clock.now())
    return render_template(template, **context), http_status, _HEADERS


def _local_target(value: str | None, default: str) -> str:
    """Where to go back to after a form: a path on this dashboard only."""
    if value and value.startswith(bp.url_prefix + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


# -- vaults --------------------------------------------------------------------------

@bp.get("/")
def index():
    return redirect(url_for("dashboard.vaults"))


@bp.get("/vaults")
def vaults():
    svc = services()
    svc.vaulting.expire_challenges()  # challenges left open past their time are failed first
    client_id = request.args.get("clientId", "").strip() or None
    status = request.args.get("status", "").strip() or None
    error = None
    if status is not None and status not in VAULT_STATUSES:
        error, status = f"status must be one of {', '.join(VAULT_STATUSES)}", None
    rows = svc.store.list_vaults(client_id=client_id, status=status, limit=LIST_LIMIT)
    return _page("dashboard_vaults.html", 400 if error else 200, active="vaults", vaults=rows,
                 clients=[c["client_id"] for c in svc.store.list_clients()], statuses=VAULT_STATUSES,
                 client_id=client_id or "", status=status or "", error=error, limit=LIST_LIMIT)


@bp.get("/vault")
def vault():
    """One vault's timeline: ?clientId=...&vaultingRequestId=... (query parameters, so
    that any request id, slashes included, has a link)."""
    svc = services()
    client_id = request.args.get("clientId", "")
    request_id = request.args.get("vaultingRequestId", "")
    row = svc.store.get_vault(client_id, request_id)
    if row is None:
        return _page("dashboard_missing.html", 404, active="vaults",
                     message=f"No vault {request_id!r} for client {client_id!r}.")
    row = svc.vaulting.expire_if_due(row)
    notifications = svc.notifier.list(vaulting_request_id=request_id, client_id=client_id, limit=LIST_LIMIT)
    challenge = json.loads(row["challenge"] or "null")
    return _page("dashboard_vault.html", active="vaults", vault=row,
                 events=timeline(row, challenge, notifications))


def challenge_page(challenge_id: str) -> str:
    """The buyer's challenge page on this server (the normalUrl path, see vaulting.Links)."""
    return f"{request.script_root}/challenge/{quote(challenge_id, safe='')}"


def timeline(vault, challenge: dict | None, notifications: list[dict]) -> list[dict]:
    """The vault's events, oldest first: the request, the 3DS challenge, and every
    notification attempt. Each event: at (ISO time), what, detail, state, link."""
    created = iso(vault["created_at"])
    events = [{"at": created, "what": "Vault requested",
               "detail": f"via {'createVaultingSession' if vault['source'] == 'session' else 'vaultPaymentMethod'}"
                         f"; answered {vault['result_code'] if not challenge else 'VERIFICATION_IN_PROCESS'}",
               "state": "", "link": None}]
    if challenge is not None:
        completed = challenge.get("completed")
        open_ = vault["status"] == "PROCESSING"
        events.append({"at": created, "what": "3DS challenge opened",
                       "detail": f"expires {_mock_time(vault['challenge_expires_at'])}"
                                 + (f"; rule {challenge['rule']}" if challenge.get("rule") else ""),
                       "state": "open" if open_ else "",
                       "link": challenge_page(vault["challenge_id"]) if open_ else None})
        if completed:
            what = "3DS challenge expired" if completed.get("action") == "expire" else "3DS challenge completed"
            events.append({"at": iso(completed["at"]), "what": what,
                           "detail": f"action {completed.get('action')}: {completed.get('result')}",
                           "state": "SUCCESS" if completed.get("result") == "SUCCESS" else "FAIL", "link": None})
    elif vault["status"] != "PROCESSING":
        events.append({"at": created, "what": f"Vault {vault['status']}",
                       "detail": f"{vault['vaulting_result_code'] or ''} {vault['vaulting_result_message'] or ''}".strip(),
                       "state": vault["status"], "link": None})
    for n in notifications:
        events.append({"at": n["createdAt"], "what": f"Notification #{n['id']} queued",
                       "detail": f"{n['type']} to {n['url']}", "state": n["status"], "link": None})
        for a in n["attempts"]:
            if a["sentAt"]:
                outcome = f"HTTP {a['httpStatus']}" if a["httpStatus"] is not None else "no answer"
                if a["error"]:
                    outcome += f": {a['error']}"
                if a["latencyMs"] is not None:
                    outcome += f" ({a['latencyMs']:.1f} ms)"
                events.append({"at": a["sentAt"], "what": f"Notification #{n['id']} attempt {a['number']} sent"
                               + (" (manual resend)" if a["manual"] else ""),
                               "detail": outcome, "state": a["state"], "link": None})
            else:
                events.append({"at": a["scheduledAt"], "what": f"Notification #{n['id']} attempt {a['number']} "
                               + ("scheduled" if a["state"] in ("scheduled", "sending") else a["state"])
                               + (" (manual resend)" if a["manual"] else ""),
                               "detail": "", "state": a["state"], "link": None})
    order = {id(e): i for i, e in enumerate(events)}
    return sorted(events, key=lambda e: (e["at"], order[id(e)]))


# -- notifications ---------------------------------------------------------------------

@bp.get("/notifications")
def notifications():
    svc = services()
    client_id = request.args.get("clientId", "").strip() or None
    request_id = request.args.get("vaultingRequestId", "").strip() or None
    status = request.args.get("status", "").strip() or None
    error = None
    if status is not None and status not in NOTIFICATION_STATUSES:
        error, status = f"status must be one of {', '.join(NOTIFICATION_STATUSES)}", None
    found = svc.notifier.list(vaulting_request_id=request_id, client_id=client_id, status=status,
                              limit=LIST_LIMIT)
    return _page("dashboard_notifications.html", 400 if error else 200, active="notifications",
                 notifications=found, statuses=NOTIFICATION_STATUSES,
                 clients=[c["client_id"] for c in svc.store.list_clients()],
                 client_id=client_id or "", request_id=request_id or "", status=status or "", error=error,
                 limit=LIST_LIMIT, here=request.full_path.rstrip("?"))


@bp.post(f"/notifications/{NOTIFICATION_ID}/resend")
def resend(notification_id: int):
    """The same as POST /_mockpay/notifications/<id>/resend, from a form."""
    svc = services()
    try:
        svc.notifier.resend(notification_id)
    except NotFound:
        return _page("dashboard_missing.html", 404, active="notifications",
                     message=f"No notification {notification_id}.")
    svc.dispatcher.wake()
    back = _local_target(request.form.get("next"), url_for("dashboard.notifications"))
    return redirect(back, code=303)


# -- scenarios -------------------------------------------------------------------------

@bp.get("/requests")
def requests_journal():
    """The request journal: every API call, bodies already masked when they were recorded."""
    svc = services()
    filters = {key: (request.args.get(arg, "").strip() or None) for key, arg in
               (("client_id", "clientId"), ("vaulting_request_id", "vaultingRequestId"),
                ("result_code", "resultCode"), ("api", "api"))}
    entries = svc.journal.entries(limit=LIST_LIMIT, **filters)
    return _page("dashboard_requests.html", active="requests", entries=entries, limit=LIST_LIMIT,
                 filters={arg: filters[key] or "" for key, arg in
                          (("client_id", "clientId"), ("vaulting_request_id", "vaultingRequestId"),
                           ("result_code", "resultCode"), ("api", "api"))},
                 dumps=lambda body: json.dumps(body, indent=2, ensure_ascii=False))


@bp.get("/scenarios")
def scenarios():
    svc = services()
    client_id = request.args.get("clientId", "").strip() or None
    catalogue = svc.scenarios.catalogue(client_id)
    rows = []
    for rule in catalogue["rules"]:
        spec = rule["spec"] or {}
        rows.append({**rule, "reason": spec.get("reason") or "",
                     "label": rule["name"] or f"{rule['source']}:{rule['line']}"})
    return _page("dashboard_scenarios.html", active="scenarios", rules=rows, sources=catalogue["sources"],
                 default=catalogue["default"], clients=[c["client_id"] for c in svc.store.list_clients()],
                 client_id=client_id or "")


# -- the clock ---------------------------------------------------------------------------

@bp.get("/clock")
def clock():
    return _clock_page()


def _clock_page(status: int = 200, error: str | None = None, seconds: str = ""):
    svc = services()
    now = svc.clock.now()
    return _page("dashboard_clock.html", status, active="clock", now=now, epoch=round(now, 3),
                 scale=svc.clock.scale, due=svc.store.count_due_attempts(now), error=error,
                 seconds=seconds, quick=QUICK_ADVANCE, advanced=request.args.get("advanced"))


@bp.post("/clock/advance")
def clock_advance():
    """The same as POST /_mockpay/clock/advance, from a form; then back to the clock page."""
    text = request.form.get("seconds", "").strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan  # the clock refuses it, in its own words
    try:
        services().advance_clock(seconds)
    except ValueError as exc:  # not a number >= 0, or past the latest time the clock can show
        return _clock_page(400, str(exc), text)
    return redirect(url_for("dashboard.clock", advanced=f"{seconds:g}"), code=303)
