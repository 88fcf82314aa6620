"""hunt-plugin: what a merchant's own test suite met with the `mockpay` fixture and the
request builders, each fixed and kept fixed here. The merchant tests run through
pytest's `pytester`, as in test_pytest_plugin.py."""
from __future__ import annotations

import pytest

ADMIN_TOKEN_TESTS = r'''
import urllib.error
import urllib.request

import pytest

from mockpay import testing


@pytest.mark.mockpay(admin_token="s3cret-token")
def test_a_server_with_an_admin_token(mockpay):
    # the fixture's helpers send the token, as a script would to a shared server
    assert mockpay.client.client_id == "SANDBOX_PYTEST"
    body = testing.vault_payment_method(scenario="3ds_challenge")
    assert mockpay.execute(testing.to_sdk_request("vaultPaymentMethod", body))["normalUrl"]
    assert mockpay.complete_challenge(body["vaultingRequestId"])["vaultingStatus"] == "SUCCESS"
    assert mockpay.notifications(body["vaultingRequestId"])
    mockpay.use_scenarios({"rules": [{"match": {"bin": "4"}, "outcome": {"resultCode": "RISK_REJECT"}}]})
    mockpay.reset()
    # and the token is really required: the merchant's own call without it is refused
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(mockpay.base_url + "/_mockpay/clients")
    assert refused.value.code == 401
'''


def test_the_admin_token_setting_of_the_marker(pytester):
    """@pytest.mark.mockpay(admin_token=...) (a Config setting, as the README allows): the
    fixture's own admin calls sent no token, so registering its client failed with 401."""
    pytester.makepyfile(test_token=ADMIN_TOKEN_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
