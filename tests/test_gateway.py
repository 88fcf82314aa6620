"""Gateway conventions: prefixes, signature check, envelope, signed answers."""
from __future__ import annotations

import json

import pytest
from werkzeug.exceptions import InternalServerError, ServiceUnavailable

from tests.support import response_verifies, sdk_body, signed_headers, vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"


def assert_signed_failure(response, path, merchant, code, status="F", method="POST"):
    assert response.status_code == 200
    assert response_verifies(path, response.headers, response.data, merchant["alipay_public_key"], method=method)
    body = json.loads(response.data)
    assert body["result"]["resultCode"] == code, body
    assert body["result"]["resultStatus"] == status
    return body


@pytest.mark.parametrize("prefix", ["/ams/api/v1", "/ams/sandbox/api/v1", "/v1"])
def test_every_prefix_serves_vault_payment_method(ams, services, prefix):
    body = ams.call(f"{prefix}/vaults/vaultPaymentMethod", vault_body(f"id{len(prefix)}"))
    assert body["result"] == {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success."}  # the docs sample
    assert services.store.count_vaults() == 1


def test_answer_headers_are_lower_case_and_signature_is_url_encoded(ams):
    response = ams.post(VAULT, vault_body())
    names = [k for k, _ in response.headers.items()]
    for name in ("client-id", "response-time", "signature"):
        assert name in names
    value = response.headers["signature"].split("signature=", 1)[1]
    assert "=" not in value and "+" not in value and "/" not in value
    assert response.headers["signature"].startswith("algorithm=RSA256,keyVersion=1,signature=")
    assert response.headers["response-time"][-6:] == "+00:00"


def test_signature_covers_raw_bytes_of_an_indent_3_body(ams):
    text = sdk_body(vault_body())
    assert "\n   " in text
    assert ams.call(VAULT, None, raw=text)["result"]["resultCode"] == "SUCCESS"


@pytest.mark.parametrize("form", ["iso", "iso-offset", "millis", "seconds"])
def test_request_time_in_iso_or_epoch_millis(ams, form):
    import datetime as dt
    import time
    now = time.time()
    request_time = {
        "iso": dt.datetime.fromtimestamp(int(now), dt.timezone.utc).isoformat(),
        "iso-offset": dt.datetime.fromtimestamp(int(now), dt.timezone(dt.timedelta(hours=8))).isoformat(),
        "millis": str(int(now * 1000)),
        "seconds": str(int(now)),
    }[form]
    text = sdk_body(vault_body())
    headers = signed_headers(ams.merchant["client_id"], ams.merchant["private_key"], VAULT, text,
                             request_time=request_time)
    response = ams.http.post(VAULT, data=text, headers=headers)
    assert json.loads(response.data)["result"]["resultCode"] == "SUCCESS"


def test_absolute_form_request_target_is_routed_by_path(ams):
    """The SDK writes `POST https://host/ams/... HTTP/1.1`; Flask must route and verify by path."""
    text = sdk_body(vault_body())
    headers = signed_headers(ams.merchant["client_id"], ams.merchant["private_key"], VAULT, text)
    response = ams.http.post("https://localhost" + VAULT, data=text, headers=headers)
    assert json.loads(response.data)["result"]["resultCode"] == "SUCCESS"


class TestGatewayErrors:
    def _send(self, ams, headers_update=None, text=None, path=VAULT, method="POST", sign_path=None,
              sign_body=None):
        text = text if text is not None else sdk_body(vault_body())
        headers = signed_headers(ams.merchant["client_id"], ams.merchant["private_key"], sign_path or path,
                                 sign_body if sign_body is not None else text, method=method)
        headers.update(headers_update or {})
        headers = {k: v for k, v in headers.items() if v is not None}
        return ams.http.open(path, method=method, data=text, headers=headers)

    def test_missing_signature(self, ams, services):
        r = self._send(ams, {"signature": None})
        assert_signed_failure(r, VAULT, ams.merchant, "INVALID_SIGNATURE")
        assert services.store.count_vaults() == 0

    def test_malformed_signature_header(self, ams, services):
        r = self._send(ams, {"signature": "garbage"})
        assert_signed_failure(r, VAULT, ams.merchant, "INVALID_SIGNATURE")
        assert services.store.count_vaults() == 0

    def test_tampered_body(self, ams, services):
        text = sdk_body(vault_body())
        r = self._send(ams, text=text.replace("Ada", "Eve"), sign_body=text)
        assert_signed_failure(r, VAULT, ams.merchant, "INVALID_SIGNATURE")
        assert services.store.count_vaults() == 0
        assert "vaultingRequestId" not in r.get_json()  # an unverified body is not echoed

    def test_signature_for_another_path(self, ams, services):
        r = self._send(ams, sign_path="/ams/api/v1/vaults/inquireVaulting")
        assert_signed_failure(r, VAULT, ams.merchant, "INVALID_SIGNATURE")
        assert services.store.count_vaults() == 0

    def test_signed_by_another_key(self, ams, services):
        from mockpay import signing
        other = signing.private_key_body(signing.generate_private_key())
        text = sdk_body(vault_body())
        headers = signed_headers(ams.merchant["client_id"], other, VAULT, text)
        r = ams.http.post(VAULT, data=text, headers=headers)
        assert_signed_failure(r, VAULT, ams.merchant, "INVALID_SIGNATURE")
        assert services.store.count_vaults() == 0

    def test_unknown_client(self, ams, services):
        r = self._send(ams, {"client-id": "NOBODY"})
        body = assert_signed_failure(r, VAULT, ams.merchant, "INVALID_CLIENT")
        assert "NOBODY" in body["result"]["resultMessage"]
        assert r.headers["client-id"] == "NOBODY"
        assert services.store.count_vaults() == 0

    def test_missing_client_id(self, ams, services):
        r = self._send(ams, {"client-id": None})
        assert_signed_failure(r, VAULT, ams.merchant, "INVALID_CLIENT")
        assert services.store.count_vaults() == 0

    def test_client_without_key(self, ams, services):
        services.store.add_client("NOKEY", None, None, "2026-01-01T00:00:00+00:00")
        r = self._send(ams, {"client-id": "NOKEY"})
        assert_signed_failure(r, VAULT, ams.merchant, "KEY_NOT_FOUND")
        assert services.store.count_vaults() == 0

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
    def test_method_other_than_post(self, ams, services, method):
        r = self._send(ams, method=method)
        assert_signed_failure(r, VAULT, ams.merchant, "METHOD_NOT_SUPPORTED", method=method)
        assert services.store.count_vaults() == 0

    @pytest.mark.parametrize("path", ["/ams/api/v1/vaults/nothingHere", "/v1/payments/pay",
                                      "/ams/sandbox/api/v1/x"])
    def test_unknown_api_path(self, ams, path):
        r = self._send(ams, path=path)
        assert_signed_failure(r, path, ams.merchant, "INVALID_API")

    @pytest.mark.parametrize("text", ["not json", "{\"a\":", "", "\xff"])
    def test_body_not_json(self, ams, services, text):
        r = self._send(ams, text=text)
        body = assert_signed_failure(r, VAULT, ams.merchant, "PARAM_ILLEGAL")
        assert "body" in body["result"]["resultMessage"]
        assert services.store.count_vaults() == 0

    @pytest.mark.parametrize("text", ["[]", "1", "\"s\"", "null"])
    def test_body_not_an_object(self, ams, services, text):
        r = self._send(ams, text=text)
        body = assert_signed_failure(r, VAULT, ams.merchant, "PARAM_ILLEGAL")
        assert "JSON object" in body["result"]["resultMessage"]
        assert services.store.count_vaults() == 0

    @pytest.mark.parametrize("error", [RuntimeError, InternalServerError, ServiceUnavailable])
    def test_internal_fault_is_unknown_exception_without_trace(self, ams, services, monkeypatch, error):
        """Our own fault, never the request's: a Python exception, or a server-side HTTP
        error (Flask raises InternalServerError when an error handler itself fails), is
        UNKNOWN_EXCEPTION, not PARAM_ILLEGAL, with no trace of it in the answer."""
        def boom(*a, **k):
            raise error("secret internals 4054695723100768")
        monkeypatch.setattr(services.vaulting, "vault_payment_method", boom)
        r = self._send(ams)
        assert_signed_failure(r, VAULT, ams.merchant, "UNKNOWN_EXCEPTION", status="U")
        assert "Traceback" not in r.get_data(as_text=True)
        assert "secret" not in r.get_data(as_text=True)
        assert services.store.count_vaults() == 0

    def test_body_over_the_limit(self, make_ams):
        svc, caller = make_ams(max_body_bytes=2000)
        big = vault_body()
        big["metadata"] = "x" * 3000
        body = caller.call(VAULT, big)
        assert body["result"]["resultCode"] == "PARAM_ILLEGAL"
        assert "exceeds 2000 bytes" in body["result"]["resultMessage"]
        assert svc.store.count_vaults() == 0


@pytest.mark.parametrize("request_time,words", [
    ("yesterday", "ISO 8601"),
    ("2020-01-01T00:00:00+00:00", "away from now"),
    ("2099-01-01T00:00:00+00:00", "away from now"),
    ("1577836800000", "away from now"),
    ("2026-11-22T10:00:00", "UTC offset"),
])
def test_garbage_or_stale_request_time(ams, services, request_time, words):
    text = sdk_body(vault_body())
    headers = signed_headers(ams.merchant["client_id"], ams.merchant["private_key"], VAULT, text,
                             request_time=request_time)
    response = ams.http.post(VAULT, data=text, headers=headers)
    body = assert_signed_failure(response, VAULT, ams.merchant, "PARAM_ILLEGAL")
    assert "request-time" in body["result"]["resultMessage"] and words in body["result"]["resultMessage"]
    assert services.store.count_vaults() == 0


def test_malformed_client_id_is_not_echoed(ams, services):
    text = sdk_body(vault_body())
    headers = signed_headers("bad id<script>", ams.merchant["private_key"], VAULT, text)
    response = ams.http.post(VAULT, data=text, headers=headers)
    assert response.headers["client-id"] == ""
    assert_signed_failure(response, VAULT, {**ams.merchant}, "INVALID_CLIENT")
    assert services.store.count_vaults() == 0


def test_wrong_content_type(ams, services):
    text = sdk_body(vault_body())
    headers = signed_headers(ams.merchant["client_id"], ams.merchant["private_key"], VAULT, text)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = ams.http.post(VAULT, data=text, headers=headers)
    assert_signed_failure(response, VAULT, ams.merchant, "MEDIA_TYPE_NOT_ACCEPTABLE")
    assert services.store.count_vaults() == 0


def test_duplicated_keys_are_refused(ams, services):
    text = sdk_body(vault_body())
    dup = text.replace('"vaultingRequestId": "vault-1"', '"vaultingRequestId": "a", "vaultingRequestId": "b"')
    assert dup != text
    body = assert_signed_failure(ams.post(VAULT, None, raw=dup, verify=False), VAULT, ams.merchant,
                                 "PARAM_ILLEGAL")
    assert "vaultingRequestId" in body["result"]["resultMessage"]
    assert services.store.count_vaults() == 0
