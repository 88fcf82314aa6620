"""Small units: config precedence, signing, card helpers, the clock."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from mockpay import cards, signing
from mockpay.config import load_config
from tests.support import WallClock


def test_config_precedence_defaults_env_overrides():
    assert load_config({}, environ={}).port == 8080
    env = {"MOCKPAY_PORT": "9000", "MOCKPAY_TLS": "true", "MOCKPAY_NOTIFY_SCHEDULE": "0,5,10",
           "MOCKPAY_DATA_DIR": "/tmp/x"}
    config = load_config({}, environ=env)
    assert (config.port, config.tls, config.notify_schedule, config.data_dir) == (9000, True, (0, 5, 10),
                                                                                   Path("/tmp/x"))
    assert load_config({"port": 7000, "tls": None}, environ=env).port == 7000
    assert load_config({"port": 7000, "tls": None}, environ=env).tls is True
    with pytest.raises(KeyError):
        load_config({"nonsense": 1}, environ={})


def test_sign_verify_roundtrip_and_tamper(merchant_keys):
    key = signing.load_private_key(merchant_keys["private"])
    pub = signing.load_public_key(merchant_keys["public"])
    value = signing.sign(key, "POST", "/v1/x", "C", "t", b'{"a": 1}')
    assert "=" not in value
    assert signing.verify(pub, "POST", "/v1/x", "C", "t", b'{"a": 1}', value)
    for changed in [("GET", "/v1/x", "C", "t", b'{"a": 1}'), ("POST", "/v1/y", "C", "t", b'{"a": 1}'),
                    ("POST", "/v1/x", "D", "t", b'{"a": 1}'), ("POST", "/v1/x", "C", "u", b'{"a": 1}'),
                    ("POST", "/v1/x", "C", "t", b'{"a": 2}')]:
        assert not signing.verify(pub, *changed, value)
    assert not signing.verify(pub, "POST", "/v1/x", "C", "t", b'{"a": 1}', "%%%not-base64")


def test_our_signature_is_what_the_sdk_verifies(merchant_keys):
    from com.alipay.ams.api.tools.signature_tool import sign as sdk_sign
    from com.alipay.ams.api.tools.signature_tool import verify as sdk_verify
    key = signing.load_private_key(merchant_keys["private"])
    value = signing.sign(key, "POST", "/p", "C", "2026-01-01T00:00:00+00:00", "{\n   \"a\": 1\n}")
    assert sdk_verify("POST", "/p", "C", "2026-01-01T00:00:00+00:00", "{\n   \"a\": 1\n}", value,
                      merchant_keys["public"])
    sdk_value = sdk_sign("POST", "/p", "C", "t", "{}", merchant_keys["private"])
    assert signing.verify(signing.load_public_key(merchant_keys["public"]), "POST", "/p", "C", "t", b"{}",
                          sdk_value)


def test_signature_header_parsing():
    assert signing.parse_signature_header("algorithm=RSA256,keyVersion=2,signature=abc%3D")["signature"] == "abc%3D"
    assert signing.parse_signature_header("algorithm=RSA256,keyVersion=1,signature=abc==")["signature"] == "abc=="
    for bad in (None, "", "signature=", "algorithm=RSA512,signature=abc", "nonsense"):
        assert signing.parse_signature_header(bad) is None


def test_pkcs1_private_keys_and_pem_armour_are_accepted(merchant_keys):
    from cryptography.hazmat.primitives import serialization
    key = signing.load_private_key(merchant_keys["private"])
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    assert signing.load_private_key(pem).private_numbers() == key.private_numbers()
    with pytest.raises(signing.KeyFormatError):
        signing.load_public_key("bm90IGEga2V5")


@pytest.mark.parametrize("number,brand", [("4054695723100768", "VISA"), ("5162774114974622", "MASTERCARD"),
                                          ("378282246310005", "AMEX"), ("6011111111111117", "DISCOVER"),
                                          ("3530111333300000", "JCB"), ("6200000000000005", "CUP"),
                                          ("2223003122003222", "MASTERCARD"), ("3841001111222233", "HIPERCARD"),
                                          ("6062821086773091", "HIPERCARD"), ("38520000023237", "DINERS")])
def test_brand_detection(number, brand):
    assert cards.luhn_ok(number)
    assert cards.detect_brand(number) == brand


def test_masks_and_redaction():
    assert cards.masked_card_no("4112273146798764") == "************8764"
    assert cards.mask_6_4("1234561234561234") == "123456******1234"
    text = 'card 4054695723100768 and "4054 6957 2310 0768" but not 12345'
    redacted = cards.redact_card_numbers(text)
    assert "4054695723100768" not in redacted and "4054 6957 2310 0768" not in redacted
    assert redacted.count("405469******0768") == 2 and "12345" in redacted
    assert cards.luhn_complete("405469572310076") == "4054695723100768"


def test_clock_is_shared_and_moves_forward(services):
    from mockpay.clock import Clock
    before = services.clock.now()
    assert abs(before - time.time()) < 5
    services.clock.advance(3600)
    other = Clock(services.store)  # as another worker would see it
    assert 3599 < other.now() - before < 3700
    with pytest.raises(ValueError):
        services.clock.advance(-1)


def test_a_clock_change_whose_marker_was_never_written_is_seen_within_max_age(data_dir, monkeypatch):
    # a worker killed between committing an advance and writing the marker file: the other
    # workers kept the old anchor until the next advance; now for at most Clock.MAX_AGE
    from mockpay import clock as clock_mod
    from mockpay.store import Store
    store = Store(data_dir / "db.sqlite3")
    monotonic = [time.monotonic()]  # the clock's own sense of elapsed time, stopped for the test
    monkeypatch.setattr(clock_mod.time, "monotonic", lambda: monotonic[0])
    other = clock_mod.Clock(store)  # another worker, with the anchor in memory
    before = other.now()
    monkeypatch.setattr(store, "_touch_clock_marker", lambda: None)  # killed before the marker
    clock_mod.Clock(store).advance(3600)
    assert other.now() - before < 60  # the marker did not move: the kept anchor is used
    monotonic[0] += clock_mod.Clock.MAX_AGE + 0.1
    assert 3599 < other.now() - before < 3700


def test_time_scale(data_dir):
    from mockpay.clock import Clock
    from mockpay.store import Store
    store = Store(data_dir / "db.sqlite3")
    clock = Clock(store, scale=100.0)
    start = clock.now()
    time.sleep(0.05)
    assert clock.now() - start >= 4  # 50 ms of wall time is >= 5 s of mock time
    assert Clock(store).scale == 100.0


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf"), 1_000_001])
def test_a_time_scale_out_of_range_is_refused(scale):
    with pytest.raises(ValueError, match="time scale"):
        load_config({"time_scale": scale}, environ={})
    with pytest.raises(ValueError, match="time scale"):
        load_config({}, environ={"MOCKPAY_TIME_SCALE": str(scale)})


def test_the_fastest_clock_stops_at_its_end(data_dir, monkeypatch):
    from mockpay.clock import LATEST, Clock, iso
    from mockpay.store import Store
    assert load_config({"time_scale": 1_000_000}, environ={}).time_scale == 1_000_000
    # the wall clock is the test's: at a million mock seconds per wall second, a loaded
    # machine's half-second pause between the advance and the next read was the end itself
    wall = WallClock(monkeypatch)
    clock = Clock(Store(data_dir / "db.sqlite3"), scale=1_000_000.0)
    clock.advance(LATEST - clock.now() - 500_000)  # 500,000 mock seconds before the end: 0.5 s of wall time
    assert clock.now() < LATEST
    wall.advance(0.6)
    assert clock.now() == LATEST
    assert iso(clock.now()) == "9000-01-01T00:00:00+00:00"


def test_tls_ca_issues_a_certificate_for_the_names(tmp_path):
    import ssl
    from cryptography import x509
    from mockpay.crypto import ensure_tls
    ca, cert, key = ensure_tls(tmp_path, ("mockpay.internal",))
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mockpay.internal" in names.get_values_for_type(x509.DNSName)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    context = ssl.create_default_context(cafile=str(ca))
    context.load_verify_locations(str(ca))
    ca_again, _, _ = ensure_tls(tmp_path, ("mockpay.internal",))
    assert ca_again.read_bytes() == ca.read_bytes()  # the CA is created once


def test_every_process_sees_each_advance(services):
    """Another process's cached clock must notice every advance, however quick the succession."""
    from mockpay.clock import Clock
    from mockpay.store import Store
    other = Clock(Store(services.config.db_path))  # as another gunicorn worker holds it
    for steps in (1, 2, 3) * 5:  # several advances between two reads: inodes alternate on ext4
        before = other.now()
        for _ in range(steps):
            services.clock.advance(600)
        assert 600 * steps - 1 < other.now() - before < 600 * steps + 100
