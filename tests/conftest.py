from __future__ import annotations

import json

import pytest

from mockpay import create_app, signing
from tests.support import response_verifies, sdk_body, signed_headers


@pytest.fixture(scope="session")
def merchant_keys():
    """One merchant key pair for the whole run (RSA key generation is slow)."""
    key = signing.generate_private_key()
    return {"private": signing.private_key_body(key), "public": signing.public_key_body(key.public_key())}


@pytest.fixture
def app(tmp_path):
    app = create_app({"data_dir": tmp_path / "data", "testing": True, "dispatcher": False})
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


# -- pytest plugin tests (issue 6, part 4) --
# `pytester` runs pytest on generated test files that use the `mockpay` fixture.
pytest_plugins = ["pytester"]
