"""The bad-input catalogue, through a real `mockpay serve` (gunicorn, two workers).

Every entry is sent over HTTP to the server and must get HTTP 200 with an answer
signed by the mock (verified with its public key), status F or U, a result code the
API documents, and a message naming the field (or the header, or the body); and
nothing may be stored: the state tables of the server's SQLite file keep their row
counts. The last test shows that the counts do move when a request is good.

The field entries are generated from the marshmallow schemas (tests/schema_fields.py):
a number, a boolean, null, an empty and an over-long string and a control character
in every string field of every API, non-ASCII in every ASCII-only one, and the wrong
types for booleans, integers and objects. View-level tests of some of these are in
tests/test_gateway.py and tests/test_vault_payment_method.py; this is the proof
through a real server.

Malformed HTTP (obsolete line folding, a bare CR, NUL, two Content-Lengths, ...)
never reaches mockpay: gunicorn answers 400 and closes the connection. Those entries
check that nothing was injected into the answer, nothing stored, and that the server
goes on serving.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from mockpay.codes import API_CODES
from tests.schema_fields import APIS, FIELDS, bad_values
from tests.support import (ServerProcess, ams_call, raw_http, response_verifies, sdk_body, signed_headers,
                           stored_rows)
from tests.webhook import register

LIMIT = 32768  # the server runs with --max-body-bytes 32768: what it leaves unread stays within
#                 what gunicorn drains before it closes a connection (64 KiB)
PREFIX = "/ams/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("bad-input") / "data", workers=2,
                           extra_args=("--max-body-bytes", str(LIMIT))).start()
    server.client = register(server, "SANDBOX_BAD")
    server.session = requests.Session()
    yield server
    server.session.close()
    server.stop()


@pytest.fixture
def nothing_stored(server):
    """The state tables' row counts do not change during the test."""
    before = stored_rows(server.data_dir)
    yield
    assert stored_rows(server.data_dir) == before, "a refused request left state behind"


def refused(server, api, response, code: str, *words: str) -> dict:
    """The answer is HTTP 200, signed by the mock, F or U, with `code` (documented for `api`)
    and a message containing every one of `words`."""
    path = PREFIX + api.path
    assert response.status_code == 200, (response.status_code, response.text[:300])
    for header in ("client-id", "response-time", "signature"):
        assert header in response.headers, f"the answer has no {header} header"
    assert response_verifies(path, response.headers, response.content, server.client["alipayPublicKey"]), \
        "the answer's signature does not verify with the mock's public key"
    result = response.json()["result"]
    assert code in API_CODES[api.name], f"{code} is not documented for {api.name}"
    assert (result["resultCode"], result["resultStatus"]) == (code, "U" if code == "UNKNOWN_EXCEPTION" else "F"), \
        result
    for word in words:
        assert word in result["resultMessage"], result
    assert "Traceback" not in response.text
    return result


def send(server, api, body=None, **kwargs) -> requests.Response:
    return ams_call(server, PREFIX + api.path, body, session=server.session, verify_answer=False, **kwargs)


API_IDS = [api.name for api in APIS]


# -- every field of every API ------------------------------------------------------------

FIELD_CASES = [pytest.param(f, value, words, id=f"{f.id}-{label}")
               for f in FIELDS for label, value, words in bad_values(f)]


@pytest.mark.parametrize("field,value,words", FIELD_CASES)
def test_a_bad_value_in_any_field(server, nothing_stored, field, value, words):
    result = refused(server, field.api, send(server, field.api, field.body_with(value)), "PARAM_ILLEGAL", words)
    assert result["resultMessage"].startswith(field.path + " ")


def test_the_catalogue_covers_every_api_the_server_serves():
    """A new API (a view wrapped in @ams_endpoint) must be added to tests/schema_fields.APIS."""
    from mockpay import create_app
    import tempfile
    app = create_app({"data_dir": tempfile.mkdtemp(), "dispatcher": False})
    served = {view.ams_api for view in app.view_functions.values() if getattr(view, "ams_api", None)}
    assert served == {api.name for api in APIS}
    assert len(FIELD_CASES) > 400


# -- card numbers ------------------------------------------------------------------------

CARD_NUMBERS = [
    ("spaces", "4054 6957 2310 0768", "12 to 19 digits"),
    ("dashes", "4054-6957-2310-0768", "12 to 19 digits"),
    ("letters", "40546957231OO768", "12 to 19 digits"),
    ("luhn", "4054695723100769", "Luhn"),
    ("too-short", "40546957231", "12 to 19 digits"),
    ("arabic-indic-digits", "٤٠٥٤٦٩٥٧٢٣١٠٠٧٦٨", "ASCII characters only"),
    ("fullwidth-digits", "４０５４６９５７２３１００７６８", "ASCII characters only"),
]


@pytest.mark.parametrize("api", [a for a in APIS if a.name in ("vaultPaymentMethod", "cacheCard")],
                         ids=lambda api: api.name)  # str(api) holds function addresses: other ids each run
@pytest.mark.parametrize("label,number,words", CARD_NUMBERS, ids=[c[0] for c in CARD_NUMBERS])
def test_a_card_number_with_spaces_letters_or_foreign_digits(server, nothing_stored, api, label, number, words):
    body = api.valid_body()
    body["paymentMethodDetail"]["card"]["cardNo"] = number
    result = refused(server, api, send(server, api, body), "PARAM_ILLEGAL", "paymentMethodDetail.card.cardNo", words)
    assert number not in result["resultMessage"], "the answer must not echo the number"


# -- the body as a whole --------------------------------------------------------------------

BODIES = [
    ("truncated-json", '{"vaultingRequestId": "a",', "body is not valid UTF-8 JSON"),
    ("not-json", "vaultingRequestId=a", "body is not valid UTF-8 JSON"),
    ("trailing-comma", '{"vaultingRequestId": "a",}', "body is not valid UTF-8 JSON"),
    ("single-quotes", "{'vaultingRequestId': 'a'}", "body is not valid UTF-8 JSON"),
    ("byte-order-mark", "\ufeff{}", "body is not valid UTF-8 JSON"),
    ("array", "[]", "body must be a JSON object"),
    ("array-of-object", '[{"vaultingRequestId": "a"}]', "body must be a JSON object"),
    ("number", "1", "body must be a JSON object"),
    ("string", '"vaultingRequestId"', "body must be a JSON object"),
    ("null", "null", "body must be a JSON object"),
    ("true", "true", "body must be a JSON object"),
    ("empty", "", "the request body is empty"),
    ("whitespace", " \n\t ", "the request body is empty"),
    ("duplicated-key", '{"vaultingRequestId": "a", "vaultingRequestId": "b"}', "vaultingRequestId appears more than once"),
    ("duplicated-nested-key", '{"paymentMethodDetail": {"card": {"cardNo": "1", "cardNo": "2"}}}',
     "cardNo appears more than once"),
    # past Python's recursion limit: was UNKNOWN_EXCEPTION (a RecursionError)
    ("deeply-nested-arrays", "[" * 10_000 + "]" * 10_000, "nests arrays or objects too deeply"),
    ("deeply-nested-objects", '{"metadata": ' + '{"a": ' * 3_000 + "1" + "}" * 3_001,
     "nests arrays or objects too deeply"),
    # half a UTF-16 pair, escaped: valid JSON, not valid Unicode; was UNKNOWN_EXCEPTION (a
    # UnicodeEncodeError), or a 500 for the duplicated key, whose message quoted it
    ("lone-surrogate-in-a-value", '{"metadata": "abc\\ud800"}', "metadata is not valid Unicode"),
    ("lone-low-surrogate-in-a-nested-value", '{"paymentMethodDetail": {"card": {"x": ["ok", "\\uDC00"]}}}',
     "paymentMethodDetail.card.x.1 is not valid Unicode"),
    ("lone-surrogate-in-a-key", '{"env": {"\\ud800": 1}}', "env has a key that is not valid Unicode"),
    ("lone-surrogate-in-a-duplicated-key", '{"\\ud800": 1, "\\ud800": 2}', "\\ud800 appears more than once"),
]


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
@pytest.mark.parametrize("label,text,words", BODIES, ids=[b[0] for b in BODIES])
def test_a_body_that_is_not_a_json_object(server, nothing_stored, api, label, text, words):
    refused(server, api, send(server, api, raw=text), "PARAM_ILLEGAL", words)


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
def test_a_body_that_is_not_utf8(server, nothing_stored, api):
    raw = json.dumps({"vaultingRequestId": "caf\u00e9"}, ensure_ascii=False).encode("latin-1")
    refused(server, api, send(server, api, raw=raw), "PARAM_ILLEGAL",
            "body is not valid UTF-8 JSON")


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/xml",
                                          "multipart/form-data; boundary=x", "application/octet-stream"])
def test_a_wrong_content_type(server, nothing_stored, api, content_type):
    refused(server, api, send(server, api, api.valid_body(), headers={"Content-Type": content_type}),
            "MEDIA_TYPE_NOT_ACCEPTABLE", "content-type")


# -- bodies over the limit (--max-body-bytes) ------------------------------------------------

def padded(api, size: int) -> str:
    """A valid body of the API padded with spaces to `size` bytes."""
    text = sdk_body(api.valid_body())
    return text[:-1] + " " * (size - len(text.encode())) + "}"


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
def test_a_body_one_byte_over_the_limit(server, nothing_stored, api):
    response = send(server, api, raw=padded(api, LIMIT + 1))
    refused(server, api, response, "PARAM_ILLEGAL", f"the request body exceeds {LIMIT} bytes")
    # the body was not read: the connection is not kept, and the answer says so
    assert response.headers["Connection"] == "close"
    assert send(server, api, raw="[]").json()["result"]["resultCode"] == "PARAM_ILLEGAL"  # the session goes on


# what each API's valid body gets once it is read whole and its signature checks out
# (inquireVaulting asks after "inquire-1", which nothing in this module vaults)
AT_THE_LIMIT = {"vaultPaymentMethod": "SUCCESS", "inquireVaulting": "VAULTING_NOT_EXIST",
                "createVaultingSession": "SUCCESS", "cacheCard": "SUCCESS"}


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
def test_a_body_at_the_limit_is_read(server, api):
    response = send(server, api, raw=padded(api, LIMIT))
    assert response_verifies(PREFIX + api.path, response.headers, response.content, server.client["alipayPublicKey"])
    result = response.json()["result"]
    assert "exceeds" not in result["resultMessage"]
    # a body cut short would be PARAM_ILLEGAL (not JSON) or INVALID_SIGNATURE (signed whole)
    assert result["resultCode"] not in ("PARAM_ILLEGAL", "INVALID_SIGNATURE"), result
    assert result["resultCode"] == AT_THE_LIMIT[api.name], result


def test_a_10_mb_body_is_refused_before_it_is_sent(server, nothing_stored):
    """Content-Length says 10 MB; the headers alone get the signed refusal: mockpay does
    not wait for (or read) the body."""
    api = APIS[0]
    path = PREFIX + api.path
    headers = signed_headers(server.client["clientId"], server.client["merchantPrivateKey"], path, "x")
    head = [f"POST {path} HTTP/1.1", f"Host: {server.host}", "Content-Length: 10485760", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    answer = raw_http(server.host, server.port, ("\r\n".join(head) + "\r\n\r\n").encode(), timeout=10)
    assert answer.status == 200 and answer.getheader("Connection") == "close"
    assert response_verifies(path, {k.lower(): v for k, v in answer.getheaders()}, answer.body,
                             server.client["alipayPublicKey"])
    result = json.loads(answer.body)["result"]
    assert (result["resultCode"], result["resultStatus"]) == ("PARAM_ILLEGAL", "F")
    assert f"the request body exceeds {LIMIT} bytes" in result["resultMessage"]


def test_the_size_is_refused_before_the_signature_is_looked_at(server, nothing_stored):
    """No signature headers at all: the size still comes first, as soon as the headers are in."""
    path = PREFIX + APIS[0].path
    head = [f"POST {path} HTTP/1.1", f"Host: {server.host}", "Content-Length: 10485760", "Connection: close",
            f"client-id: {server.client['clientId']}", "content-type: application/json"]
    answer = raw_http(server.host, server.port, ("\r\n".join(head) + "\r\n\r\n").encode(), timeout=10)
    assert answer.status == 200
    assert response_verifies(path, {k.lower(): v for k, v in answer.getheaders()}, answer.body,
                             server.client["alipayPublicKey"])
    result = json.loads(answer.body)["result"]
    assert (result["resultCode"], result["resultMessage"]) == \
        ("PARAM_ILLEGAL", f"the request body exceeds {LIMIT} bytes")


def chunked_until_answered(server, path: str, headers: dict, data: bytes):
    """POST `data` chunked (no Content-Length) on a raw socket, 8 KiB a chunk, stopping as soon
    as the server answers; never more than twice the limit, so that what the server leaves
    unread stays within what gunicorn drains before closing (more, and the close could
    reset the connection before the answer is read). Returns (answer, bytes sent)."""
    import http.client
    import select
    import socket

    sock = socket.create_connection((server.host, server.port), timeout=30)
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {server.host}", "Transfer-Encoding: chunked"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        while sent < min(len(data), 2 * LIMIT) and not select.select([sock], [], [], 0.001)[0]:
            chunk = data[sent:sent + 8192]
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        answer.body = answer.read()
        return answer, sent
    finally:
        sock.close()


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
def test_a_10_mb_chunked_body_is_refused_for_its_size(server, nothing_stored, api):
    """No Content-Length (chunked transfer), 10 MB on offer: refused for its size as soon as
    it passes the limit, not cut at the limit and then failed as a bad signature."""
    text = padded(api, 10 * 1024 * 1024)
    path = PREFIX + api.path
    headers = signed_headers(server.client["clientId"], server.client["merchantPrivateKey"], path, text)
    answer, sent = chunked_until_answered(server, path, headers, text.encode())
    assert LIMIT < sent <= 2 * LIMIT
    assert answer.status == 200 and answer.getheader("Connection") == "close"
    answer_headers = {k.lower(): v for k, v in answer.getheaders()}
    assert response_verifies(path, answer_headers, answer.body, server.client["alipayPublicKey"])
    result = json.loads(answer.body)["result"]
    assert (result["resultCode"], result["resultStatus"]) == ("PARAM_ILLEGAL", "F")
    assert f"the request body exceeds {LIMIT} bytes" in result["resultMessage"]


# -- signature and headers ---------------------------------------------------------------

def header_cases():
    def tampered(api):  # one space more after signing: the same JSON, other bytes
        text = sdk_body(api.valid_body())
        return {"raw": text.replace("{", "{ ", 1), "sign_body": text}

    def another_time(api):  # signed at one request-time, sent with another (both fresh)
        sent = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=90)
        return {"headers": {"request-time": sent.isoformat()}}

    return [
        ("tampered-body", tampered, "INVALID_SIGNATURE", ("signature does not match",)),
        ("signed-for-another-path", lambda api: {"sign_path": "/ams/api/v1/vaults/inquireVaulting"
                                                 if "inquire" not in api.path else PREFIX + "/x"},
         "INVALID_SIGNATURE", ("signature does not match",)),
        ("signed-for-another-request-time", another_time, "INVALID_SIGNATURE", ("signature does not match",)),
        ("no-signature", lambda api: {"headers": {"signature": None}}, "INVALID_SIGNATURE", ("signature header",)),
        ("garbage-signature", lambda api: {"headers": {"signature": "algorithm=RSA256,keyVersion=1,signature=%%%"}},
         "INVALID_SIGNATURE", ("signature does not match",)),
        ("malformed-signature-header", lambda api: {"headers": {"signature": "RSA256 abc"}},
         "INVALID_SIGNATURE", ("signature header",)),
        ("stale-request-time", lambda api: {"request_time": "2020-01-01T00:00:00+00:00"},
         "PARAM_ILLEGAL", ("request-time", "away from now")),
        ("future-request-time", lambda api: {"request_time": "2099-01-01T00:00:00+00:00"},
         "PARAM_ILLEGAL", ("request-time", "away from now")),
        ("stale-epoch-millis", lambda api: {"request_time": "1577836800000"},
         "PARAM_ILLEGAL", ("request-time", "away from now")),
        ("garbage-request-time", lambda api: {"request_time": "yesterday"}, "PARAM_ILLEGAL", ("request-time",)),
        # digits to str.isdigit(), not to int(): was UNKNOWN_EXCEPTION (a ValueError)
        ("superscript-digits-request-time", lambda api: {"request_time": "\u00b9\u00b2\u00b3" * 3 + "\u00b9"},
         "PARAM_ILLEGAL", ("request-time", "ISO 8601")),
        ("request-time-without-offset", lambda api: {"request_time": "2026-11-22T10:00:00"},
         "PARAM_ILLEGAL", ("request-time", "UTC offset")),
        ("no-request-time", lambda api: {"headers": {"request-time": None}}, "INVALID_SIGNATURE", ("request-time",)),
        ("unknown-client", lambda api: {"headers": {"client-id": "NOBODY_HERE"}}, "INVALID_CLIENT",
         ("NOBODY_HERE",)),
        ("no-client-id", lambda api: {"headers": {"client-id": None}}, "INVALID_CLIENT", ("client-id",)),
    ]


HEADER_CASES = header_cases()


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
@pytest.mark.parametrize("label,change,code,words", HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_a_bad_signature_or_header(server, nothing_stored, api, label, change, code, words):
    refused(server, api, send(server, api, api.valid_body(), **change(api)), code, *words)


def test_another_method_than_post(server, nothing_stored):
    api = APIS[0]
    path = PREFIX + api.path
    text = sdk_body(api.valid_body())
    headers = signed_headers(server.client["clientId"], server.client["merchantPrivateKey"], path, text, method="PUT")
    response = server.session.put(server.base_url + path, data=text.encode(), headers=headers, timeout=30)
    assert response_verifies(path, response.headers, response.content, server.client["alipayPublicKey"],
                             method="PUT")
    result = response.json()["result"]
    assert (result["resultCode"], result["resultStatus"]) == ("METHOD_NOT_SUPPORTED", "F")
    assert "PUT" in result["resultMessage"]


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
def test_a_doubled_slash_in_the_path_is_invalid_api(server, nothing_stored, api):
    """Signed for that very path, a doubled slash is no API's path. It was a 308 redirect page
    (werkzeug's merge_slashes), unsigned, to a path the signature did not cover."""
    for path in (PREFIX + "/" + api.path, PREFIX + api.path.replace("/", "//")):
        response = ams_call(server, path, api.valid_body(), session=server.session)  # 200, signed
        result = response.json()["result"]
        assert (result["resultCode"], result["resultStatus"]) == ("INVALID_API", "F"), (path, result)
        assert path in result["resultMessage"]


def test_a_line_break_in_the_path_cannot_forge_a_log_line(server, nothing_stored):
    """/v1/x%0A... decodes to a path holding a line break, which the text log line quoted
    as it was: the rest of the path stood on a line of its own, looking like mockpay's."""
    forged = "2026-01-01 00:00:00,000 ERROR mockpay.api: forged-by-the-client"
    path = PREFIX + "/x%0D%0A" + forged.replace(" ", "%20")
    answer = raw_http(server.host, server.port, f"POST {path} HTTP/1.1\r\nHost: {server.host}\r\n"
                      "Content-Length: 2\r\nConnection: close\r\n\r\n{}".encode())
    assert answer.status == 200
    assert json.loads(answer.body)["result"]["resultCode"] == "INVALID_API"
    lines = [line for line in server.log().splitlines() if "forged-by-the-client" in line]
    assert lines, "the call is logged"
    assert all(not line.startswith(forged[:10]) and "/x\\r\\n2026" in line for line in lines), lines


# -- header injection, on a raw socket ----------------------------------------------------

def raw_request(server, extra: bytes = b"", headers: dict | None = None, body: str | None = None) -> bytes:
    api = APIS[0]
    path = PREFIX + api.path
    text = sdk_body(api.valid_body()) if body is None else body
    signed = signed_headers(server.client["clientId"], server.client["merchantPrivateKey"], path, text)
    signed.update(headers or {})
    lines = [f"POST {path} HTTP/1.1".encode(), f"Host: {server.host}".encode(), b"Connection: close"]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in signed.items()]
    if extra:
        lines.append(extra)
    lines.append(f"Content-Length: {len(text.encode())}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + text.encode()


INJECTED = ("x-injected", "set-cookie")

# Malformed HTTP: gunicorn refuses it (400) before any application sees it.
PROTOCOL_TRICKS = [
    ("obs-fold-continuation", lambda s: raw_request(s, b"client-id: SANDBOX_BAD\r\n X-Injected: 1")),
    ("bare-cr-in-value", lambda s: raw_request(s, b"X-Note: a\rX-Injected: 1")),
    ("bare-lf-line-ends", lambda s: raw_request(s).replace(b"\r\n", b"\n")),
    ("nul-in-value", lambda s: raw_request(s, b"X-Note: a\x00X-Injected: 1")),
    ("space-before-colon", lambda s: raw_request(s, b"client-id : OTHER")),
    ("two-content-lengths", lambda s: raw_request(s, b"Content-Length: 5")),
    ("content-length-and-chunked", lambda s: raw_request(s, b"Transfer-Encoding: chunked")),
]


@pytest.mark.parametrize("label,build", PROTOCOL_TRICKS, ids=[t[0] for t in PROTOCOL_TRICKS])
def test_malformed_http_never_reaches_mockpay(server, nothing_stored, label, build):
    answer = raw_http(server.host, server.port, build(server))
    assert answer.status == 400
    names = {k.lower() for k, _ in answer.getheaders()}
    assert not names & set(INJECTED) and "signature" not in names, answer.getheaders()
    assert requests.get(server.base_url + "/_mockpay/health", timeout=10).json() == {"status": "ok"}


# Well-formed HTTP carrying injection attempts in values: mockpay answers, signed, and
# echoes nothing of them into its answer's headers.
VALUE_TRICKS = [
    ("two-client-ids", {}, b"client-id: OTHER_CLIENT\r\nX-Note: 1", "INVALID_CLIENT"),
    ("encoded-crlf-in-client-id", {"client-id": "SANDBOX_BAD%0d%0aX-Injected:%201"}, b"", "INVALID_CLIENT"),
    ("latin1-in-client-id", {"client-id": "SANDBOX_BAD\xe9"}, b"", "INVALID_CLIENT"),
    ("header-shaped-signature", {"signature": "algorithm=RSA256,keyVersion=1,signature=a X-Injected: 1"}, b"",
     "INVALID_SIGNATURE"),
]


@pytest.mark.parametrize("label,headers,extra,code", VALUE_TRICKS, ids=[t[0] for t in VALUE_TRICKS])
def test_injection_attempts_in_header_values(server, nothing_stored, label, headers, extra, code):
    path = PREFIX + APIS[0].path
    answer = raw_http(server.host, server.port, raw_request(server, extra, headers))
    assert answer.status == 200
    answer_headers = {k.lower(): v for k, v in answer.getheaders()}
    assert not set(answer_headers) & set(INJECTED), answer_headers
    assert answer_headers["client-id"] in ("", "SANDBOX_BAD"), "only a well-formed client id is echoed"
    assert response_verifies(path, answer_headers, answer.body, server.client["alipayPublicKey"])
    result = json.loads(answer.body)["result"]
    assert (result["resultCode"], result["resultStatus"]) == (code, "F")


# -- the check above is not vacuous -----------------------------------------------------------

def test_a_good_request_is_stored_so_the_checks_above_can_see_a_store(server):
    before = stored_rows(server.data_dir)
    for api, table in ((APIS[0], "vaults"), (APIS[2], "vaulting_sessions"), (APIS[3], "card_tokens")):
        body = api.valid_body()
        if "vaultingRequestId" in body:
            body["vaultingRequestId"] = f"good-{api.name}"
        result = send(server, api, body).json()["result"]
        assert result["resultCode"] == "SUCCESS", result
    after = stored_rows(server.data_dir)
    assert after["vaults"] == before["vaults"] + 1
    assert after["vaulting_sessions"] == before["vaulting_sessions"] + 1
    assert after["card_tokens"] == before["card_tokens"] + 1
