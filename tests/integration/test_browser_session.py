"""The hosted card-binding page in real headless Chromium (Debian's, through
Playwright), against real `mockpay serve` processes."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from mockpay.store import Store
from tests.integration.sdk import execute, inquire_request
from tests.integration.sdk_sessions import session_request
from tests.support import MC_OK, VISA_OK, ServerProcess, ams_call
from tests.webhook import Receiver, admin, register

pytestmark = pytest.mark.browser

BAD_LUHN = "4054695723100769"
RETURN_PAGE = "<!doctype html><html><body><h1 id='shop'>Back at the shop</h1></body></html>"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def new_id() -> str:
    return "web-" + uuid.uuid4().hex


def screenshot(page, name: str) -> None:
    """Keep a picture of what the buyer saw (test-artifacts/ is git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fill(page, card_no: str, expiry: str = "08/30", cvv: str = "123", name: str = "Ada Lovelace") -> None:
    page.fill("#cardNumber", card_no)
    page.fill("#expiry", expiry)
    page.fill("#cvv", cvv)
    page.fill("#cardholderName", name)


@pytest.fixture
def context(browser):
    # the TLS server's certificate comes from mockpay's own CA, which Chromium does not trust
    ctx = browser.new_context(ignore_https_errors=True)
    yield ctx
    ctx.close()


@pytest.fixture
def shop(httpserver):
    """The merchant's return page, served by a real local HTTP server."""
    httpserver.expect_request("/return").respond_with_data(RETURN_PAGE, content_type="text/html")
    return httpserver


def test_bad_card_then_good_card_lands_on_redirect_url(context, sdk_client, shop):
    request_id = new_id()
    created = execute(sdk_client, session_request(request_id, redirect_url=shop.url_for("/return"),
                                                  notification_url=shop.url_for("/notify")))
    assert created["result"]["resultCode"] == "SUCCESS"
    page = context.new_page()
    first = page.goto(created["normalUrl"])
    assert first.status == 200
    assert page.inner_text("h1") == "Save your card"

    fill(page, BAD_LUHN)
    with page.expect_navigation():
        page.click("#submit")
    error = page.inner_text("#error-cardNumber")
    assert "Luhn" in error
    assert page.get_attribute("#cardNumber", "aria-invalid") == "true"
    assert page.input_value("#cardNumber") == BAD_LUHN
    assert page.input_value("#expiry") == "08/30"
    assert page.input_value("#cardholderName") == "Ada Lovelace"
    assert page.input_value("#cvv") == ""
    screenshot(page, "session-inline-error")
    assert execute(sdk_client, inquire_request(request_id))["result"]["resultCode"] == "VAULTING_NOT_EXIST"

    page.fill("#cardNumber", VISA_OK)
    page.fill("#cvv", "123")
    with page.expect_navigation(url=shop.url_for("/return")):
        page.click("#submit")
    assert page.inner_text("#shop") == "Back at the shop"

    answer = execute(sdk_client, inquire_request(request_id))
    assert answer["result"]["resultCode"] == "SUCCESS"
    assert answer["vaultingStatus"] == "SUCCESS"
    card = answer["paymentMethodDetail"]["card"]
    assert card["maskedCardNo"] == "************0768"
    assert card["cardholderName"]["lastName"] == "Lovelace"

    # the same link again: already used, and nothing more is vaulted
    again = page.goto(created["normalUrl"])
    assert again.status == 409
    assert page.get_attribute("#closed", "data-reason") == "used"
    # what the tab kept for the round-trip is still there (only a new form reads it), masked
    kept = page.evaluate("() => Object.assign({}, sessionStorage)")
    assert [k for k in kept if k.startswith("mockpay-card-")], kept
    assert VISA_OK not in json.dumps(kept) and BAD_LUHN not in json.dumps(kept)
    assert execute(sdk_client, inquire_request(request_id))["paymentMethodDetail"]["card"]["cardToken"] \
        == card["cardToken"]


def test_3ds_session_passes_the_challenge_then_inquire_and_notification_say_success(context, sdk_client,
                                                                                    tls_server, shop):
    """The whole hosted leg with 3DS: the SDK's AlipayVaultingSessionRequest with
    is3DSAuthentication "true", the card form, the real scenario engine's challenge, the
    challenge page, the merchant's redirectUrl; then inquireVaulting and notifyVaulting."""
    receiver = Receiver(tls_server.client["alipayPublicKey"])
    shop.expect_request("/notify", method="POST").respond_with_handler(receiver.handle)
    request_id = new_id()
    created = execute(sdk_client, session_request(request_id, redirect_url=shop.url_for("/return"),
                                                  notification_url=shop.url_for("/notify"), is3ds="true"))
    assert created["result"]["resultCode"] == "SUCCESS"
    page = context.new_page()
    page.goto(created["normalUrl"])
    fill(page, VISA_OK)
    with page.expect_navigation(url=re.compile(r"/challenge/ch_")):
        page.click("#submit")
    assert page.url.startswith(tls_server.gateway_url + "/challenge/")
    assert page.locator("#masked-card").inner_text() == "VISA 405469******0768"
    screenshot(page, "session-3ds-challenge")
    waiting = execute(sdk_client, inquire_request(request_id))
    assert (waiting["vaultingStatus"], waiting["vaultingResultCode"]) == ("PROCESSING", "VERIFICATION_IN_PROCESS")
    assert waiting["normalUrl"] == page.url
    assert receiver.calls_for(request_id) == []

    # the challenge came from the real engine: the catalogue's is3DSAuthentication rule
    store = Store(tls_server.data_dir / "mockpay.sqlite3")
    try:
        vault = store.get_vault(tls_server.client["clientId"], request_id)
        rule = json.loads(vault["challenge"])["rule"]
    finally:
        store.close()
    assert rule.startswith("mockpay/default_scenarios.yaml:") and rule.endswith(" antom-3ds-challenge"), rule

    with page.expect_navigation(url=shop.url_for("/return")):
        page.click("#authenticate")
    assert page.inner_text("#shop") == "Back at the shop"

    answer = execute(sdk_client, inquire_request(request_id))
    assert (answer["vaultingStatus"], answer["vaultingResultCode"]) == ("SUCCESS", "SUCCESS")
    assert answer["paymentMethodDetail"]["card"]["maskedCardNo"] == "************0768"
    [call] = receiver.wait_calls(request_id, 1)
    assert call.verified, call.verify_error  # the SDK's check_signature accepted it
    assert call.path == "/notify" and call.headers["client-id"] == tls_server.client["clientId"]
    assert call.body["result"] == {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success."}
    assert call.body["paymentMethodDetail"] == answer["paymentMethodDetail"]


def test_session_data_opens_the_page(context, sdk_client, tls_server):
    created = execute(sdk_client, session_request(new_id()))
    page = context.new_page()
    page.goto(f"{tls_server.gateway_url}/vaulting/session?sessionData="
              + quote(created["vaultingSessionData"], safe=""))
    assert page.url == created["normalUrl"]
    assert page.is_visible("#card-form")
    screenshot(page, "session-form")


# -- a server of its own, whose mock clock these tests move ---------------------------

@pytest.fixture(scope="module")
def clock_server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("session-clock") / "data", workers=2).start()
    server.client = register(server, "SANDBOX_CLOCK")
    yield server
    server.stop()


def call(server: ServerProcess, path: str, body: dict) -> dict:
    """A signed AMS call whose answer must be HTTP 200 and signed by the mock."""
    return ams_call(server, path, body).json()


def create_session(server: ServerProcess, request_id: str) -> dict:
    answer = call(server, "/ams/sandbox/api/v1/vaults/createVaultingSession",
                  {"paymentMethodType": "CARD", "vaultingRequestId": request_id,
                   "redirectUrl": "https://merchant.example/return"})
    assert answer["result"]["resultCode"] == "SUCCESS"
    return answer


def test_expired_session_shows_a_clear_page_and_vaults_nothing(context, clock_server):
    fresh = create_session(clock_server, new_id())
    open_form_id = new_id()
    open_form = create_session(clock_server, open_form_id)
    page = context.new_page()
    page.goto(open_form["normalUrl"])
    fill(page, VISA_OK)  # the buyer types, then leaves the page open past the session's end

    admin(clock_server, "POST", "/clock/advance", json={"seconds": 30 * 60 + 1})

    other = context.new_page()
    response = other.goto(fresh["normalUrl"])
    assert response.status == 410
    assert other.get_attribute("#closed", "data-reason") == "expired"
    assert "expired" in other.inner_text("h1")
    screenshot(other, "session-expired")

    with page.expect_navigation():
        page.click("#submit")
    assert page.get_attribute("#closed", "data-reason") == "expired"
    answer = call(clock_server, "/ams/sandbox/api/v1/vaults/inquireVaulting", {"vaultingRequestId": open_form_id})
    assert answer["result"]["resultCode"] == "VAULTING_NOT_EXIST"


def test_unknown_session_page(context, clock_server):
    page = context.new_page()
    response = page.goto(clock_server.base_url + "/vaulting/session/VSdoesnotexist")
    assert response.status == 404
    assert page.get_attribute("#closed", "data-reason") == "unknown"


def test_cache_card_token_expires_on_the_mock_clock(clock_server):
    """No browser here, but the same clock-moving server: a real gunicorn with two workers."""
    cache = "/ams/sandbox/api/v1/paymentMethods/cacheCard"
    card = {"cardNo": MC_OK, "expiryYear": "2030", "expiryMonth": "07"}
    tokens = [call(clock_server, cache, {"paymentMethodDetail": {"paymentMethodDetailType": "card",
                                                                 "card": card}})
              ["paymentMethodDetail"]["card"]["cardToken"] for _ in range(2)]
    vault = "/ams/sandbox/api/v1/vaults/vaultPaymentMethod"

    def vault_with(token: str) -> dict:
        return call(clock_server, vault, {
            "vaultingRequestId": new_id(), "vaultingNotificationUrl": "https://merchant.example/notify",
            "redirectUrl": "https://merchant.example/return", "env": {"terminalType": "WEB"},
            "paymentMethodDetail": {"paymentMethodType": "CARD", "card": {"cardToken": token}}})

    admin(clock_server, "POST", "/clock/advance", json={"seconds": 29 * 60})
    assert vault_with(tokens[0])["result"]["resultCode"] == "SUCCESS"
    admin(clock_server, "POST", "/clock/advance", json={"seconds": 61})
    assert vault_with(tokens[1])["result"]["resultCode"] == "INVALID_PAYMENTMETHOD_TOKEN"
    log = clock_server.log()
    assert MC_OK not in log



def test_redirect_url_without_a_scheme_shows_the_saved_card_not_an_unknown_session(context, sdk_client):
    """The docs' sample redirectUrl "www.test.com": Chromium resolved the 303 against the page
    and showed /vaulting/session/www.test.com, "Unknown card-binding session. No card was
    saved.", over a card that was saved. Now the page says what happened, as the 3DS page does."""
    request_id = new_id()
    created = execute(sdk_client, session_request(request_id, redirect_url="www.test.com"))
    assert created["result"]["resultCode"] == "SUCCESS"
    page = context.new_page()
    page.goto(created["normalUrl"])
    fill(page, VISA_OK)
    with page.expect_navigation():
        page.click("#submit")
    assert page.url == created["normalUrl"]
    assert page.get_attribute("#done", "data-status") == "SUCCESS"
    assert page.inner_text("#raw-redirect") == "www.test.com"
    assert page.locator("#closed").count() == 0
    answer = execute(sdk_client, inquire_request(request_id))
    assert answer["vaultingStatus"] == "SUCCESS"
