"""The 3DS challenge in real headless Chromium: the official SDK vaults a card that needs
a challenge, the browser opens normalUrl, the buyer authenticates (or fails), the browser
lands on the merchant's redirectUrl, and inquireVaulting tells the final state."""
from __future__ import annotations

import uuid

import pytest

from tests.integration.sdk import execute, inquire_request, vault_request

pytestmark = pytest.mark.browser

VISA_OK = "4054695723100768"      # Antom's success Visa; with is3DSAuthentication it gets a challenge
ONE_TIME_CODE = "4000000505000002"  # the catalogue's challenge that wants code 123456
MERCHANT_PAGE = "<!doctype html><title>Shop</title><h1 id='shop'>Back at the shop</h1>"


@pytest.fixture
def merchant_return(httpserver):
    """The merchant's redirectUrl: a tiny local page."""
    httpserver.expect_request("/vaulted").respond_with_data(MERCHANT_PAGE, content_type="text/html")
    return httpserver


def start_challenge(sdk_client, redirect_url: str, card: str, is3ds) -> tuple[str, dict]:
    request_id = "browser-" + uuid.uuid4().hex[:12]
    answer = execute(sdk_client, vault_request(request_id, card, redirect_url=redirect_url, is3ds=is3ds))
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS", answer
    assert answer["result"]["resultStatus"] == "U"
    return request_id, answer


def assert_png_written(path) -> None:
    assert path.is_file(), f"no screenshot at {path}"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_authenticate_in_chromium_then_the_vault_is_success(sdk_client, page, merchant_return, artifacts_dir):
    redirect_url = merchant_return.url_for("/vaulted") + "?order=42"
    request_id, answer = start_challenge(sdk_client, redirect_url, VISA_OK, is3ds=True)
    assert execute(sdk_client, inquire_request(request_id))["vaultingStatus"] == "PROCESSING"

    page.goto(answer["normalUrl"])
    assert page.locator("#masked-card").inner_text() == "VISA 405469******0768"
    assert page.locator("#merchant-id").inner_text() == "SANDBOX_SDK"
    assert VISA_OK not in page.content()
    page.fill("#otp", "482913")
    challenge_shot = artifacts_dir / "challenge-authenticate.png"
    challenge_shot.unlink(missing_ok=True)
    page.screenshot(path=str(challenge_shot), full_page=True)
    page.click("#authenticate")

    page.wait_for_url(redirect_url)
    assert page.locator("#shop").inner_text() == "Back at the shop"
    landed_shot = artifacts_dir / "challenge-authenticate-landed.png"
    landed_shot.unlink(missing_ok=True)
    page.screenshot(path=str(landed_shot))
    assert_png_written(challenge_shot)
    assert_png_written(landed_shot)
    landings = [request for request, _ in merchant_return.log if request.path == "/vaulted"]
    assert [r.args["order"] for r in landings] == ["42"]

    state = execute(sdk_client, inquire_request(request_id))
    assert state["vaultingStatus"] == "SUCCESS" and state["vaultingResultCode"] == "SUCCESS"
    card = state["paymentMethodDetail"]["card"]
    assert card["maskedCardNo"] == "************0768" and card["brand"] == "VISA" and card["cardToken"]
    assert "normalUrl" not in state


def test_fail_the_challenge_in_chromium_then_the_vault_is_fail(sdk_client, page, merchant_return, artifacts_dir):
    redirect_url = merchant_return.url_for("/vaulted")
    request_id, answer = start_challenge(sdk_client, redirect_url, VISA_OK, is3ds=True)
    page.goto(answer["normalUrl"])
    page.click("#fail")
    page.wait_for_url(redirect_url)
    shot = artifacts_dir / "challenge-fail-landed.png"
    shot.unlink(missing_ok=True)
    page.screenshot(path=str(shot))
    assert_png_written(shot)

    state = execute(sdk_client, inquire_request(request_id))
    assert state["vaultingStatus"] == "FAIL"
    assert state["vaultingResultCode"] == "USER_PAYMENT_VERIFICATION_FAILED"
    assert state["vaultingResultMessage"] == "The buyer failed the 3DS verification."
    assert "paymentMethodDetail" not in state
    # the page now says the verification is over instead of offering the buttons again
    page.goto(answer["normalUrl"])
    assert page.locator("#status").inner_text() == "FAIL"
    assert page.locator("#authenticate").count() == 0


def test_a_wrong_code_in_chromium_keeps_the_challenge_open(sdk_client, page, merchant_return, artifacts_dir):
    redirect_url = merchant_return.url_for("/vaulted")
    request_id, answer = start_challenge(sdk_client, redirect_url, ONE_TIME_CODE, is3ds=None)
    page.goto(answer["normalUrl"])
    page.fill("#otp", "000000")
    page.click("#authenticate")
    assert page.locator("#error").inner_text() == "That code is not correct. 2 tries left."
    shot = artifacts_dir / "challenge-wrong-code.png"
    shot.unlink(missing_ok=True)
    page.screenshot(path=str(shot))
    assert_png_written(shot)
    assert execute(sdk_client, inquire_request(request_id))["vaultingStatus"] == "PROCESSING"
    page.fill("#otp", "123456")
    page.click("#authenticate")
    page.wait_for_url(redirect_url)
    assert execute(sdk_client, inquire_request(request_id))["vaultingStatus"] == "SUCCESS"


def test_three_wrong_codes_in_chromium_end_the_challenge(sdk_client, page, merchant_return):
    redirect_url = merchant_return.url_for("/vaulted-after-3")
    request_id, answer = start_challenge(sdk_client, redirect_url, ONE_TIME_CODE, is3ds=None)
    page.goto(answer["normalUrl"])
    for left in ("2 tries", "1 try"):
        page.fill("#otp", "000000")
        page.click("#authenticate")
        assert page.locator("#error").inner_text() == f"That code is not correct. {left} left."
    page.fill("#otp", "000000")
    page.click("#authenticate")
    page.wait_for_url(redirect_url)  # the issuer ends it: back to the merchant, as after a failure
    state = execute(sdk_client, inquire_request(request_id))
    assert (state["vaultingStatus"], state["vaultingResultCode"]) == ("FAIL", "VERIFY_TIMES_EXCEED_LIMIT")
