"""The README's SDK quick start, run as written against a real `mockpay serve --tls` on port 443."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.integration.conftest import _register

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart_code() -> str:
    section = README.read_text().split("\n## Using it with the official SDK\n", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.+?)\n```", section, re.S)
    return code


def test_the_readme_quickstart_vaults_a_card_and_inquires_it_through_the_sdk(tls_server):
    code = quickstart_code()
    assert 'DefaultAlipayClient("https://localhost", "SANDBOX_MYSHOP"' in code
    keys = _register(tls_server, "SANDBOX_MYSHOP")  # what `mockpay clients add SANDBOX_MYSHOP --generate` prints
    namespace = {"MERCHANT_PRIVATE_KEY": keys["merchantPrivateKey"], "ALIPAY_PUBLIC_KEY": keys["alipayPublicKey"]}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # this server listens on a loopback address of its own
        exec(code.replace('"https://localhost"', repr(tls_server.gateway_url)), namespace)  # noqa: S102
    first, second = printed.getvalue().splitlines()
    assert re.fullmatch(r"SUCCESS ALIPAY\S{40,}", first), first
    assert second == "SUCCESS"
    assert namespace["status"]["paymentMethodDetail"]["card"]["maskedCardNo"] == "************0768"
