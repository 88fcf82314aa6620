"""The dashboard in real headless Chromium against a real mockpay server (the pytest
plugin's in-process HTTP server, mockpay.testing.MockpayServer, with its notification
dispatcher running). Vaults are made with the official SDK, notifications go to a real
local receiver, and every page is opened, used (clock advance, resend, the challenge
link) and photographed into test-artifacts/."""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mockpay.testing import MockpayServer
from tests.webhook import ACK

pytestmark = pytest.mark.browser

UI = "/_mockpay/ui"
SUCCESS_VISA = "4054695723100768"
FAILURE_VISA = "4054692760174822"
CHALLENGE = "4000000207000003"     # VERIFICATION_IN_PROCESS: the 3DS challenge stays open
CVV = "917"
FULL_NUMBERS = (SUCCESS_VISA, FAILURE_VISA, CHALLENGE)


class _Receiver(BaseHTTPRequestHandler):
    """The merchant's notification endpoint: /ok acknowledges, anything else answers 500."""
    hits: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.hits.append(self.path)
        status, body = (ACK[0], ACK[1]) if self.path == "/ok" else (500, "down for maintenance")
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def wait_for(check, what: str, timeout: float = 20.0):
    """Poll until check() is truthy (background delivery); fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory, mockpay_template, receiver):
    """A real mockpay server with three vaults (success, fail, an open 3DS challenge)
    and two notifications (one delivered, one failing), all made through the SDK."""
    srv = MockpayServer(tmp_path_factory.mktemp("dashboard") / "data", client_id="SANDBOX_DASH",
                        template=mockpay_template).start()
    b = srv.builder
    made = {}
    for key, number, url in (("ok", SUCCESS_VISA, f"{receiver}/ok"), ("fail", FAILURE_VISA, f"{receiver}/down"),
                             ("3ds", CHALLENGE, f"{receiver}/ok")):
        request_id = f"dash-{key}-{b.request_id('v')[-8:]}"
        answer = srv.execute(b.vault_payment_method_request(card_no=number, card={"cvv": CVV},
                                                            vaultingRequestId=request_id,
                                                            vaultingNotificationUrl=url))
        made[key] = (request_id, answer)
    assert made["ok"][1]["result"]["resultCode"] == "SUCCESS"
    assert made["fail"][1]["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert made["3ds"][1]["result"]["resultCode"] == "VERIFICATION_IN_PROCESS"
    srv.made = {k: v[0] for k, v in made.items()}

    def both_attempted():
        found = srv.admin("GET", "/_mockpay/notifications")["notifications"]
        return len(found) == 2 and all(n["attempts"][0]["state"] in ("acked", "failed") for n in found)

    wait_for(both_attempted, "the dispatcher's first attempt of both notifications")
    yield srv
    srv.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots(artifacts_dir):
    target = artifacts_dir / "dashboard"
    target.mkdir(parents=True, exist_ok=True)
    return target


def snap(page, shots, name: str):
    path = shots / f"{name}.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert len(data) > 10_000, f"{path} is only {len(data)} bytes: a blank page?"
    return path


def no_card_data(html: str) -> None:
    for number in FULL_NUMBERS:
        assert number not in html
    assert f">{CVV}<" not in html


def mock_epoch(server) -> float:
    with urllib.request.urlopen(server.base_url + "/_mockpay/clock", timeout=10) as response:
        return json.loads(response.read())["epoch"]


def test_every_page_loads_and_is_photographed(server, page, shots):
    ok, fail, challenge = server.made["ok"], server.made["fail"], server.made["3ds"]

    page.goto(server.base_url + UI + "/")
    assert page.url.endswith(UI + "/vaults")
    assert page.locator("#vaults tbody tr").count() == server.services.store.count_vaults()
    table = page.locator("#vaults").inner_text()
    for request_id in (ok, fail, challenge):
        assert request_id in table
    for masked in ("405469******0768", "405469******4822", "400000******0003"):
        assert masked in table
    no_card_data(page.content())
    snap(page, shots, "vaults")

    page.select_option("select[name=status]", "FAIL")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"status=FAIL"))
    assert page.locator("#vaults tbody tr").count() == 1 and fail in page.locator("#vaults").inner_text()
    snap(page, shots, "vaults-filtered")

    page.goto(server.base_url + UI + "/vaults")
    page.click(f"text={ok}")
    timeline = page.locator("#timeline").inner_text()
    assert "Vault requested" in timeline and "Vault SUCCESS" in timeline
    assert "attempt 1 sent" in timeline and "HTTP 200" in timeline and "acked" in timeline
    no_card_data(page.content())
    snap(page, shots, "vault-timeline")

    page.goto(server.base_url + UI + "/notifications")
    table = page.locator("#notifications").inner_text()
    assert ok in table and fail in table and "delivered" in table and "HTTP 500" in table
    listed = server.admin("GET", "/_mockpay/notifications")["notifications"]
    assert page.locator("button.resend").count() == len(listed) >= 2
    snap(page, shots, "notifications")

    page.goto(server.base_url + UI + "/requests")
    journal = page.locator("#requests").inner_text()
    assert ok in journal and fail in journal and "SUCCESS" in journal
    no_card_data(page.content())
    snap(page, shots, "requests")

    page.goto(server.base_url + UI + "/scenarios")
    table = page.locator("#scenarios").inner_text()
    assert "antom-failure-visa" in table and "DO_NOT_HONOR" in table and "VERIFICATION_IN_PROCESS" in table
    assert page.locator("#scenarios tbody tr").count() == len(server.services.scenarios.rules) + 1
    snap(page, shots, "scenarios")

    page.goto(server.base_url + UI + "/clock")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", page.locator("#clock-now").inner_text())
    snap(page, shots, "clock")


def test_the_open_challenge_is_one_click_from_its_vault(server, page, shots):
    request_id = "dash-challenge-" + server.builder.request_id("v")[-8:]
    answer = server.execute(server.builder.vault_payment_method_request(card_no=CHALLENGE,
                                                                        vaultingRequestId=request_id))
    challenge_id = answer["normalUrl"].rsplit("/", 1)[1]
    page.goto(server.base_url + UI + "/vaults?status=PROCESSING")
    page.click(f"text={request_id}")
    timeline = page.locator("#timeline").inner_text()
    assert "3DS challenge opened" in timeline and "open the challenge page" in timeline
    snap(page, shots, "vault-challenge-open")
    page.click("a.challenge-link")
    assert page.url == f"{server.base_url}/challenge/{challenge_id}"
    assert page.locator("button[value=authenticate]").count() == 1
    assert "400000******0003" in page.content()


def test_the_advance_button_moves_the_clock(server, page, shots):
    page.goto(server.base_url + UI + "/clock")
    before = mock_epoch(server)
    shown_before = page.locator("#clock-now").inner_text()
    page.fill("#seconds", "7200")
    page.click("#advance-button")
    page.wait_for_url(re.compile(r"/clock\?advanced=7200$"))
    assert "moved forward 7200 seconds" in page.locator("#advanced").inner_text()
    after = mock_epoch(server)
    assert after - before >= 7200
    assert page.locator("#clock-now").inner_text() >= shown_before
    from mockpay.clock import iso
    assert page.locator("#clock-now").inner_text() >= iso(before + 7200)
    snap(page, shots, "clock-advanced")

    # a quick button too, and the nav's clock follows
    page.click("text=+1 hour")
    page.wait_for_url(re.compile(r"advanced=3600$"))
    assert mock_epoch(server) - after >= 3600
    assert page.locator("#mock-now").inner_text() >= iso(after + 3600)


def test_the_resend_button_sends_the_notification_again(server, page, shots, receiver):
    request_id = server.made["ok"]
    found = server.admin("GET", f"/_mockpay/notifications?vaultingRequestId={request_id}")["notifications"]
    nid, attempts_before = found[0]["id"], len(found[0]["attempts"])
    page.goto(server.base_url + UI + f"/notifications?vaultingRequestId={request_id}")
    page.click(f"#notification-{nid} button.resend")
    page.wait_for_url(re.compile(r"/notifications\?vaultingRequestId="))

    def resent_and_acked():
        n = server.admin("GET", f"/_mockpay/notifications/{nid}")
        return len(n["attempts"]) == attempts_before + 1 and n["attempts"][-1]["state"] == "acked" and n

    notification = wait_for(resent_and_acked, "the resent attempt to be acknowledged")
    assert notification["attempts"][-1]["manual"] is True
    page.reload()
    assert page.locator(f"#notification-{nid} tr.attempt").count() == attempts_before + 1
    snap(page, shots, "notifications-resent")
