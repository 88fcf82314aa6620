"""Property tests (hypothesis): the validators of every field of every API, signing,
masks and redaction."""
from __future__ import annotations

import functools
import itertools
import json
import re

from com.alipay.ams.api.tools.signature_tool import sign as sdk_sign
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mockpay import cards, signing
from mockpay.codes import AmsError
from mockpay.schemas import load
from mockpay.schemas.payment_methods import cache_card
from mockpay.schemas.sessions import create_vaulting_session
from mockpay.schemas.vaulting import vault_payment_method
from tests.schema_fields import STRING_FIELDS
from tests.support import cache_body, session_body, sign_like_sdk, vault_body

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


non_strings = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@functools.lru_cache(maxsize=2)
def loaded_keys(private: str, public: str):
    """Loading (and checking) an RSA private key takes ~50 ms: once, not per example."""
    return signing.load_private_key(private), signing.load_public_key(public)


@FAST
@given(st.binary(max_size=300), st.text(max_size=30), st.text(min_size=1, max_size=40).filter(lambda p: "\n" not in p))
def test_sign_then_verify_and_any_changed_byte_fails(merchant_keys, body, client_id, path):
    key, pub = loaded_keys(merchant_keys["private"], merchant_keys["public"])
    value = signing.sign(key, "POST", path, client_id, "t", body)
    assert signing.verify(pub, "POST", path, client_id, "t", body, value)
    if body:
        i = len(body) // 2
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        assert not signing.verify(pub, "POST", path, client_id, "t", changed, value)
    assert not signing.verify(pub, "POST", path + "x", client_id, "t", body, value)


# -- proof (issue 7): every field of every API, cacheCard and createVaultingSession,
# masks and redaction, and the tests' own signer ---------------------------------------

CONTROL = st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f"])


def refused(f, value) -> str:
    """The message of the PARAM_ILLEGAL `value` in field `f` gets; fails if it is accepted."""
    try:
        load(f.api.schema, f.body_with(value))
    except AmsError as exc:
        assert exc.code == "PARAM_ILLEGAL"
        assert exc.message.startswith(f.path + " "), (f.id, exc.message)
        return exc.message
    raise AssertionError(f"{f.id}: {value!r} was accepted")


@FAST
@given(st.sampled_from(STRING_FIELDS), non_strings)
def test_every_string_field_refuses_other_json_types(f, value):
    assert "must be a JSON string" in refused(f, value)


@FAST
@given(st.sampled_from(STRING_FIELDS), st.data())
def test_every_string_field_refuses_what_is_longer_than_its_limit(f, data):
    value = data.draw(st.text(min_size=f.field.max_length + 1, max_size=f.field.max_length + 40))
    assert f"at most {f.field.max_length} characters" in refused(f, value)
    if not (f.field.pattern or f.field.choices):  # a value of exactly the limit is accepted
        load(f.api.schema, f.body_with("a" * f.field.max_length))


@FAST
@given(st.sampled_from([f for f in STRING_FIELDS if f.field.max_length >= 2]), st.data(), CONTROL)
def test_every_string_field_refuses_control_characters(f, data, control):
    text = data.draw(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                             max_size=f.field.max_length - 1))
    at = data.draw(st.integers(0, len(text)))
    assert "control characters" in refused(f, text[:at] + control + text[at:])


FREE_TEXT = [f for f in STRING_FIELDS if not (f.field.pattern or f.field.choices or f.field.ascii_only)]


@FAST
@given(st.sampled_from(FREE_TEXT), st.data())
def test_free_text_fields_keep_any_printable_unicode_up_to_their_limit(f, data):
    value = data.draw(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                              max_size=f.field.max_length))
    assume(not (f.field.no_card_number and cards.could_hold_card_number(value)))  # the next test's case
    loaded = load(f.api.schema, f.body_with(value))
    node = loaded
    for name in f.path.split("."):
        node = node[name]
    assert node == value


luhn_numbers = card_prefixes.map(cards.luhn_complete)


@FAST
@given(st.sampled_from([f for f in STRING_FIELDS if f.field.no_card_number]), luhn_numbers, st.data())
def test_name_fields_refuse_a_card_number_anywhere_in_them(f, number, data):
    # mockpay keeps a cardholder's name in plain text and answers it: no card number in it
    # (typed into the wrong field), bare, spaced or between words
    sep = data.draw(st.sampled_from(["", " ", "-"]))
    shown = sep.join(number[i:i + 4] for i in range(0, len(number), 4))
    before = data.draw(st.sampled_from(["", "Ann ", "x"]))
    value = (before + shown)[:f.field.max_length]
    assume(cards.could_hold_card_number(value))  # not cut short by a 32-character limit
    assert "must not contain a card number" in refused(f, value)


@FAST
@given(luhn_numbers, st.integers(1, 9))
def test_cache_card_takes_luhn_valid_numbers_and_refuses_a_changed_check_digit(number, delta):
    body = cache_body(number, brand=None, securityCode=None)
    assert load(cache_card, body)["paymentMethodDetail"]["card"]["cardNo"] == number
    wrong = number[:-1] + str((int(number[-1]) + delta) % 10)
    try:
        load(cache_card, cache_body(wrong, brand=None, securityCode=None))
    except AmsError as exc:
        assert exc.message == "paymentMethodDetail.card.cardNo fails the Luhn check"
    else:
        raise AssertionError("a Luhn-invalid number was accepted")


@FAST
@given(st.sampled_from(["34", "37", "4", "51", "6011"]), st.data(), st.sampled_from([3, 4]))
def test_security_code_length_follows_the_brand_in_vault_and_cache_card(prefix, data, digits):
    number = cards.luhn_complete(prefix + data.draw(st.text("0123456789", min_size=12 - len(prefix),
                                                            max_size=17 - len(prefix))))
    code = data.draw(st.text("0123456789", min_size=digits, max_size=digits))
    amex = cards.detect_brand(number) == "AMEX"
    for schema, body, field in ((cache_card, cache_body(number, brand=None, securityCode=code), "securityCode"),
                                (vault_payment_method, vault_body(card_no=number, cvv=code), "cvv")):
        if digits == (4 if amex else 3):
            load(schema, body)
        else:
            try:
                load(schema, body)
            except AmsError as exc:
                assert exc.message.startswith(f"paymentMethodDetail.card.{field} must be")
            else:
                raise AssertionError(f"{field} {code!r} accepted for {number}")


def any_case(word: str):
    return st.tuples(*[st.sampled_from([c.lower(), c.upper()]) for c in word]).map("".join)


@FAST
@given(any_case("card"), any_case("true") | any_case("false") | st.booleans())
def test_create_vaulting_session_takes_any_case_and_answers_upper_case(kind, flag):
    loaded = load(create_vaulting_session, session_body(paymentMethodType=kind, is3DSAuthentication=flag))
    assert loaded["paymentMethodType"] == "CARD"
    assert loaded["is3DSAuthentication"] == str(flag).lower()


@FAST
@given(st.text(min_size=1, max_size=64).filter(lambda t: t.upper() != "CARD"))
def test_create_vaulting_session_refuses_other_payment_method_types(kind):
    try:
        load(create_vaulting_session, session_body(paymentMethodType=kind))
    except AmsError as exc:
        assert exc.message.startswith("paymentMethodType ")
    else:
        raise AssertionError(f"{kind!r} accepted")


# -- masks and redaction ------------------------------------------------------------------

numbers_12_19 = st.text("0123456789", min_size=12, max_size=19)


@FAST
@given(numbers_12_19)
def test_masks_keep_at_most_six_and_four_digits(number):
    masked = cards.mask_6_4(number)
    assert len(masked) == len(number) and number not in masked
    assert masked[:6] == number[:6] and masked[-4:] == number[-4:] and set(masked[6:-4]) <= {"*"}
    short = cards.masked_card_no(number)
    assert short[-4:] == number[-4:] and set(short[:-4]) == {"*"} and len(short) == len(number)


def formatted(number: str, separators: list[str]) -> str:
    """The number in groups of four joined by the given separators (e.g. '4054 6957-2310 0768')."""
    groups = [number[i:i + 4] for i in range(0, len(number), 4)]
    return groups[0] + "".join(sep + g for sep, g in zip(itertools.cycle(separators), groups[1:]))


@FAST
@given(st.lists(st.tuples(st.text(max_size=12), numbers_12_19, st.lists(st.sampled_from(["", " ", "-"]),
                                                                       min_size=1, max_size=4)),
                min_size=1, max_size=3), st.text(max_size=12))
def test_redaction_never_leaves_a_card_number_in_the_text(parts, tail):
    """Card numbers, plain or grouped with spaces or dashes, anywhere in a text (next to
    letters, punctuation or other digits): none survives redaction, however glued."""
    text = "".join(before + formatted(number, seps) for before, number, seps in parts) + tail
    out = cards.redact_card_numbers(text)
    digits_only = re.sub(r"[ -]", "", out)
    for _, number, _ in parts:
        assert number not in digits_only, (text, out)
    assert cards.redact_card_numbers(out) == out


@FAST
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=60))
def test_redaction_leaves_text_without_digits_alone(text):
    assert cards.redact_card_numbers(text) == text


vault_ids = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(luhn_numbers.filter(lambda n: cards.detect_brand(n) != "AMEX"))
def test_no_answer_and_no_stored_column_holds_the_full_number(ams, services, number):
    """Through the views: vaultPaymentMethod and cacheCard answers, inquireVaulting, and
    every stored column except the sealed one, for any Luhn-valid number."""
    request_id = f"prop-{next(vault_ids)}"
    answers = [ams.post("/ams/api/v1/vaults/vaultPaymentMethod", vault_body(request_id, number)).data,
               ams.post("/ams/api/v1/vaults/inquireVaulting", {"vaultingRequestId": request_id}).data,
               ams.post("/ams/api/v1/paymentMethods/cacheCard", cache_body(number, brand=None)).data]
    for raw in answers:
        assert number.encode() not in raw, raw
    assert json.loads(answers[0])["result"]["resultStatus"] in ("S", "F", "U")
    row = services.store.get_vault("SANDBOX_TEST", request_id)
    if row is not None:
        readable = {k: row[k] for k in row.keys() if k != "card_enc"}
        assert number not in json.dumps(readable, default=str)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200), st.sampled_from(["/ams/api/v1/vaults/vaultPaymentMethod", "/v1/x"]),
       st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=20))
def test_the_tests_signer_is_the_sdks_byte_for_byte(merchant_keys, body, path, request_time):
    """tests.support.sign_like_sdk (what every test signs with) equals the SDK's own sign."""
    assert sign_like_sdk("POST", path, "SANDBOX_P", request_time, body, merchant_keys["private"]) == \
        sdk_sign("POST", path, "SANDBOX_P", request_time, body, merchant_keys["private"])
