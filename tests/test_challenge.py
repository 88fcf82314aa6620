"""3DS challenge: VERIFICATION_IN_PROCESS, the challenge pages, completion, expiry, and the admin API
(Flask's test client; the real-browser and real-SDK proofs are in tests/integration)."""
from __future__ import annotations

import json
import re

import pytest

from mockpay.api.pages import redirect_target
from tests.support import vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"
ALL_LINKS = "4000000207000003"       # VERIFICATION_IN_PROCESS with normalUrl, schemeUrl and applinkUrl
NORMAL_ONLY = "4000000201000009"
ISSUER_DECLINES = "4000000504000003"  # the challenge resolves to DO_NOT_HONOR
ONE_TIME_CODE = "4000000505000002"    # the challenge wants code 123456
CUSTOM_REASONS = "4000000506000001"   # expire -> VERIFY_TIMES_EXCEED_LIMIT, cancel -> PROCESS_FAIL


def start(ams, request_id: str, card: str = ALL_LINKS, **body_changes) -> dict:
    body = vault_body(request_id, card)
    body.update(body_changes)
    answer = ams.call(VAULT, body)
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS", answer
    return answer


def challenge_path(answer: dict) -> str:
    return re.sub(r"^https?://[^/]+", "", answer["normalUrl"])


def inquire(ams, request_id: str) -> dict:
    return ams.call(INQUIRE, {"vaultingRequestId": request_id})


def test_vip_stores_processing_and_inquire_repeats_the_same_links(ams, services):
    answer = start(ams, "3ds-1")
    assert answer["result"]["resultStatus"] == "U"
    challenge_id = answer["normalUrl"].rsplit("/", 1)[1]
    assert answer["normalUrl"] == f"http://localhost/challenge/{challenge_id}"
    assert answer["applinkUrl"] == f"http://localhost/app/challenge/{challenge_id}"
    assert answer["schemeUrl"] == f"mockpay://challenge/{challenge_id}"
    state = inquire(ams, "3ds-1")
    assert state["vaultingStatus"] == "PROCESSING"
    assert {k: state[k] for k in ("normalUrl", "schemeUrl", "applinkUrl")} == \
        {k: answer[k] for k in ("normalUrl", "schemeUrl", "applinkUrl")}
    assert "paymentMethodDetail" not in state
    assert services.store.get_vault("SANDBOX_TEST", "3ds-1")["status"] == "PROCESSING"


def test_the_page_shows_masked_card_and_merchant_without_javascript(ams, app):
    answer = start(ams, "3ds-page")
    page = app.test_client().get(challenge_path(answer))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "400000******0003" in html and ALL_LINKS not in html
    assert "SANDBOX_TEST" in html and "3ds-page" in html
    assert '<form method="post"' in html and "<script" not in html
    for action in ("authenticate", "fail", "cancel"):
        assert f'name="action" value="{action}"' in html
    assert 'name="otp"' in html
    # the app link opens the same page
    app_page = app.test_client().get(challenge_path(answer).replace("/challenge/", "/app/challenge/"))
    assert app_page.status_code == 200 and "400000******0003" in app_page.get_data(as_text=True)


def test_authenticate_redirects_to_the_merchant_and_the_vault_succeeds(ams, app, services):
    finals = []
    services.vaulting.final_listeners.append(lambda db, vault: finals.append(dict(vault)))
    start(ams, "3ds-ok", redirectUrl="https://shop.example/return?order=7")
    path = challenge_path(inquire(ams, "3ds-ok"))
    response = app.test_client().post(path, data={"action": "authenticate", "otp": "000000"})
    assert response.status_code == 303
    assert response.headers["Location"] == "https://shop.example/return?order=7"
    state = inquire(ams, "3ds-ok")
    assert state["vaultingStatus"] == "SUCCESS" and state["vaultingResultCode"] == "SUCCESS"
    card = state["paymentMethodDetail"]["card"]
    assert card["maskedCardNo"] == "************0003" and card["cardToken"]
    assert "normalUrl" not in state
    assert [(f["vaulting_request_id"], f["status"]) for f in finals] == [("3ds-ok", "SUCCESS")]
    # a retry of the original request now replays the final answer (S), not the U
    replay = ams.call(VAULT, vault_body("3ds-ok", ALL_LINKS) | {"redirectUrl": "https://shop.example/return?order=7"})
    assert replay["result"]["resultCode"] == "SUCCESS"
    assert replay["paymentMethodDetail"]["card"]["cardToken"] == card["cardToken"]
    # submitting again changes nothing
    again = app.test_client().post(path, data={"action": "fail"})
    assert again.status_code == 200 and "already over" in again.get_data(as_text=True)
    assert inquire(ams, "3ds-ok")["vaultingStatus"] == "SUCCESS" and len(finals) == 1


def test_a_challenge_keeps_only_the_card_fields_the_vaulted_card_shows(ams, app, services):
    body = vault_body("3ds-secrets", ALL_LINKS, cardPasswordDigest="47", cpf="12345678909", dateOfBirth="1815-12-10",
                      cardholderName={"fullName": "Ada Lovelace"})
    assert ams.call(VAULT, body)["result"]["resultCode"] == "VERIFICATION_IN_PROCESS"
    stored = services.store.get_vault("SANDBOX_TEST", "3ds-secrets")["challenge"]
    for secret in ('"47"', "12345678909", "1815-12-10", "cardPasswordDigest", "cpf", "dateOfBirth"):
        assert secret not in stored, stored
    response = app.test_client().post(challenge_path(inquire(ams, "3ds-secrets")), data={"action": "authenticate"})
    assert response.status_code in (200, 303)
    card = inquire(ams, "3ds-secrets")["paymentMethodDetail"]["card"]
    assert (card["expiryYear"], card["expiryMonth"]) == ("30", "08")
    assert card["cardholderName"] == {"fullName": "Ada Lovelace"}


@pytest.mark.parametrize("card, action, reason, message", [
    (NORMAL_ONLY, "fail", "USER_PAYMENT_VERIFICATION_FAILED", "The buyer failed the 3DS verification."),
    (NORMAL_ONLY, "cancel", "USER_PAYMENT_VERIFICATION_FAILED", "The buyer cancelled the 3DS verification."),
    (ISSUER_DECLINES, "authenticate", "DO_NOT_HONOR", None),
    (CUSTOM_REASONS, "cancel", "PROCESS_FAIL", None),
])
def test_failed_challenges_carry_the_scenarios_reason(ams, app, card, action, reason, message):
    answer = start(ams, f"3ds-{action}-{card[-8:]}", card)
    response = app.test_client().post(challenge_path(answer), data={"action": action})
    assert response.status_code == 303
    state = inquire(ams, answer["vaultingRequestId"])
    assert state["vaultingStatus"] == "FAIL"
    assert state["vaultingResultCode"] == reason
    assert state["vaultingResultMessage"] == (message or state["vaultingResultMessage"])
    assert "paymentMethodDetail" not in state
    replay = ams.call(VAULT, vault_body(answer["vaultingRequestId"], card))
    assert replay["result"]["resultStatus"] == "F" and replay["result"]["resultCode"] == "VERIFICATION_FAIL"


def test_a_wrong_one_time_code_keeps_the_challenge_open(ams, app):
    answer = start(ams, "3ds-otp", ONE_TIME_CODE)
    http = app.test_client()
    page = http.get(challenge_path(answer)).get_data(as_text=True)
    assert "123456" in page
    wrong = http.post(challenge_path(answer), data={"action": "authenticate", "otp": "111111"})
    assert wrong.status_code == 422 and "not correct" in wrong.get_data(as_text=True)
    assert inquire(ams, "3ds-otp")["vaultingStatus"] == "PROCESSING"
    right = http.post(challenge_path(answer), data={"action": "authenticate", "otp": "123456"})
    assert right.status_code == 303
    assert inquire(ams, "3ds-otp")["vaultingStatus"] == "SUCCESS"


def test_the_third_wrong_code_fails_the_vault_with_verify_times_exceed_limit(ams, app, services):
    answer = start(ams, "3ds-otp-3", ONE_TIME_CODE)
    http = app.test_client()
    for left in ("2 tries", "1 try"):
        wrong = http.post(challenge_path(answer), data={"action": "authenticate", "otp": "111111"})
        assert wrong.status_code == 422 and f"{left} left" in wrong.get_data(as_text=True)
        assert inquire(ams, "3ds-otp-3")["vaultingStatus"] == "PROCESSING"
    # the count is kept in the database, not in the page: the admin API's code counts too
    code, body = admin_complete(app, "3ds-otp-3", outcome="success", otp="222222")
    assert code == 200 and body["vaultingStatus"] == "FAIL"
    state = inquire(ams, "3ds-otp-3")
    assert state["vaultingStatus"] == "FAIL"
    assert state["vaultingResultCode"] == "VERIFY_TIMES_EXCEED_LIMIT"
    assert state["vaultingResultMessage"] == "The buyer entered a wrong one-time code 3 times."
    after = http.post(challenge_path(answer), data={"action": "authenticate", "otp": "123456"})
    assert "already over" in after.get_data(as_text=True)  # the right code comes too late
    outbox = services.store.list_notifications(vaulting_request_id="3ds-otp-3")
    assert len(outbox) == 1  # notifyVaulting carries the result, not the reason code
    assert json.loads(outbox[0]["body"])["result"] == {
        "resultStatus": "F", "resultCode": "VERIFICATION_FAIL",
        "resultMessage": "The buyer entered a wrong one-time code 3 times."}


def test_a_right_code_after_two_wrong_ones_still_vaults(ams, app):
    answer = start(ams, "3ds-otp-2", ONE_TIME_CODE)
    http = app.test_client()
    for _ in range(2):
        assert http.post(challenge_path(answer), data={"action": "authenticate", "otp": "1"}).status_code == 422
    assert http.post(challenge_path(answer), data={"action": "authenticate", "otp": "123456"}).status_code == 303
    assert inquire(ams, "3ds-otp-2")["vaultingStatus"] == "SUCCESS"


def test_a_challenge_not_completed_in_time_fails_by_itself(ams, app, services):
    answer = start(ams, "3ds-late", CUSTOM_REASONS)
    other = start(ams, "3ds-late-2", NORMAL_ONLY)
    services.clock.advance(services.config.challenge_ttl - 5)
    assert inquire(ams, "3ds-late")["vaultingStatus"] == "PROCESSING"
    services.clock.advance(10)
    state = inquire(ams, "3ds-late")
    assert (state["vaultingStatus"], state["vaultingResultCode"]) == ("FAIL", "VERIFY_TIMES_EXCEED_LIMIT")
    assert state["vaultingResultMessage"] == "The 3DS verification was not completed within 15 minutes."
    page = app.test_client().post(challenge_path(answer), data={"action": "authenticate"})
    assert page.status_code == 200 and "already over" in page.get_data(as_text=True)
    # the other one is failed by the sweep (the lead's background loop calls the same method)
    assert services.store.get_vault("SANDBOX_TEST", "3ds-late-2")["status"] == "PROCESSING"
    assert services.vaulting.expire_challenges() == 1
    late = services.store.get_vault("SANDBOX_TEST", "3ds-late-2")
    assert (late["status"], late["vaulting_result_code"]) == ("FAIL", "USER_PAYMENT_VERIFICATION_FAILED")
    assert services.vaulting.expire_challenges() == 0
    assert other["vaultingRequestId"] == "3ds-late-2"


def test_the_expiry_is_noticed_when_the_page_is_opened(ams, app, services):
    answer = start(ams, "3ds-late-page")
    services.clock.advance(services.config.challenge_ttl + 1)
    page = app.test_client().get(challenge_path(answer))
    assert page.status_code == 200 and "already over" in page.get_data(as_text=True)
    assert services.store.get_vault("SANDBOX_TEST", "3ds-late-page")["status"] == "FAIL"


def test_unknown_challenge_is_a_404_page(app):
    response = app.test_client().get("/challenge/ch_nope")
    assert response.status_code == 404 and "no 3DS verification" in response.get_data(as_text=True)


def test_a_request_without_an_absolute_redirect_url_ends_on_a_result_page(ams, app):
    answer = start(ams, "3ds-sample-url", redirectUrl="www.test.com")
    response = app.test_client().post(challenge_path(answer), data={"action": "authenticate"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "www.test.com" in html and 'id="status">SUCCESS' in html


@pytest.mark.parametrize("url, ok", [
    ("https://shop.example/back", True), ("http://127.0.0.1:9000/r?x=1", True), ("myapp://vaulted", True),
    ("www.test.com", False), ("/relative", False), ("javascript:alert(1)", False), ("https:evil", False),
    ("", False), (None, False), ("data:text/html,hi", False),
])
def test_redirect_targets(url, ok):
    assert redirect_target(url) == (url if ok else None)


# -- the admin API: completion without a browser ---------------------------------------------

def admin_complete(app, request_id: str, **body):
    response = app.test_client().post(f"/_mockpay/vaults/{request_id}/complete", json=body)
    return response.status_code, response.get_json()


@pytest.mark.parametrize("outcome, status, reason", [
    ("success", "SUCCESS", "SUCCESS"), ("fail", "FAIL", "USER_PAYMENT_VERIFICATION_FAILED"),
    ("cancel", "FAIL", "USER_PAYMENT_VERIFICATION_FAILED"),
])
def test_admin_complete(ams, app, outcome, status, reason):
    start(ams, f"adm-{outcome}")
    code, body = admin_complete(app, f"adm-{outcome}", outcome=outcome)
    assert code == 200
    assert (body["vaultingStatus"], body["vaultingResultCode"]) == (status, reason)
    assert body["redirectUrl"] == "https://merchant.example/return" and body["clientId"] == "SANDBOX_TEST"
    assert inquire(ams, f"adm-{outcome}")["vaultingStatus"] == status
    code, body = admin_complete(app, f"adm-{outcome}", outcome="success")
    assert code == 409 and body["error"]["code"] == "ALREADY_FINAL"


def test_admin_complete_errors(ams, app, services, merchant_keys):
    assert admin_complete(app, "nope", outcome="success")[0] == 404
    start(ams, "adm-err")
    code, body = admin_complete(app, "adm-err", outcome="maybe")
    assert code == 400 and "outcome must be" in body["error"]["message"]
    ams.call(VAULT, vault_body("adm-plain"))
    code, body = admin_complete(app, "adm-plain", outcome="success")
    assert code == 409 and body["error"]["code"] == "NO_CHALLENGE"
    # the same id used by two clients is ambiguous until clientId says which
    services.clients.add("SANDBOX_OTHER", public_key=merchant_keys["public"])
    other = type(ams)(app, {**ams.merchant, "client_id": "SANDBOX_OTHER"})
    other.call(VAULT, vault_body("adm-err", ALL_LINKS))
    code, body = admin_complete(app, "adm-err", outcome="success")
    assert code == 409 and body["error"]["code"] == "AMBIGUOUS"
    code, body = admin_complete(app, "adm-err", outcome="fail", clientId="SANDBOX_OTHER")
    assert code == 200 and body["clientId"] == "SANDBOX_OTHER" and body["vaultingStatus"] == "FAIL"
    assert inquire(ams, "adm-err")["vaultingStatus"] == "PROCESSING"


def test_admin_complete_honours_a_one_time_code_only_when_given(ams, app):
    start(ams, "adm-otp", ONE_TIME_CODE)
    code, body = admin_complete(app, "adm-otp", outcome="success", otp="999999")
    assert code == 422 and body["error"]["code"] == "WRONG_CODE"
    code, body = admin_complete(app, "adm-otp", outcome="success")
    assert code == 200 and body["vaultingStatus"] == "SUCCESS"


def test_admin_complete_after_expiry(ams, app, services):
    start(ams, "adm-late")
    services.clock.advance(services.config.challenge_ttl)
    code, body = admin_complete(app, "adm-late", outcome="success")
    assert code == 409 and body["error"]["code"] == "ALREADY_FINAL"
    assert body["error"]["details"]["vaultingStatus"] == "FAIL"


def test_finalisation_runs_inside_the_transaction(ams, app, services):
    """A listener's writes commit with the vault's change (the notification outbox relies on it)."""
    def listener(db, vault):
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"final:{vault['vaulting_request_id']}",
                                                                   vault["status"]))
    services.vaulting.final_listeners.append(listener)
    answer = start(ams, "3ds-tx")
    app.test_client().post(challenge_path(answer), data={"action": "fail"})
    assert services.store.get_meta("final:3ds-tx") == "FAIL"


def test_inquire_scenarios_by_request_id_prefix(ams):
    ams.call(VAULT, vault_body("mockpay-inquire-unknown-1"))
    answer = inquire(ams, "mockpay-inquire-unknown-1")
    assert answer["result"] == {"resultStatus": "U", "resultCode": "UNKNOWN_EXCEPTION",
                                "resultMessage": "An API call has failed, which is caused by unknown reasons."}
    ams.call(VAULT, vault_body("mockpay-inquire-missing-1"))
    assert inquire(ams, "mockpay-inquire-missing-1")["result"]["resultCode"] == "VAULTING_NOT_EXIST"


@pytest.mark.parametrize("card, stored", [("4000000401000007", False), ("4000000406000002", True)])
def test_a_faulted_request_is_stored_only_when_the_scenario_says_processed(ams, services, card, stored):
    response = ams.post(VAULT, vault_body("fault-" + card[-8:], card), verify=False)
    assert response.status_code in (500, 503)
    assert (services.store.get_vault("SANDBOX_TEST", "fault-" + card[-8:]) is not None) is stored


def test_no_urls_means_nothing_is_stored(ams, services):
    answer = ams.call(VAULT, vault_body("vip-none", "4000000208000002"))
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS"
    assert not {"normalUrl", "schemeUrl", "applinkUrl"} & set(answer)
    assert services.store.get_vault("SANDBOX_TEST", "vip-none") is None
    assert inquire(ams, "vip-none")["result"]["resultCode"] == "VAULTING_NOT_EXIST"
