"""The admin token in a real browser (headless Chromium) against a real `mockpay
serve` started with MOCKPAY_ADMIN_TOKEN: without the token the dashboard is
refused; opened once with ?token= it redirects to a clean URL, remembers the
token in an HttpOnly cookie, and its forms (the clock's advance button) work."""
from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.support import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    token = "browser-" + uuid.uuid4().hex
    server = ServerProcess(tmp_path_factory.mktemp("token-ui") / "data", workers=1,
                           env={"MOCKPAY_ADMIN_TOKEN": token}).start()
    server.token = token
    yield server
    server.stop()


def epoch(server) -> float:
    answer = requests.get(server.base_url + "/_mockpay/clock", timeout=10,
                          headers={"Authorization": f"Bearer {server.token}"})
    assert answer.status_code == 200
    return answer.json()["epoch"]


def test_without_the_token_the_dashboard_is_refused(guarded, browser):
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(guarded.base_url + "/_mockpay/ui")
    assert response.status == 401
    assert "UNAUTHORIZED" in page.content()
    context.close()


def test_token_once_then_the_cookie(guarded, browser, artifacts_dir):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    response = page.goto(f"{guarded.base_url}/_mockpay/ui/clock?token={guarded.token}")
    assert response.status == 200
    assert page.url == guarded.base_url + "/_mockpay/ui/clock"   # the token left the address bar
    cookie = next(c for c in context.cookies() if c["name"] == "mockpay_admin_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/_mockpay"
    assert page.evaluate("document.cookie") == ""                # not readable by page scripts

    before = epoch(guarded)
    page.fill("#seconds", "600")
    page.click("#advance-button")
    page.wait_for_url(re.compile(r"/clock\?advanced=600$"))
    assert epoch(guarded) - before >= 600
    page.goto(guarded.base_url + "/_mockpay/ui")                 # other pages: the cookie alone
    assert page.locator("h1").count() >= 1
    target = artifacts_dir / "admin-token"
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / "dashboard-with-token.png"), full_page=True)
    assert guarded.token not in guarded.log()
    context.close()
