"""createVaultingSession and the hosted card-binding page (Flask test client;
the real-server, real-SDK and real-browser proofs are in tests/integration/)."""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
from urllib.parse import quote

import pytest

from mockpay.clock import iso
from mockpay.scenarios import Outcome
from tests.support import OWN_OK, VISA_OK, digits_shown, session_body, vault_body

PREFIXES = ["/ams/api/v1", "/ams/sandbox/api/v1", "/v1"]
CREATE = "/ams/api/v1/vaults/createVaultingSession"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"
BAD_LUHN = "4054695723100769"


def page_path(answer: dict) -> str:
    return re.sub(r"^https?://[^/]+", "", answer["normalUrl"])


GOOD_FORM = {"cardNumber": VISA_OK, "expiry": "08/30", "cvv": "123", "cardholderName": "Ada Lovelace"}


# -- createVaultingSession ----------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_create_session_under_every_prefix(ams, services, prefix):
    answer = ams.call(f"{prefix}/vaults/createVaultingSession", session_body(f"vs-{len(prefix)}"))
    assert answer["result"] == {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success."}
    assert services.store.count_sessions() == 1


def test_session_answer_fields_and_shape(ams, services):
    answer = ams.call(CREATE, session_body())
    data = answer["vaultingSessionData"]
    assert len(data) <= 4096
    segments = data.split("&&")
    assert len(segments) == 4
    config = json.loads(base64.b64decode(segments[3]))
    assert config["paymentSessionConfig"] == {"productScene": "VAULTING", "paymentMethodCategoryType": "CARD"}
    assert segments[1] == "US"
    # the first segment is AES-GCM sealed: opaque, and it opens with the data key only
    # (looked for in the decoded bytes: the URL-safe base64 text holds "-", so any "vs-1" by chance)
    opened = base64.urlsafe_b64decode(segments[0] + "=" * (-len(segments[0]) % 4))
    assert b"vs-1" not in opened and answer["vaultingSessionId"].encode() not in opened
    sealed = services.keyring.open_json(segments[0], "vaulting-session-data")
    assert sealed["sid"] == answer["vaultingSessionId"]
    with pytest.raises(ValueError):
        services.keyring.open_json(segments[0][:-2] + ("AA" if segments[0][-2:] != "AA" else "BB"),
                                   "vaulting-session-data")

    assert 0 < len(answer["vaultingSessionId"]) <= 64
    row = services.store.get_session(answer["vaultingSessionId"])
    assert row["expires_at"] - row["created_at"] == 30 * 60
    assert answer["vaultingSessionExpiryTime"] == iso(row["expires_at"])
    parsed = dt.datetime.fromisoformat(answer["vaultingSessionExpiryTime"])
    assert parsed.utcoffset() is not None
    assert answer["normalUrl"].endswith(f"/vaulting/session/{answer['vaultingSessionId']}")
    assert len(answer["normalUrl"]) <= 2048


def test_session_lifetime_is_configurable(make_ams):
    svc, caller = make_ams(session_ttl=120)
    answer = caller.call(CREATE, session_body())
    row = svc.store.get_session(answer["vaultingSessionId"])
    assert row["expires_at"] - row["created_at"] == 120


def test_same_request_replays_and_a_different_one_is_inconsistent(ams, services):
    first = ams.post(CREATE, session_body()).data
    again = ams.post(CREATE, session_body()).data
    assert json.loads(again) == json.loads(first)
    other = ams.call(CREATE, session_body(redirectUrl="https://merchant.example/other"))
    assert other["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"
    assert other["result"]["resultStatus"] == "F"
    assert services.store.count_sessions() == 1


def test_request_id_already_used_by_vault_payment_method(ams, services):
    assert ams.call("/ams/api/v1/vaults/vaultPaymentMethod", vault_body("shared-id"))["result"]["resultCode"] \
        == "SUCCESS"
    answer = ams.call(CREATE, session_body("shared-id"))
    assert answer["result"]["resultCode"] == "REPEAT_REQ_INCONSISTENT"
    assert services.store.count_sessions() == 0


def test_request_id_already_used_by_create_vaulting_session(ams, services, app, created):
    """The other way round: a direct vaultPaymentMethod may not take a session's id (it
    used to vault the card, and the buyer's page then said "already used")."""
    session_id = created["vaultingSessionId"]
    request_id = services.store.get_session(session_id)["vaulting_request_id"]
    answer = ams.call("/ams/api/v1/vaults/vaultPaymentMethod", vault_body(request_id))
    assert answer["result"] == {"resultStatus": "F", "resultCode": "REPEAT_REQ_INCONSISTENT",
                                "resultMessage": "vaultingRequestId was already used by a createVaultingSession "
                                                 "request"}
    assert answer["vaultingRequestId"] == request_id
    assert services.store.count_vaults() == 0
    assert services.sessions.open(session_id)["status"] == "OPEN"  # the buyer can still use the page


@pytest.mark.parametrize("value", [True, False, "true", "FALSE"])
def test_is3ds_as_string_or_json_bool(ams, value):
    assert ams.call(CREATE, session_body(is3DSAuthentication=value))["result"]["resultCode"] == "SUCCESS"


@pytest.mark.parametrize("overrides, field", [
    ({"paymentMethodType": None}, "paymentMethodType"),
    ({"paymentMethodType": "WALLET"}, "paymentMethodType"),
    ({"paymentMethodType": "C" * 65}, "paymentMethodType"),
    ({"vaultingRequestId": None}, "vaultingRequestId"),
    ({"vaultingRequestId": "x" * 65}, "vaultingRequestId"),
    ({"vaultingRequestId": 12}, "vaultingRequestId"),
    ({"vaultingNotificationUrl": "https://m.example/" + "n" * 2031}, "vaultingNotificationUrl"),
    ({"redirectUrl": "https://m.example/" + "r" * 2031}, "redirectUrl"),
    ({"merchantRegion": "USA"}, "merchantRegion"),
    ({"merchantRegion": "us"}, "merchantRegion"),
    ({"is3DSAuthentication": "yes"}, "is3DSAuthentication"),
])
def test_bad_input_is_param_illegal_naming_the_field(ams, services, overrides, field):
    answer = ams.call(CREATE, session_body(**overrides))
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert answer["result"]["resultStatus"] == "F"
    assert field in answer["result"]["resultMessage"]
    assert services.store.count_sessions() == 0


def test_longest_documented_values_are_accepted(ams):
    body = session_body("i" * 64, paymentMethodType="CARD",
                        vaultingNotificationUrl="https://m.example/" + "n" * 2030,
                        redirectUrl="https://m.example/" + "r" * 2030)
    assert len(body["redirectUrl"]) == 2048
    assert ams.call(CREATE, body)["result"]["resultCode"] == "SUCCESS"


@pytest.mark.parametrize("code", ["PROCESS_FAIL", "UNKNOWN_EXCEPTION"])
def test_scenario_codes_for_create(ams, services, monkeypatch, code):
    seen = []

    def choose(client_id, api, request, card_no=None, db=None):
        seen.append(api)
        return Outcome(result_code=code)
    monkeypatch.setattr(services.scenarios, "choose", choose)
    answer = ams.call(CREATE, session_body())
    assert seen == ["createVaultingSession"]
    assert answer["result"]["resultCode"] == code
    assert "vaultingSessionData" not in answer
    assert services.store.count_sessions() == 0


# -- the hosted page ----------------------------------------------------------------

@pytest.fixture
def created(ams):
    return ams.call(CREATE, session_body())


def test_page_shows_the_form(ams, created):
    page = ams.http.get(page_path(created))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("cardNumber", "expiry", "cvv", "cardholderName"):
        assert f'name="{name}"' in html
    assert page.headers["Cache-Control"] == "no-store"


def test_bad_card_shows_inline_error_keeps_values_but_not_cvv(ams, services, created):
    form = dict(GOOD_FORM, cardNumber=BAD_LUHN, cvv="321")
    page = ams.http.post(page_path(created), data=form)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'id="error-cardNumber"' in html and "Luhn" in html
    assert BAD_LUHN not in html  # the server never echoes a card number; the browser keeps it
    assert 'value="08/30"' in html and 'value="Ada Lovelace"' in html
    assert 'name="cvv" inputmode="numeric" autocomplete="cc-csc" maxlength="4" value=""' in html
    assert not digits_shown(html, "321")  # the page's random nonces may hold "321" by chance
    assert services.store.count_vaults() == 0
    assert services.store.get_session(created["vaultingSessionId"])["status"] == "OPEN"


@pytest.mark.parametrize("change, field, words", [
    ({"cardNumber": ""}, "cardNumber", "required"),
    ({"cardNumber": "1234"}, "cardNumber", "12 to 19 digits"),
    ({"expiry": "13/30"}, "expiry", "Expiry month must be 01 to 12"),
    ({"expiry": "0830"}, "expiry", "MM/YY"),
    ({"cvv": ""}, "cvv", "required"),
    ({"cvv": "12"}, "cvv", "3 digits"),
    ({"cardholderName": ""}, "cardholderName", "required"),
    ({"cardholderName": "A" * 129}, "cardholderName", "at most 128"),
])
def test_each_field_error_is_shown_under_its_field(ams, services, created, change, field, words):
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, **change))
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    error = re.search(rf'id="error-{field}">([^<]*)<', html)
    assert error and words in error.group(1), html
    assert services.store.count_vaults() == 0


def test_good_card_vaults_redirects_and_inquire_reports_it(ams, services, created, caplog):
    caplog.set_level(logging.DEBUG)
    finals = []
    services.vaulting.final_listeners.append(lambda db, vault: finals.append(dict(vault)))
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, cardNumber="4054 6957 2310 0768"))
    assert page.status_code == 303
    assert page.headers["Location"] == "https://merchant.example/return"
    answer = ams.call(INQUIRE, {"vaultingRequestId": "vs-1"})
    assert answer["vaultingStatus"] == "SUCCESS"
    card = answer["paymentMethodDetail"]["card"]
    assert card["maskedCardNo"] == "************0768"
    assert card["cardholderName"] == {"firstName": "Ada", "lastName": "Lovelace", "fullName": "Ada Lovelace"}
    assert card["expiryYear"] == "30" and card["expiryMonth"] == "08"
    assert [v["source"] for v in finals] == ["session"]
    assert finals[0]["notification_url"] == "https://merchant.example/notify"
    assert services.store.get_session(created["vaultingSessionId"])["status"] == "USED"
    assert VISA_OK not in caplog.text


def test_used_session_shows_a_clear_page_and_vaults_nothing_more(ams, services, created):
    assert ams.http.post(page_path(created), data=GOOD_FORM).status_code == 303
    again = ams.http.get(page_path(created))
    assert again.status_code == 409
    assert "already been used" in again.get_data(as_text=True)
    resubmit = ams.http.post(page_path(created), data=dict(GOOD_FORM, cardNumber="5162774114974622"))
    assert resubmit.status_code == 409
    assert services.store.count_vaults() == 1
    inquiry = ams.call(INQUIRE, {"vaultingRequestId": "vs-1"})
    assert inquiry["paymentMethodDetail"]["card"]["maskedCardNo"].endswith("0768")


def test_expired_session_shows_a_clear_page_and_vaults_nothing(ams, services, created):
    services.clock.advance(30 * 60)
    page = ams.http.get(page_path(created))
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)
    post = ams.http.post(page_path(created), data=GOOD_FORM)
    assert post.status_code == 410
    assert services.store.count_vaults() == 0
    assert ams.call(INQUIRE, {"vaultingRequestId": "vs-1"})["result"]["resultCode"] == "VAULTING_NOT_EXIST"


def test_session_just_before_expiry_still_works(ams, services, created):
    services.clock.advance(30 * 60 - 5)
    assert ams.http.post(page_path(created), data=GOOD_FORM).status_code == 303


def test_unknown_session(ams, services):
    page = ams.http.get("/vaulting/session/VSnothing")
    assert page.status_code == 404
    assert "Unknown card-binding session" in page.get_data(as_text=True)
    assert ams.http.post("/vaulting/session/VSnothing", data=GOOD_FORM).status_code == 404
    assert services.store.count_vaults() == 0


def test_session_data_exchanges_for_the_page(ams, created):
    r = ams.http.get("/vaulting/session?sessionData=" + quote(created["vaultingSessionData"], safe=""))
    assert r.status_code == 302
    assert r.headers["Location"] == created["normalUrl"]


@pytest.mark.parametrize("data", ["", "garbage", "a&&b&&c&&d", "x" * 50 + "&&US&&1&&e30="])
def test_foreign_session_data_is_unknown(ams, data):
    r = ams.http.get("/vaulting/session?sessionData=" + quote(data, safe=""))
    assert r.status_code == 404
    assert "Unknown card-binding session" in r.get_data(as_text=True)


def test_session_is3ds_goes_into_the_card_and_processing_redirects_to_the_challenge(ams, services,
                                                                                     monkeypatch):
    seen = []

    def choose(client_id, api, request, card_no=None, db=None):
        if api == "inquireVaulting":  # inquireVaulting consults scenarios too (issue 3)
            return Outcome()
        seen.append((api, request["paymentMethodDetail"]["card"].get("is3DSAuthentication"), card_no))
        return Outcome(result_code="VERIFICATION_IN_PROCESS")
    created = ams.call(CREATE, session_body("vs-3ds", is3DSAuthentication=True))
    monkeypatch.setattr(services.scenarios, "choose", choose)
    page = ams.http.post(page_path(created), data=GOOD_FORM)
    assert seen == [("vaultPaymentMethod", "true", VISA_OK)]
    assert page.status_code == 303
    vault = services.store.get_vault("SANDBOX_TEST", "vs-3ds")
    assert vault["status"] == "PROCESSING"
    assert page.headers["Location"] == f"http://localhost/challenge/{vault['challenge_id']}"
    assert ams.call(INQUIRE, {"vaultingRequestId": "vs-3ds"})["vaultingStatus"] == "PROCESSING"
    assert services.store.get_session(created["vaultingSessionId"])["status"] == "USED"


def test_failed_verification_redirects_too_and_inquire_says_fail(ams, services, monkeypatch):
    created = ams.call(CREATE, session_body("vs-fail"))
    monkeypatch.setattr(services.scenarios, "choose",  # inquireVaulting consults scenarios too (issue 3)
                        lambda client_id, api, *a, **k: Outcome() if api == "inquireVaulting"
                        else Outcome(result_code="VERIFICATION_FAIL", reason="DO_NOT_HONOR"))
    page = ams.http.post(page_path(created), data=GOOD_FORM)
    assert page.status_code == 303 and page.headers["Location"] == "https://merchant.example/return"
    answer = ams.call(INQUIRE, {"vaultingRequestId": "vs-fail"})
    assert answer["vaultingStatus"] == "FAIL" and answer["vaultingResultCode"] == "DO_NOT_HONOR"


def test_rejected_outcome_keeps_the_session_open(ams, services, monkeypatch):
    created = ams.call(CREATE, session_body("vs-u"))
    monkeypatch.setattr(services.scenarios, "choose", lambda *a, **k: Outcome(result_code="UNKNOWN_EXCEPTION"))
    page = ams.http.post(page_path(created), data=GOOD_FORM)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'id="form-error"' in html and "UNKNOWN_EXCEPTION" in html
    assert services.store.count_vaults() == 0
    assert services.store.get_session(created["vaultingSessionId"])["status"] == "OPEN"


def test_without_redirect_url_the_page_says_done(ams, services):
    created = ams.call(CREATE, session_body("vs-noredirect", redirectUrl=None))
    page = ams.http.post(page_path(created), data=GOOD_FORM)
    assert page.status_code == 200
    assert "Your card has been saved" in page.get_data(as_text=True)
    assert services.store.get_vault("SANDBOX_TEST", "vs-noredirect")["redirect_url"] is None


def test_card_number_is_sealed_and_cvv_not_stored(ams, services, created):
    ams.http.post(page_path(created), data=dict(GOOD_FORM, cvv="987"))
    raw = b"".join(p.read_bytes() for p in services.config.db_path.parent.glob("mockpay.sqlite3*"))
    assert VISA_OK.encode() not in raw
    vault = services.store.get_vault("SANDBOX_TEST", "vs-1")
    assert services.keyring.decrypt(vault["card_enc"], context="card") == VISA_OK
    random_material = {"card_enc", "card_fingerprint", "card_token", "request_digest", "response_json",
                       "payment_method_detail", "challenge_id"}
    # the other columns hold timestamps (created_at 1795353632.8255155): any three digits by chance
    assert not digits_shown(json.dumps({k: vault[k] for k in vault.keys() if k not in random_material}), "987")
    for column in ("response_json", "payment_method_detail"):
        assert '"cvv"' not in (vault[column] or "")


@pytest.mark.parametrize("url", ["www.test.com", "/return", "//merchant.example/return", "javascript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "https:merchant.example"])
def test_a_redirect_url_no_browser_can_open_shows_the_result_instead(ams, services, url):
    """As on the challenge page: the docs' sample "www.test.com" resolved against the page
    (/vaulting/session/www.test.com), so the buyer whose card was just saved saw "Unknown
    card-binding session. No card was saved."; a javascript: URL became the Location."""
    created = ams.call(CREATE, session_body("vs-odd-redirect", redirectUrl=url))
    page = ams.http.post(page_path(created), data=GOOD_FORM)
    assert page.status_code == 200 and "Location" not in page.headers
    html = page.get_data(as_text=True)
    assert 'id="done" data-status="SUCCESS"' in html and "Your card has been saved" in html
    assert "<script>alert" not in html and 'href="javascript' not in html
    shown = re.search(r'<code id="raw-redirect">([^<]*)</code>', html).group(1)
    assert shown == url.replace("<", "&lt;").replace(">", "&gt;")
    assert ams.call(INQUIRE, {"vaultingRequestId": "vs-odd-redirect"})["vaultingStatus"] == "SUCCESS"


@pytest.mark.parametrize("field,typed", [("expiry", VISA_OK), ("expiry", "4054 6957 2310 0768"),
                                         ("cardholderName", "Ada 4054-6957-2310-0768")])
def test_a_card_number_typed_into_another_field_is_never_sent_back(ams, services, created, field, typed):
    """The re-rendered form kept every field but the card number and the CVV as typed, so a
    card number pasted into the expiry or name field came back in the page's HTML."""
    form = dict(GOOD_FORM, cvv="", **{field: typed})
    page = ams.http.post(page_path(created), data=form)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'id="error-cvv"' in html
    assert re.sub(r"\D", "", typed) not in re.sub(r"[ -]", "", html)
    assert re.search(rf'id="{field}"[^>]*\bvalue=""', html, re.S)
    other = "cardholderName" if field == "expiry" else "expiry"
    assert f'value="{GOOD_FORM[other]}"' in html  # the rest is still kept
    assert services.store.count_vaults() == 0


@pytest.mark.parametrize("name", [VISA_OK, "4054 6957 2310 0768", "Ada 4054-6957-2310-0768"])
def test_a_card_number_as_the_cardholder_name_is_refused(ams, services, created, name):
    """A buyer who typed the card number into the name field had it vaulted as the name:
    kept in plain text in the vault, answered by inquireVaulting and sent in notifyVaulting."""
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, cardholderName=name))
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert re.search(r'id="error-cardholderName">Cardholder name must not contain a card number', html)
    assert services.store.count_vaults() == 0
    assert services.store.get_session(created["vaultingSessionId"])["status"] == "OPEN"
    raw = b"".join(p.read_bytes() for p in services.config.db_path.parent.glob("mockpay.sqlite3*"))
    assert VISA_OK.encode() not in raw


@pytest.mark.parametrize("name,holder", [
    ("Maria Fernanda de los Angeles Gonzalez Rodriguez",
     {"fullName": "Maria Fernanda de los Angeles Gonzalez Rodriguez"}),
    ("Wolfeschlegelsteinhausenbergerdorff Hubert", {"fullName": "Wolfeschlegelsteinhausenbergerdorff Hubert"}),
    (" ".join(["Abcdefg"] * 16), {"fullName": " ".join(["Abcdefg"] * 16)}),
    ("Ada   Lovelace", {"firstName": "Ada", "lastName": "Lovelace", "fullName": "Ada Lovelace"}),
    ("Cher", {"lastName": "Cher", "fullName": "Cher"}),
])
def test_a_cardholder_name_the_field_takes_is_vaulted(ams, created, name, holder):
    """The field takes 128 characters (fullName's limit), but the page also split the name into
    firstName / lastName (32 each) and refused a longer part: a 48-character name was
    'Cardholder name must be at most 32 characters.'"""
    assert len(name) <= 128
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, cardholderName=name))
    assert page.status_code == 303, page.get_data(as_text=True)
    card = ams.call(INQUIRE, {"vaultingRequestId": "vs-1"})["paymentMethodDetail"]["card"]
    assert card["cardholderName"] == holder


def test_a_cardholder_name_over_the_field_limit_names_that_limit(ams, services, created):
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, cardholderName="Ada " + "L" * 125))
    assert page.status_code == 422
    assert re.search(r'id="error-cardholderName">Cardholder name must be at most 128 characters\.<',
                     page.get_data(as_text=True))
    assert services.store.count_vaults() == 0


@pytest.mark.parametrize("expiry", ["12/1999", "12/2130"])
def test_a_four_digit_expiry_year_outside_20yy_is_refused(ams, services, created, expiry):
    """expiryYear has two digits, read as 20YY: the page kept the last two digits of a
    four-digit year, so mockpay's own card with 12/1999 (long expired) was vaulted as 12/2099."""
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, cardNumber=OWN_OK, expiry=expiry))
    assert page.status_code == 422
    assert re.search(r'id="error-expiry">Expiry year must be between 2000 and 2099\.<', page.get_data(as_text=True))
    assert services.store.count_vaults() == 0


def test_a_four_digit_expiry_year_in_20yy_is_taken(ams, services, created):
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, cardNumber=OWN_OK, expiry="12/2019"))
    assert page.status_code == 303
    answer = ams.call(INQUIRE, {"vaultingRequestId": "vs-1"})
    assert (answer["vaultingStatus"], answer["vaultingResultCode"]) == ("FAIL", "CARD_EXPIRED")


def test_the_card_pages_carry_a_content_security_policy(ams, created):
    """The 3DS page had one; the page that takes the card number had none. Only the form's own
    script runs (by a nonce new on every page), and nothing is loaded from anywhere."""
    nonces = []
    for _ in range(2):
        page = ams.http.get(page_path(created))
        csp = page.headers["Content-Security-Policy"]
        nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]{20,})'", csp).group(1)
        assert "default-src 'none'" in csp and "base-uri 'none'" in csp and "unsafe-eval" not in csp
        scripts = re.findall(r"<script\b[^>]*>", page.get_data(as_text=True))
        assert scripts == [f'<script nonce="{nonce}">']
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    error = ams.http.post(page_path(created), data=dict(GOOD_FORM, cvv=""))
    assert error.status_code == 422 and "script-src 'nonce-" in error.headers["Content-Security-Policy"]
    for other in (ams.http.get("/vaulting/session/VSnothing"),
                  ams.http.get("/vaulting/session?sessionData=x")):
        assert "script-src 'none'" in other.headers["Content-Security-Policy"]


def test_a_reset_landing_while_the_form_is_checked_shows_the_unknown_session_page(ams, services, created,
                                                                                monkeypatch):
    """POST /_mockpay/reset between the check of a form with errors and its re-rendering: the
    view read the session again, got None, and answered 500 (TypeError)."""
    submit = services.sessions.submit

    def submit_then_reset(*args, **kwargs):
        outcome = submit(*args, **kwargs)
        services.state.reset()
        return outcome
    monkeypatch.setattr(services.sessions, "submit", submit_then_reset)
    page = ams.http.post(page_path(created), data=dict(GOOD_FORM, cvv=""))
    assert page.status_code == 404
    assert 'data-reason="unknown"' in page.get_data(as_text=True)
