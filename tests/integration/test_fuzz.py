"""schemathesis against /_mockpay/openapi.json on a real `mockpay serve` (gunicorn).

Every AMS operation (the four vaulting APIs under the three prefixes) and every
admin operation gets generated requests, valid and invalid (schemathesis'
positive and negative modes). Each AMS request is signed by a registered client,
over the body exactly as sent (tests.support.SigningAuth), so the generated
bodies reach validation and the domain instead of stopping at the signature.

What must hold for every answer:
- no 5xx, unless it is a scenario fault page (a scenario asked for it);
- AMS: HTTP 200, and the client-id, response-time and signature headers, the
  signature verifying with the mock's public key over the request's method and path;
- the status code, content type, headers and body match the document.

Bounded and reproducible: a fixed number of examples, derandomized generation, no
example database; well under a minute."""
from __future__ import annotations

from collections import Counter
from urllib.parse import unquote, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as oas_checks
from schemathesis.checks import not_a_server_error

from tests.support import ServerProcess, SigningAuth, response_verifies
from tests.webhook import register

pytestmark = pytest.mark.slow

SCENARIO_FAULT_MARK = b"mockpay scenario fault"
# The three prefixes serve the same views: the production one gets the most examples.
AMS_EXAMPLES = {"/ams/api/v1": 30, "/ams/sandbox/api/v1": 8, "/v1": 8}
ADMIN_EXAMPLES = 30
CHECKS = [not_a_server_error, oas_checks.status_code_conformance, oas_checks.content_type_conformance,
          oas_checks.response_headers_conformance, oas_checks.response_schema_conformance]


def bounded(examples: int):
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    """A server of its own: the admin fuzzing moves its clock and registers clients."""
    server = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data", workers=2).start()
    server.client = register(server, "SANDBOX_FUZZ")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    config = schemathesis.Config(seed=7)  # explicit: no schemathesis.toml discovery
    return schemathesis.openapi.from_url(fuzz_server.base_url + "/_mockpay/openapi.json", config=config)


@pytest.fixture(scope="module")
def signed_session(fuzz_server):
    session = requests.Session()
    session.auth = SigningAuth(fuzz_server.client)
    yield session
    session.close()


def fuzz(schema, tag: str, mode: GenerationMode, examples, check) -> list[str]:
    """Run `check(case)` on generated cases of every operation tagged `tag`; return the
    failures (one line each, with a curl command that replays the case). Each operation
    is its own hypothesis run, so one failing operation does not hide another."""
    operations = [result.ok() for result in schema.include(tag=tag).get_all_operations()]
    assert operations, f"the document has no {tag} operation"
    failures = []
    for operation in operations:
        count = examples if isinstance(examples, int) else \
            next(n for prefix, n in examples.items() if operation.path.startswith(prefix + "/"))

        @bounded(count)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            try:
                check(case)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n  replay: {case.as_curl_command()}") from None

        try:
            run()
        except Unsatisfiable:
            # nothing of this operation can be made invalid (no body, no parameter to break)
            assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request can be generated"
        except Exception as exc:  # noqa: BLE001 - collected, reported together below
            failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}")
    return failures


GUNICORN_REQUEST_LINE = 4094  # gunicorn's limit_request_line


def refused_by_gunicorn(response) -> bool:
    """A request line longer than gunicorn reads: gunicorn answers 414 with its own HTML page
    before mockpay sees the request, so there is no mockpay answer to check (the document
    describes mockpay's answers). Only a line that is really that long counts."""
    sent = response.request
    line = len(sent.method) + len(sent.path_url) + len(" HTTP/1.1") + 1
    return response.status_code == 414 and line > GUNICORN_REQUEST_LINE and b"URI Too Long" in response.content


def assert_no_unasked_5xx(response) -> None:
    if response.status_code >= 500:
        assert SCENARIO_FAULT_MARK in response.content, \
            f"{response.status_code} without a scenario asking for it: {response.content[:300]!r}"


def test_the_document_offers_every_vaulting_api_under_every_prefix(api_schema):
    labels = {op.ok().label for op in api_schema.include(tag="AMS API").get_all_operations()}
    expected = {f"POST {prefix}/{api}" for prefix in AMS_EXAMPLES
                for api in ("vaults/vaultPaymentMethod", "vaults/inquireVaulting",
                            "vaults/createVaultingSession", "paymentMethods/cacheCard")}
    assert expected <= labels, expected - labels


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_ams_answer_is_signed_and_documented(api_schema, fuzz_server, signed_session, mode):
    def check(case):
        response = case.call(session=signed_session, base_url=fuzz_server.base_url, timeout=60)
        assert_no_unasked_5xx(response)
        assert response.status_code == 200, response.content[:300]
        headers = {name.lower(): values[0] for name, values in response.headers.items()}
        for name in ("client-id", "response-time", "signature"):
            assert headers.get(name), f"the answer has no {name} header"
        sent = response.request
        path = unquote(urlsplit(sent.url).path)
        assert response_verifies(path, headers, response.content, fuzz_server.client["alipayPublicKey"],
                                 method=sent.method), "the answer's signature does not verify"
        result = response.json()["result"]
        assert result["resultStatus"] in ("S", "F", "U")
        seen[result["resultCode"]] += 1
        case.validate_response(response, checks=CHECKS)

    seen: Counter = Counter()
    failures = fuzz(api_schema, "AMS API", mode, AMS_EXAMPLES, check)
    assert not failures, "\n".join(failures)
    print(f"AMS result codes ({mode.value}): {dict(seen)}")
    # the generated requests got past the signature check, to validation and beyond
    assert "PARAM_ILLEGAL" in seen and "INVALID_SIGNATURE" not in seen, seen
    if mode is GenerationMode.POSITIVE:
        assert seen["SUCCESS"] > 0, seen


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_admin_answer_is_documented(api_schema, fuzz_server, mode):
    # after the AMS fuzzing: the admin operations move the clock and register clients
    def check(case):
        response = case.call(base_url=fuzz_server.base_url, timeout=60)
        if refused_by_gunicorn(response):
            return
        assert_no_unasked_5xx(response)
        case.validate_response(response, checks=CHECKS)

    failures = fuzz(api_schema, "Admin API", mode, ADMIN_EXAMPLES, check)
    assert not failures, "\n".join(failures)


def test_an_overlong_request_line_is_refused_by_gunicorn_alone(fuzz_server):
    """What the admin fuzzing passes over: gunicorn's 414, never seen by mockpay."""
    long = requests.get(fuzz_server.base_url + "/_mockpay/notifications", params={"clientId": "x" * 5000}, timeout=30)
    assert refused_by_gunicorn(long) and b"error" not in long.content
    short = requests.get(fuzz_server.base_url + "/_mockpay/notifications", params={"clientId": "x" * 3000}, timeout=30)
    assert short.status_code == 200 and not refused_by_gunicorn(short)


def test_no_internal_error_was_logged(fuzz_server):
    """Last in the module: whatever the fuzzing sent, the server logged no traceback."""
    log = fuzz_server.log()
    assert "mockpay listening on" in log
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
