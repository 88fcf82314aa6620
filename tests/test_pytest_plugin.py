"""The `mockpay` pytest plugin, used as a merchant would: through pytest's
`pytester`, on a test file that drives the official SDK against the fixture."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# A merchant's test file. The SDK is unmodified; it speaks HTTPS to port 443 of
# the fixture's gateway host (or, in redirect mode, to the port it is sent to).
MERCHANT_TESTS = r'''
import datetime as dt
import json

import pytest
from com.alipay.ams.api.exception.exception import AlipayApiException

from mockpay import testing


def test_sdk_vaults_then_inquires(mockpay):
    print("TRANSPORT", mockpay.sdk_transport, mockpay.gateway_url)
    body = mockpay.builder.vault_payment_method(brand="MASTERCARD")
    answer = mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body))
    assert answer["result"]["resultCode"] == "SUCCESS", answer
    card = answer["paymentMethodDetail"]["card"]
    assert card["brand"] == "MASTERCARD"
    assert card["lastFour"] == body["paymentMethodDetail"]["card"]["cardNo"][-4:]
    inquired = mockpay.execute(testing.inquire_vaulting_request(body["vaultingRequestId"]))
    assert inquired["vaultingStatus"] == "SUCCESS"
    assert inquired["paymentMethodDetail"]["card"]["cardToken"] == card["cardToken"]


def test_the_sdk_really_verifies_the_certificate(mockpay, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")  # the mock's CA no longer trusted
    with pytest.raises(AlipayApiException, match="CERTIFICATE_VERIFY_FAILED"):
        mockpay.execute(testing.vault_payment_method_request())


def test_a_plain_sdk_client_built_from_the_fixture_values(mockpay):
    from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
    c = mockpay.client
    client = DefaultAlipayClient(mockpay.gateway_url, c.client_id, c.merchant_private_key, c.alipay_public_key)
    answer = json.loads(client.execute(testing.inquire_vaulting_request("missing")))
    assert answer["result"]["resultCode"] == "VAULTING_NOT_EXIST"


def test_advance_moves_the_mock_clock_past_the_card_expiry(mockpay):
    next_year = f"{(dt.date.today().year + 1) % 100:02d}"
    body = testing.vault_payment_method(card={"expiryYear": next_year, "expiryMonth": "12"})
    before = mockpay.now()
    after = mockpay.advance(dt.timedelta(days=3 * 366))
    assert after - before >= 3 * 366 * 86400
    answer = mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body))
    assert answer["result"]["resultCode"] == "VERIFICATION_FAIL", answer
    inquired = mockpay.execute(testing.inquire_vaulting_request(body["vaultingRequestId"]))
    assert inquired["vaultingResultCode"] == "CARD_EXPIRED"


def test_isolation_first_vaults_a_fixed_id(mockpay):
    body = testing.vault_payment_method(vaultingRequestId="shared-id")
    assert mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body))["result"]["resultCode"] == "SUCCESS"


def test_isolation_second_does_not_see_it(mockpay):
    answer = mockpay.execute(testing.inquire_vaulting_request("shared-id"))
    assert answer["result"]["resultCode"] == "VAULTING_NOT_EXIST"


@pytest.mark.mockpay(client_id="PROD_SHOP")
def test_marker_sets_the_client_id(mockpay):
    assert mockpay.client.client_id == "PROD_SHOP"
    answer = mockpay.execute(testing.vault_payment_method_request())
    assert answer["result"]["resultCode"] == "SUCCESS"


def test_a_second_client_has_its_own_vaults(mockpay):
    other = mockpay.add_client("SANDBOX_OTHER")
    body = testing.vault_payment_method()
    assert mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body), client=other)[
        "result"]["resultCode"] == "SUCCESS"
    answer = mockpay.execute(testing.inquire_vaulting_request(body["vaultingRequestId"]))
    assert answer["result"]["resultCode"] == "VAULTING_NOT_EXIST"


def test_admin_api_on_base_url(mockpay):
    import urllib.request
    with urllib.request.urlopen(mockpay.base_url + "/_mockpay/health") as response:
        assert json.loads(response.read()) == {"status": "ok"}
    ids = [c["clientId"] for c in mockpay.admin("GET", "/_mockpay/clients")["clients"]]
    assert ids == [mockpay.client.client_id]


def test_reset(mockpay):
    body = testing.vault_payment_method()
    mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body))
    mockpay.reset()
    answer = mockpay.execute(testing.inquire_vaulting_request(body["vaultingRequestId"]))
    assert answer["result"]["resultCode"] == "VAULTING_NOT_EXIST"
'''
N_TESTS = MERCHANT_TESTS.count("\ndef test_")

# The fixture's helpers, as a merchant's tests use them: a real local receiver
# (pytest-httpserver) for notifications, the official SDK for the API calls.
HELPER_TESTS = r'''
import json
import threading

import pytest
from com.alipay.ams.api.tools.webhook_tool import check_signature
from werkzeug import Response

from mockpay import testing
from mockpay.scenarios import ScenarioError
from mockpay.testing import AdminError

ACK = json.dumps({"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}})


def vault(mockpay, **kwargs):
    body = mockpay.builder.vault_payment_method(**kwargs)
    return body["vaultingRequestId"], mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body))


def test_notifications_lists_what_reached_the_merchant(mockpay, httpserver):
    received = []

    def webhook(request):
        received.append(request)
        return Response(ACK if len(received) > 1 else "busy", status=200 if len(received) > 1 else 503)

    httpserver.expect_request("/antom/notify", method="POST").respond_with_handler(webhook)
    request_id, answer = vault(mockpay, vaultingNotificationUrl=httpserver.url_for("/antom/notify"))
    assert answer["result"]["resultCode"] == "SUCCESS"
    [first] = mockpay.notifications(request_id, wait=10)
    assert first["vaultingRequestId"] == request_id and first["clientId"] == mockpay.client.client_id
    assert mockpay.notifications(request_id, status="delivered") == []
    assert mockpay.notifications("some-other-id") == []

    mockpay.advance(120)  # the retry after a failed first attempt
    [n] = mockpay.notifications(request_id, status="delivered", wait=10)
    assert [a["httpStatus"] for a in n["attempts"]] == [503, 200]
    assert n["body"]["paymentMethodDetail"] == answer["paymentMethodDetail"]
    request = received[-1]
    assert check_signature("POST", request.path, request.headers["client-id"], request.headers["request-time"],
                           request.get_data(as_text=True), request.headers["signature"],
                           mockpay.client.alipay_public_key)


def test_complete_challenge_as_the_buyer(mockpay):
    request_id, answer = vault(mockpay, scenario="3ds_challenge")
    assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS"
    done = mockpay.complete_challenge(request_id)
    assert done["vaultingStatus"] == "SUCCESS" and done["clientId"] == mockpay.client.client_id
    inquired = mockpay.execute(testing.inquire_vaulting_request(request_id))
    assert inquired["vaultingStatus"] == "SUCCESS"
    assert inquired["paymentMethodDetail"]["card"]["cardToken"] == done["paymentMethodDetail"]["card"]["cardToken"]
    with pytest.raises(AdminError) as over:
        mockpay.complete_challenge(request_id, "fail")
    assert over.value.status == 409 and over.value.body["error"]["code"] == "ALREADY_FINAL"

    request_id, _ = vault(mockpay, scenario="3ds_challenge")
    assert mockpay.complete_challenge(request_id, "cancel")["vaultingResultCode"] == "USER_PAYMENT_VERIFICATION_FAILED"
    with pytest.raises(AdminError) as missing:
        mockpay.complete_challenge("no-such-vault")
    assert missing.value.status == 404


def test_complete_challenge_checks_a_one_time_code_when_given(mockpay):
    request_id, _ = vault(mockpay, card_no="4000000505000002")  # the catalogue's challenge with code 123456
    with pytest.raises(AdminError) as wrong:
        mockpay.complete_challenge(request_id, otp="000000")
    assert wrong.value.status == 422 and wrong.value.body["error"]["code"] == "WRONG_CODE"
    assert mockpay.complete_challenge(request_id, otp="123456")["vaultingStatus"] == "SUCCESS"


def test_use_scenarios_for_this_client_only(mockpay, tmp_path):
    rules_file = tmp_path / "ci.yaml"
    rules_file.write_text("rules:\n"
                          "  - match: {bin: \"4\"}\n"
                          "    outcome: {resultCode: RISK_REJECT, reason: FRAUD_REJECT}\n")
    answer = mockpay.use_scenarios(
        {"rules": [{"match": {"cardNo": "5162774114974622"},
                    "sequence": [{"resultCode": "UNKNOWN_EXCEPTION"}, {"resultCode": "SUCCESS"}]}]},
        rules_file,
        "default: {resultCode: VERIFICATION_FAIL, reason: DO_NOT_HONOR}\n")
    assert len(answer["rules"]) == 2
    codes = [vault(mockpay, card_no="5162774114974622")[1]["result"]["resultCode"] for _ in range(2)]
    assert codes == ["UNKNOWN_EXCEPTION", "SUCCESS"]
    assert vault(mockpay, brand="VISA")[1]["result"]["resultCode"] == "RISK_REJECT"
    assert vault(mockpay, brand="JCB")[1]["result"]["resultCode"] == "VERIFICATION_FAIL"
    other = mockpay.add_client("SANDBOX_OTHER_JOB")
    body = mockpay.builder.vault_payment_method(brand="VISA")
    assert mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body), client=other)[
        "result"]["resultCode"] == "SUCCESS"

    mockpay.use_scenarios()  # drop them: the catalogue answers again
    assert vault(mockpay, brand="VISA")[1]["result"]["resultCode"] == "SUCCESS"


def test_use_scenarios_names_the_file_and_line_of_a_mistake(mockpay, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - match: {cardNo: \"4054695723100768\"}\n    outcome: {resultCode: SUCESS}\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml:3: rule 1: .*did you mean SUCCESS"):
        mockpay.use_scenarios(bad)
    with pytest.raises(FileNotFoundError):
        mockpay.use_scenarios(tmp_path / "missing.yaml")
    assert mockpay.admin("GET", "/_mockpay/scenarios?clientId=" + mockpay.client.client_id)["sources"][0] \
        != "clients/" + mockpay.client.client_id


DISPATCHERS = []


def test_first_server_runs_a_dispatcher(mockpay):
    assert mockpay.services.dispatcher.running
    DISPATCHERS.append(mockpay.services.dispatcher)


def test_teardown_stopped_the_first_servers_dispatcher(mockpay):
    [first] = DISPATCHERS
    assert first is not mockpay.services.dispatcher
    assert not first.running
    assert [t.name for t in threading.enumerate()].count("mockpay-dispatcher") == 1  # this test's own
'''
N_HELPER_TESTS = HELPER_TESTS.count("\ndef test_")


def _sdk_connection():
    from com.alipay.ams.api.net import default_http_rpc
    return getattr(default_http_rpc, "__get_http_connection")


@pytest.mark.parametrize("transport", ["auto", "redirect"])
def test_merchant_tests_pass_through_the_plugin(pytester, transport):
    pytester.makepyfile(test_merchant=MERCHANT_TESTS)
    cert_file_before = os.environ.get("SSL_CERT_FILE")
    connection_before = _sdk_connection()
    # every merchant test in auto mode; in forced redirect mode (also run in full,
    # unprivileged, below) the two that touch the transport
    select = ["-k", "vaults_then_inquires or verifies_the_certificate"] if transport == "redirect" else []
    result = pytester.runpytest_inprocess("-s", "-p", "no:cacheprovider", "-o", f"mockpay_sdk_transport={transport}",
                                          *select)
    result.assert_outcomes(passed=2 if select else N_TESTS)
    if transport == "redirect":
        expected = "redirect"
    else:  # auto: port 443 when this process may bind it
        expected = "port443" if os.geteuid() == 0 else "redirect"
    result.stdout.fnmatch_lines([f"*TRANSPORT {expected} https://127.*"])
    # the fixture leaves the process as it found it
    assert os.environ.get("SSL_CERT_FILE") == cert_file_before
    assert _sdk_connection() is connection_before


def test_the_fixture_helpers(pytester):
    pytester.makepyfile(test_helpers=HELPER_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=N_HELPER_TESTS)


def test_a_positional_marker_argument_is_refused_not_ignored(pytester):
    pytester.makepyfile(test_marker="""
import pytest

@pytest.mark.mockpay("PROD_SHOP")
def test_shop(mockpay):
    assert mockpay.client.client_id == "PROD_SHOP"
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.mockpay takes settings by name, e.g. client_id='PROD_SHOP'*"])


def _unprivileged_pytest(pytester, *args):
    """pytest in a child process that may not bind ports below 1024."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop CAP_NET_BIND_SERVICE")
        command = [setpriv, "--bounding-set", "-net_bind_service", *command]
    return pytester.run(*command, timeout=120)


def test_without_permission_for_port_443_auto_falls_back_to_redirect(pytester):
    pytester.makepyfile(test_merchant=MERCHANT_TESTS)
    result = _unprivileged_pytest(pytester, "-s")
    result.assert_outcomes(passed=N_TESTS)
    result.stdout.fnmatch_lines(["*TRANSPORT redirect https://127.*"])


def test_port443_transport_fails_clearly_without_permission(pytester):
    pytester.makepyfile("def test_x(mockpay):\n    pass\n")
    result = _unprivileged_pytest(pytester, "-o", "mockpay_sdk_transport=port443")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*may not bind port 443*"])


def test_the_entry_point_registers_the_plugin_in_a_fresh_interpreter(pytester):
    """No conftest, no -p: installing mockpay is enough."""
    pytester.makepyfile(
        "from mockpay import testing\n"
        "def test_x(mockpay):\n"
        "    answer = mockpay.execute(testing.vault_payment_method_request(brand='VISA'))\n"
        "    assert answer['result']['resultCode'] == 'SUCCESS'\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_marker_is_registered(pytester):
    result = pytester.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.mockpay(*"])


def test_the_readme_examples_pass(pytester):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Testing with pytest", 1)[1].split("\n## ", 1)[0]
    examples = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    assert len(examples) == 2
    assert len(examples[0].strip().splitlines()) <= 14  # the short example stays short
    pytester.makepyfile(**{f"test_readme_example_{i}": example for i, example in enumerate(examples)})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=sum(example.count("\ndef test_") for example in examples))


def test_scenario_error_is_importable_from_mockpay_testing():
    from mockpay import scenarios, testing
    assert testing.ScenarioError is scenarios.ScenarioError
    with pytest.raises(AttributeError):
        testing.NoSuchThing  # noqa: B018
