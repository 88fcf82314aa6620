"""Property tests (hypothesis) for the validators and for signing."""
from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockpay import cards, signing
from mockpay.codes import AmsError
from mockpay.schemas import load
from mockpay.schemas.vaulting import vault_payment_method
from tests.support import vault_body

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

card_prefixes = st.text(alphabet="0123456789", min_size=11, max_size=18)


@FAST
@given(card_prefixes)
def test_luhn_completed_numbers_are_accepted(prefix):
    number = cards.luhn_complete(prefix)
    body = vault_body(card_no=number)
    body["paymentMethodDetail"]["card"].pop("cvv")  # AMEX-like prefixes would need 4 digits
    assert load(vault_payment_method, body)["paymentMethodDetail"]["card"]["cardNo"] == number


@FAST
@given(card_prefixes, st.integers(1, 9))
def test_a_changed_check_digit_is_refused(prefix, delta):
    number = cards.luhn_complete(prefix)
    wrong = number[:-1] + str((int(number[-1]) + delta) % 10)
    body = vault_body(card_no=wrong)
    try:
        load(vault_payment_method, body)
    except AmsError as exc:
        assert exc.code == "PARAM_ILLEGAL" and "cardNo" in exc.message and wrong not in exc.message
    else:
        raise AssertionError("a Luhn-invalid number was accepted")


STRING_FIELDS = [("vaultingRequestId", 64), ("redirectUrl", 2048), ("metadata", 2048)]


@FAST
@given(st.sampled_from(STRING_FIELDS), st.integers(1, 80))
def test_lengths_are_enforced_exactly(field, extra):
    name, limit = field
    body = vault_body()
    body[name] = "a" * limit
    load(vault_payment_method, body)
    body[name] = "a" * (limit + extra)
    try:
        load(vault_payment_method, body)
    except AmsError as exc:
        assert exc.message.startswith(name) and f"at most {limit}" in exc.message
    else:
        raise AssertionError("an over-long value was accepted")


non_strings = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
STRING_ONLY = ["vaultingRequestId", "paymentMethodDetail.card.cardNo", "paymentMethodDetail.card.expiryMonth",
               "paymentMethodDetail.card.cvv", "env.terminalType", "paymentMethodDetail.paymentMethodType"]


@FAST
@given(st.sampled_from(STRING_ONLY), non_strings)
def test_string_only_fields_refuse_other_json_types(path, value):
    body = copy.deepcopy(vault_body())
    *parents, leaf = path.split(".")
    node = body
    for p in parents:
        node = node[p]
    node[leaf] = value
    try:
        load(vault_payment_method, body)
    except AmsError as exc:
        assert exc.code == "PARAM_ILLEGAL" and exc.message.startswith(path)
    else:
        raise AssertionError(f"{value!r} accepted for {path}")


@FAST
@given(st.binary(max_size=300), st.text(max_size=30), st.text(min_size=1, max_size=40).filter(lambda p: "\n" not in p))
def test_sign_then_verify_and_any_changed_byte_fails(merchant_keys, body, client_id, path):
    key = signing.load_private_key(merchant_keys["private"])
    pub = signing.load_public_key(merchant_keys["public"])
    value = signing.sign(key, "POST", path, client_id, "t", body)
    assert signing.verify(pub, "POST", path, client_id, "t", body, value)
    if body:
        i = len(body) // 2
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        assert not signing.verify(pub, "POST", path, client_id, "t", changed, value)
    assert not signing.verify(pub, "POST", path + "x", client_id, "t", body, value)
