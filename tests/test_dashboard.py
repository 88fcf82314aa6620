"""The dashboard at /_mockpay/ui (issue 6, part 3), with Flask's test client: every page's
content, the filters, escaping, the forms (clock advance, notification resend) and that no
card number or CVV is ever rendered. Notifications go to a real local receiver
(pytest-httpserver). The headless-Chromium proof is tests/integration/test_dashboard_browser.py."""
from __future__ import annotations

import html
import json
import re

import pytest
from markupsafe import escape

from tests.support import MC_OK, VISA_OK, vault_body
from tests.webhook import ACK

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
UI = "/_mockpay/ui"
FAIL_CARD = "4054692760174822"        # Antom's failure Visa: VERIFICATION_FAIL, DO_NOT_HONOR
CHALLENGE_CARD = "4000000207000003"   # VERIFICATION_IN_PROCESS with every URL
CVV = "987"


@pytest.fixture
def receiver(httpserver):
    """The merchant's notification endpoint: /ok acknowledges, /broken answers 500."""
    httpserver.expect_request("/ok", method="POST").respond_with_data(ACK[1], content_type="application/json")
    httpserver.expect_request("/broken", method="POST").respond_with_data("nope", status=500)
    return httpserver


def esc(text: str) -> str:
    """What Jinja's autoescape makes of `text`."""
    return str(escape(text))


def vault(ams, request_id: str, card: str = VISA_OK, url: str = "https://merchant.example/notify",
          **fields) -> dict:
    body = vault_body(request_id, card, cvv=CVV)
    body["vaultingNotificationUrl"] = url
    body.update(fields)
    return ams.call(VAULT, body)


def get(app, path: str, status: int = 200) -> str:
    response = app.test_client().get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no scripts
    return response.get_data(as_text=True)


def assert_no_card_data(page: str, *numbers: str) -> None:
    for number in numbers:
        assert number not in page, f"the full card number {number} is on the page"
    assert f">{CVV}<" not in page and f'"{CVV}"' not in page


# -- navigation -------------------------------------------------------------------------

def test_the_index_redirects_to_vaults_and_every_page_has_the_nav(app):
    response = app.test_client().get(UI + "/")
    assert response.status_code == 302 and response.headers["Location"].endswith(UI + "/vaults")
    for path in ("/vaults", "/notifications", "/scenarios", "/clock"):
        page = get(app, UI + path)
        for target in ("/vaults", "/notifications", "/scenarios", "/clock"):
            assert f'href="{UI}{target}"' in page, (path, target)
        assert 'href="/_mockpay/docs"' in page
        assert "<script" not in page
        assert re.search(r'id="mock-now">\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00<', page)


# -- vaults -------------------------------------------------------------------------------

def test_vaults_table_shows_masked_cards_status_and_links(app, ams, services):
    vault(ams, "v-ok")
    vault(ams, "v-fail", FAIL_CARD)
    vault(ams, "v-3ds", CHALLENGE_CARD)
    page = get(app, UI + "/vaults")
    assert_no_card_data(page, VISA_OK, FAIL_CARD, CHALLENGE_CARD)
    for masked in ("405469******0768", "405469******4822", "400000******0003"):
        assert masked in page
    rows = re.findall(r"<tr>\s*<td class=\"num\">(.*?)</td>.*?</tr>", page, re.S)
    assert len(rows) == 3
    created = services.store.get_vault("SANDBOX_TEST", "v-ok")["created_at"]
    from mockpay.clock import iso
    assert iso(created) in page
    for status in ("SUCCESS", "FAIL", "PROCESSING"):
        assert f'<span class="badge {status}">{status}</span>' in page
    assert "VERIFICATION_FAIL" in page and "DO_NOT_HONOR" in page and "VERIFICATION_IN_PROCESS" in page
    assert f'href="{UI}/vault?clientId=SANDBOX_TEST&amp;vaultingRequestId=v-3ds"' in page
    assert "VISA" in page


def test_vaults_filter_by_status_and_client(app, ams, services, merchant_keys):
    vault(ams, "v-ok")
    vault(ams, "v-fail", FAIL_CARD)
    other = dict(ams.merchant, client_id="SANDBOX_OTHER")
    services.clients.add("SANDBOX_OTHER", public_key=merchant_keys["public"])
    from tests.conftest import Caller
    vault(Caller(app, other), "v-other")

    by_status = get(app, UI + "/vaults?status=FAIL")
    assert "v-fail" in by_status and "v-ok" not in by_status and "v-other" not in by_status
    assert '<option value="FAIL" selected>' in by_status

    by_client = get(app, UI + "/vaults?clientId=SANDBOX_OTHER")
    assert "v-other" in by_client and "v-ok" not in by_client and "v-fail" not in by_client
    assert 'value="SANDBOX_OTHER"' in by_client

    both = get(app, UI + "/vaults?clientId=SANDBOX_TEST&status=SUCCESS")
    assert "v-ok" in both and "v-fail" not in both and "v-other" not in both

    none = get(app, UI + "/vaults?clientId=NOBODY")
    assert 'id="no-vaults"' in none and "match these filters" in none


def test_an_unknown_status_filter_is_a_400_page_naming_the_choices(app, ams):
    vault(ams, "v-ok")
    page = get(app, UI + "/vaults?status=BOGUS", status=400)
    assert "status must be one of SUCCESS, FAIL, PROCESSING" in page
    assert "v-ok" in page  # the filter is dropped, the table still shows


def test_everything_is_escaped(app, ams, receiver):
    hostile = "<script>alert(1)</script>"
    request_id = '"><img src=x onerror=alert(1)>'
    vault(ams, request_id, metadata=hostile, url=receiver.url_for("/ok") + "?q=<b>x</b>")
    services = app.extensions["mockpay"]
    services.dispatcher.run_once()
    pages = [get(app, UI + "/vaults"),
             get(app, UI + "/vault?" + _query("SANDBOX_TEST", request_id)),
             get(app, UI + "/notifications"),
             get(app, UI + "/vaults?clientId=" + "%3Cscript%3E", status=200)]
    for page in pages:
        assert "<script>" not in page and "<img src=x" not in page and "<b>x</b>" not in page
    assert esc(request_id) in pages[0]
    assert esc(hostile) in pages[1]
    assert "&lt;script&gt;" in pages[3]  # the filter value echoed back, escaped


def _query(client_id: str, request_id: str) -> str:
    from urllib.parse import urlencode
    return urlencode({"clientId": client_id, "vaultingRequestId": request_id})


# -- one vault ---------------------------------------------------------------------------------

def test_a_vault_timeline_shows_the_request_and_its_notification_attempts(app, ams, services, receiver):
    vault(ams, "t-ok", url=receiver.url_for("/ok"))
    assert services.dispatcher.run_once() == 1
    page = get(app, UI + "/vault?" + _query("SANDBOX_TEST", "t-ok"))
    assert_no_card_data(page, VISA_OK)
    assert "405469******0768" in page
    timeline = page.split('id="timeline"')[1]
    order = [m for m in re.findall(r"<strong>(.*?)</strong>", timeline)]
    assert order[0] == "Vault requested" and order[1] == "Vault SUCCESS"
    assert order[2] == "Notification #1 queued" and order[3] == "Notification #1 attempt 1 sent"
    assert "HTTP 200" in timeline and re.search(r"\(\d+\.\d ms\)", timeline)
    assert '<span class="badge acked">acked</span>' in timeline
    assert receiver.url_for("/ok") in timeline


def test_a_failed_attempt_shows_its_error_and_the_next_one_scheduled(app, ams, services, receiver):
    vault(ams, "t-broken", url=receiver.url_for("/broken"))
    services.dispatcher.run_once()
    page = get(app, UI + "/vault?" + _query("SANDBOX_TEST", "t-broken"))
    timeline = page.split('id="timeline"')[1]
    assert "attempt 1 sent" in timeline and "HTTP 500: HTTP 500" in timeline
    assert '<span class="badge failed">failed</span>' in timeline
    assert "attempt 2 scheduled" in timeline


def test_an_open_challenge_links_to_its_page_then_shows_how_it_ended(app, ams, services, receiver):
    answer = vault(ams, "t-3ds", CHALLENGE_CARD, url=receiver.url_for("/ok"))
    challenge_id = answer["normalUrl"].rsplit("/", 1)[1]
    page = get(app, UI + "/vault?" + _query("SANDBOX_TEST", "t-3ds"))
    assert "3DS challenge opened" in page
    assert f'href="/challenge/{challenge_id}" class="challenge-link"' in page
    assert "3DS challenge completed" not in page

    services.vaulting.complete_challenge(challenge_id, "authenticate")
    page = get(app, UI + "/vault?" + _query("SANDBOX_TEST", "t-3ds"))
    assert "challenge-link" not in page
    assert "3DS challenge completed" in page and "action authenticate: SUCCESS" in page
    assert "Notification #1 queued" in page


def test_an_expired_challenge_shows_as_expired(app, ams, services):
    vault(ams, "t-late", CHALLENGE_CARD)
    services.clock.advance(services.config.challenge_ttl + 1)
    page = get(app, UI + "/vault?" + _query("SANDBOX_TEST", "t-late"))
    assert "3DS challenge expired" in page and "action expire: USER_PAYMENT_VERIFICATION_FAILED" in page
    assert '<span class="badge FAIL">FAIL</span>' in page and "challenge-link" not in page


def test_an_unknown_vault_is_a_404_page(app):
    page = get(app, UI + "/vault?clientId=SANDBOX_TEST&vaultingRequestId=nope", status=404)
    assert "No vault &#39;nope&#39; for client &#39;SANDBOX_TEST&#39;." in page


# -- notifications --------------------------------------------------------------------------

def test_notifications_list_every_attempt_and_filter(app, ams, services, receiver):
    vault(ams, "n-ok", url=receiver.url_for("/ok"))
    vault(ams, "n-broken", url=receiver.url_for("/broken"))
    assert services.dispatcher.run_once() == 2
    page = get(app, UI + "/notifications")
    assert page.count('class="attempt"') == 3  # ok: 1 acked; broken: 1 failed + 1 scheduled
    assert '<span class="badge delivered">delivered</span>' in page
    assert '<span class="badge pending">pending</span>' in page
    assert "HTTP 500" in page and page.count('class="resend"') == 2

    only_ok = get(app, UI + "/notifications?status=delivered")
    assert "n-ok" in only_ok and "n-broken" not in only_ok
    by_id = get(app, UI + "/notifications?vaultingRequestId=n-broken")
    assert "n-broken" in by_id and "n-ok" not in by_id
    nobody = get(app, UI + "/notifications?clientId=NOBODY")
    assert 'id="no-notifications"' in nobody
    bad = get(app, UI + "/notifications?status=lost", status=400)
    assert "status must be one of pending, delivered, given_up" in bad


def test_the_resend_button_adds_a_manual_attempt_and_redirects_back(app, ams, services, receiver):
    vault(ams, "r-1", url=receiver.url_for("/ok"))
    services.dispatcher.run_once()
    nid = services.notifier.list(vaulting_request_id="r-1")[0]["id"]
    page = get(app, UI + "/notifications?vaultingRequestId=r-1")
    form = re.search(r'<form method="post" action="([^"]+)">\s*<input type="hidden" name="next" value="([^"]+)">',
                     page)
    assert form.group(1) == f"{UI}/notifications/{nid}/resend"
    back = html.unescape(form.group(2))
    assert back == f"{UI}/notifications?vaultingRequestId=r-1"

    response = app.test_client().post(form.group(1), data={"next": back})
    assert response.status_code == 303 and response.headers["Location"] == back
    attempts = services.notifier.get(nid)["attempts"]
    assert [a["manual"] for a in attempts] == [False, True] and attempts[1]["state"] == "scheduled"
    assert services.dispatcher.run_once() == 1
    assert services.notifier.get(nid)["attempts"][1]["state"] == "acked"
    assert len(receiver.log) == 2
    after = get(app, back)
    assert after.count('class="attempt"') == 2 and "resend</span>" in after


def test_resend_never_redirects_off_the_dashboard_and_404s_unknown_ids(app, ams, services, receiver):
    vault(ams, "r-2", url=receiver.url_for("/ok"))
    nid = services.notifier.list(vaulting_request_id="r-2")[0]["id"]
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/x", "/other"):
        response = client.post(f"{UI}/notifications/{nid}/resend", data={"next": target})
        assert response.status_code == 303 and response.headers["Location"] == f"{UI}/notifications"
    assert client.post(f"{UI}/notifications/999/resend").status_code == 404
    assert client.post(f"{UI}/notifications/{10 ** 20}/resend").status_code == 404  # not a 500 (OverflowError)


def test_a_cross_site_form_post_is_refused(app, ams, services):
    before = services.clock.now()
    response = app.test_client().post(f"{UI}/clock/advance", data={"seconds": "3600"},
                                      headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert services.clock.now() - before < 3600


@pytest.mark.parametrize("headers", [{"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"}])
def test_a_sandboxed_or_other_site_post_is_refused_on_the_dashboard_and_the_admin_api(app, ams, services, headers):
    ams.call("/ams/api/v1/vaults/vaultPaymentMethod", vault_body("csrf-1"))
    before = services.clock.now()
    client = app.test_client()
    assert client.post(f"{UI}/clock/advance", data={"seconds": "3600"}, headers=headers).status_code == 403
    response = client.post("/_mockpay/reset", data={}, headers=headers)  # a plain form post: no JSON body
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "FORBIDDEN"
    assert services.clock.now() - before < 3600
    assert services.store.count_vaults() == 1


def test_the_dashboards_own_posts_and_scripts_are_let_through(app, ams, services):
    client = app.test_client()
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post(f"{UI}/clock/advance", data={"seconds": "60"}, headers=same).status_code == 303
    assert client.post("/_mockpay/clock/advance", json={"seconds": 60}).status_code == 200  # curl, the CLI


# -- scenarios ------------------------------------------------------------------------------

def test_the_test_card_table_comes_from_the_scenario_engine(app, services):
    page = get(app, UI + "/scenarios")
    catalogue = services.scenarios.catalogue()
    rows = re.findall(r"<tr>\s*<td>(.*?)<br>", page.split('id="scenarios"')[1], re.S)
    assert [html.unescape(r) for r in rows] == [r["name"] or f"{r['source']}:{r['line']}"
                                                for r in catalogue["rules"]]
    assert "antom-failure-visa" in page and "4054692760174822" in page and "DO_NOT_HONOR" in page
    assert esc(catalogue["rules"][0]["description"]) in page
    assert "VERIFICATION_IN_PROCESS" in page
    assert 'class="default"' in page and catalogue["default"]["resultCode"] in page


def test_a_clients_run_time_rules_come_first_when_chosen(app, ams, services):
    services.scenarios.put_client_set("SANDBOX_TEST", """
rules:
  - name: my-<special>-rule
    description: "declines <everything>"
    match: {cardNo: "4111111111111111"}
    outcome: {resultCode: RISK_REJECT, reason: FRAUD_REJECT}
""", services.clock.now())
    plain = get(app, UI + "/scenarios")
    assert "my-&lt;special&gt;-rule" not in plain
    chosen = get(app, UI + "/scenarios?clientId=SANDBOX_TEST")
    first = re.search(r"<tbody>\s*<tr>(.*?)</tr>", chosen, re.S).group(1)
    assert "my-&lt;special&gt;-rule" in first and "declines &lt;everything&gt;" in first
    assert "RISK_REJECT" in first and "FRAUD_REJECT" in first and "4111111111111111" in first
    assert '<option value="SANDBOX_TEST" selected>' in chosen


# -- clock ------------------------------------------------------------------------------------

def test_the_clock_page_shows_mock_time_and_advances_with_post_redirect_get(app, services):
    from mockpay.clock import iso
    client = app.test_client()
    first = services.clock.now()
    page = get(app, UI + "/clock")
    last = services.clock.now()  # the page shows a second between the two, however slow the machine
    assert any(iso(second) in page for second in range(int(first), int(last) + 1)), \
        re.findall(r'id="clock-now">([^<]*)<', page)
    assert f'<form class="filters" method="post" action="{UI}/clock/advance" id="advance">' in page

    before = services.clock.now()
    response = client.post(f"{UI}/clock/advance", data={"seconds": "86400"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{UI}/clock?advanced=86400"
    assert services.clock.now() - before >= 86400
    assert json.loads(client.get("/_mockpay/clock").data)["epoch"] - before >= 86400
    after = get(app, response.headers["Location"])
    assert "moved forward 86400 seconds" in after
    shown = re.search(r'id="clock-now">([^<]+)<', after).group(1)
    assert shown >= iso(before + 86400)


def test_advancing_makes_the_next_notification_attempt_due(app, ams, services, receiver):
    vault(ams, "c-broken", url=receiver.url_for("/broken"))
    services.dispatcher.run_once()   # attempt 1 fails; attempt 2 is due later
    page = get(app, UI + "/clock")
    assert re.search(r"Notification attempts due</dt><dd>0<", page)
    app.test_client().post(f"{UI}/clock/advance", data={"seconds": "3600"})
    page = get(app, UI + "/clock")
    assert re.search(r"Notification attempts due</dt><dd>1<", page)


@pytest.mark.parametrize("value", ["", "abc", "-5", "nan", "inf"])
def test_a_bad_advance_is_a_400_page_and_the_clock_stays(app, services, value):
    before = services.clock.now()
    response = app.test_client().post(f"{UI}/clock/advance", data={"seconds": value})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "seconds must be a number &gt;= 0" in text
    assert services.clock.now() - before < 60


# -- request journal ----------------------------------------------------------------------

def test_the_request_journal_page_lists_calls_with_masked_bodies_and_filters(app, ams, receiver):
    vault(ams, "journal-1", url=receiver.url_for("/ok"))
    vault(ams, "journal-2", MC_OK, url=receiver.url_for("/ok"), redirectUrl="x" * 3000)  # PARAM_ILLEGAL
    page = get(app, "/_mockpay/ui/requests")
    assert 'id="requests"' in page
    assert "journal-1" in page and "journal-2" in page
    assert "SUCCESS" in page and "PARAM_ILLEGAL" in page
    assert "405469******0768" in page  # the journal keeps first six and last four
    assert_no_card_data(page, VISA_OK, MC_OK)
    only = get(app, "/_mockpay/ui/requests?resultCode=PARAM_ILLEGAL")
    assert "journal-2" in only and "journal-1" not in only
    by_id = get(app, "/_mockpay/ui/requests?vaultingRequestId=journal-1")
    assert "journal-1" in by_id and "journal-2" not in by_id
    assert 'href="/_mockpay/ui/requests"' in get(app, "/_mockpay/ui/vaults")  # in the nav


def test_an_advance_past_the_clocks_end_is_a_400_page_not_a_500(app, services):
    before = services.clock.now()
    response = app.test_client().post(f"{UI}/clock/advance", data={"seconds": "1e15"})
    assert response.status_code == 400
    assert "cannot be advanced" in response.get_data(as_text=True)
    assert services.clock.now() - before < 60
