from __future__ import annotations

import json
import os

import pytest

from mockpay import create_app, signing
from tests.support import response_verifies, sdk_body, signed_headers


@pytest.fixture(scope="session")
def merchant_keys():
    """One merchant key pair for the whole run (RSA key generation is slow)."""
    key = signing.generate_private_key()
    return {"private": signing.private_key_body(key), "public": signing.public_key_body(key.public_key())}


@pytest.fixture(scope="session")
def keys_template(tmp_path_factory):
    """A data directory's keys, generated once and copied into each test's data dir."""
    from mockpay.crypto import Keyring
    base = tmp_path_factory.mktemp("keys-template")
    Keyring(base)
    return base / "keys"


@pytest.fixture
def data_dir(tmp_path, keys_template):
    import shutil
    target = tmp_path / "data"
    shutil.copytree(keys_template, target / "keys")
    return target


@pytest.fixture
def app(data_dir):
    app = create_app({"data_dir": data_dir, "testing": True, "dispatcher": False})
    yield app
    app.extensions["mockpay"].store.close()


@pytest.fixture
def services(app):
    return app.extensions["mockpay"]


@pytest.fixture
def merchant(services, merchant_keys):
    services.clients.add("SANDBOX_TEST", public_key=merchant_keys["public"])
    return {"client_id": "SANDBOX_TEST", "private_key": merchant_keys["private"],
            "alipay_public_key": services.keyring.public_key_body}


class Caller:
    """Signs requests as the SDK does and checks every answer's signature."""

    def __init__(self, app, merchant):
        self.http = app.test_client()
        self.merchant = merchant

    def post(self, path: str, body, *, raw: str | None = None, headers: dict | None = None,
             method: str = "POST", verify: bool = True):
        text = raw if raw is not None else sdk_body(body)
        h = signed_headers(self.merchant["client_id"], self.merchant["private_key"], path, text, method=method)
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        response = self.http.open(path, method=method, data=text.encode(), headers=h)
        if verify:
            assert response.status_code == 200, response.data
            assert response_verifies(path, response.headers, response.data,
                                     self.merchant["alipay_public_key"], method=method), \
                "the answer's signature does not verify"
        return response

    def call(self, path: str, body, **kwargs) -> dict:
        return json.loads(self.post(path, body, **kwargs).data)


@pytest.fixture
def ams(app, merchant):
    return Caller(app, merchant)


@pytest.fixture
def make_ams(data_dir, merchant_keys):
    """An app with settings of its own and the merchant registered on it:
    `services, caller = make_ams(session_ttl=120)`."""
    made = []

    def make(**settings):
        app = create_app({"data_dir": data_dir, "testing": True, "dispatcher": False, **settings})
        made.append(app)
        svc = app.extensions["mockpay"]
        svc.clients.add("SANDBOX_TEST", public_key=merchant_keys["public"])
        return svc, Caller(app, {"client_id": "SANDBOX_TEST", "private_key": merchant_keys["private"],
                                 "alipay_public_key": svc.keyring.public_key_body})

    yield make
    for app in made:
        app.extensions["mockpay"].store.close()


# -- pytest plugin tests (issue 6, part 4) --
# `pytester` runs pytest on generated test files that use the `mockpay` fixture.
pytest_plugins = ["pytester"]


# -- browser ----------------------------------------------------------------------
# One Playwright and one headless Chromium for the whole run: Playwright's sync API
# cannot run two instances at once in a process, so every browser test shares this.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium through Playwright (never `playwright install`).
    Skipped where /usr/bin/chromium is missing, except under CI=true, where that fails."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
