"""Signatures, keys, clients and the local TLS CA: what a bug hunt on the cryptographic
and identity layer found, one test (or class) per finding."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading

import pytest
from cryptography import x509

from mockpay.crypto import RENEW_BEFORE, ensure_tls


def handshake(ca, cert, key, server_hostname: str = "localhost") -> None:
    """A real TLS handshake: a server with (cert, key), a client that trusts `ca` alone and
    checks the name, as ssl.create_default_context() does for the SDK. Raises ssl.SSLError."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    a, b = socket.socketpair()
    failures = []

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as exc:
            failures.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as s:
            s.sendall(b"x")
    finally:
        thread.join(10)
        a.close()


def leaf(cert_path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_path.read_bytes())


class TestTlsRenewal:
    """The server certificate was issued once (825 days) and reissued only when the names
    changed: a long-running instance restarted after that served an expired certificate,
    and a CA made anew (ca.pem removed) left the server certificate of the old CA, which
    clients trusting the new ca.pem refuse."""

    def test_a_server_certificate_about_to_expire_is_reissued(self, tmp_path):
        now = dt.datetime.now(dt.timezone.utc)
        ca, cert, key = ensure_tls(tmp_path, now=now - dt.timedelta(days=825) + RENEW_BEFORE / 2)
        old_ca = ca.read_bytes()
        assert leaf(cert).not_valid_after_utc < now + RENEW_BEFORE  # as a start long ago left it
        ensure_tls(tmp_path)
        assert leaf(cert).not_valid_after_utc > now + dt.timedelta(days=365)
        assert ca.read_bytes() == old_ca  # the CA clients trust stays
        handshake(ca, cert, key)

    def test_an_expired_server_certificate_is_reissued(self, tmp_path):
        now = dt.datetime.now(dt.timezone.utc)
        ca, cert, key = ensure_tls(tmp_path, now=now - dt.timedelta(days=900))
        with pytest.raises(ssl.SSLError, match="expired"):
            handshake(ca, cert, key)
        ensure_tls(tmp_path)
        handshake(ca, cert, key)

    def test_a_ca_about_to_expire_is_made_anew_and_issues_the_server_certificate(self, tmp_path, caplog):
        now = dt.datetime.now(dt.timezone.utc)
        ca, cert, key = ensure_tls(tmp_path, now=now - dt.timedelta(days=3650) + RENEW_BEFORE / 2)
        old_ca = ca.read_bytes()
        ensure_tls(tmp_path)
        assert ca.read_bytes() != old_ca
        assert x509.load_pem_x509_certificate(ca.read_bytes()).not_valid_after_utc > now + dt.timedelta(days=3000)
        assert "clients must trust the new" in caplog.text
        handshake(ca, cert, key)

    def test_a_server_certificate_never_outlives_its_ca(self, tmp_path):
        now = dt.datetime.now(dt.timezone.utc)
        ca, cert, _ = ensure_tls(tmp_path, now=now - dt.timedelta(days=3650) + dt.timedelta(days=100))
        ca_end = x509.load_pem_x509_certificate(ca.read_bytes()).not_valid_after_utc
        assert leaf(cert).not_valid_after_utc <= ca_end

    @pytest.mark.parametrize("removed", [("ca.pem",), ("ca.pem", "ca-key.pem"), ("ca-key.pem",)])
    def test_a_ca_made_anew_reissues_the_server_certificate(self, tmp_path, removed):
        ca, cert, key = ensure_tls(tmp_path)
        for name in removed:
            (tmp_path / "tls" / name).unlink()
        ensure_tls(tmp_path)
        handshake(ca, cert, key)

    def test_a_server_key_that_does_not_match_its_certificate_is_reissued(self, tmp_path):
        ca, cert, key = ensure_tls(tmp_path)
        (tmp_path / "tls" / "server-key.pem").write_bytes((tmp_path / "tls" / "ca-key.pem").read_bytes())
        ensure_tls(tmp_path)
        handshake(ca, cert, key)

    def test_damaged_ca_files_are_named(self, tmp_path):
        ensure_tls(tmp_path)
        (tmp_path / "tls" / "ca.pem").write_text("not a certificate")
        with pytest.raises(ValueError, match=r"ca\.pem is not a PEM certificate"):
            ensure_tls(tmp_path)

    def test_a_ca_certificate_and_key_of_two_pairs_are_named(self, tmp_path):
        ensure_tls(tmp_path / "a")
        ensure_tls(tmp_path / "b")
        (tmp_path / "a" / "tls" / "ca.pem").write_bytes((tmp_path / "b" / "tls" / "ca.pem").read_bytes())
        with pytest.raises(ValueError, match="are not one key pair"):
            ensure_tls(tmp_path / "a")

    def test_an_unchanged_data_directory_keeps_its_certificate(self, tmp_path):
        ca, cert, key = ensure_tls(tmp_path, ("mockpay.internal",))
        before = cert.read_bytes(), key.read_bytes(), ca.read_bytes()
        ensure_tls(tmp_path, ("mockpay.internal",))
        assert (cert.read_bytes(), key.read_bytes(), ca.read_bytes()) == before


def test_serve_names_a_damaged_ca_file_without_a_traceback(tmp_path):
    import os
    import subprocess
    import sys
    ensure_tls(tmp_path / "d")
    (tmp_path / "d" / "tls" / "ca.pem").write_text("garbage")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOCKPAY_")}
    result = subprocess.run([sys.executable, "-m", "mockpay.cli", "--data-dir", str(tmp_path / "d"), "serve",
                             "--tls", "--port", "1"], capture_output=True, text=True, timeout=60, env=environ)
    assert result.returncode == 1
    assert "ca.pem is not a PEM certificate" in result.stderr and "Traceback" not in result.stderr


class TestTlsHostNames:
    """--tls-host / MOCKPAY_TLS_HOSTS went into the certificate as they were written: '[::1]'
    and 'https://mockpay.test' became DNS names no client ever matches (the handshake failed
    with nothing said at start), and a name with an accent was a traceback from mockpay serve."""

    def sans(self, cert) -> list[str]:
        return [str(v.value) for v in leaf(cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value]

    def test_a_bracketed_ipv6_address_is_an_ip_address(self, tmp_path):
        ca, cert, key = ensure_tls(tmp_path, ("[fd00::5]",))
        names = leaf(cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "fd00::5" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
        assert "[fd00::5]" not in names.get_values_for_type(x509.DNSName)
        handshake(ca, cert, key, server_hostname="fd00::5")

    def test_an_international_name_is_idna_encoded(self, tmp_path):
        ca, cert, key = ensure_tls(tmp_path, ("bücher.test",))
        assert "xn--bcher-kva.test" in self.sans(cert)
        handshake(ca, cert, key, server_hostname="xn--bcher-kva.test")

    def test_case_and_a_trailing_dot_do_not_matter(self, tmp_path):
        _, cert, _ = ensure_tls(tmp_path, ("MockPay.Internal.", "*.apps.test"))
        assert {"mockpay.internal", "*.apps.test"} <= set(self.sans(cert))

    @pytest.mark.parametrize("host", ["https://mockpay.test", "mockpay.test:443", "mock pay", "a/b", "", "-x.test",
                                      "[mockpay.test]"])
    def test_what_is_no_host_is_refused_naming_it(self, tmp_path, host):
        with pytest.raises(ValueError, match="is not a host name or an IP address"):
            ensure_tls(tmp_path, (host,))

    def test_serve_refuses_it_in_one_line(self, tmp_path):
        import os
        import subprocess
        import sys
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MOCKPAY_")}
        environ["MOCKPAY_TLS_HOSTS"] = "localhost,https://mockpay.test"
        result = subprocess.run([sys.executable, "-m", "mockpay.cli", "--data-dir", str(tmp_path / "d"), "serve",
                                 "--tls", "--port", "1"], capture_output=True, text=True, timeout=60, env=environ)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "TLS host 'https://mockpay.test' is not a host name" in result.stderr
        assert not (tmp_path / "d").exists()  # refused before anything is made


@pytest.mark.parametrize("layout", [
    "signature={v} ,algorithm=RSA256,keyVersion=1",
    "algorithm=RSA256 , keyVersion=1 , signature={v}\t",
    "keyVersion = 1 , signature = {v} , algorithm = RSA256",
])
def test_blanks_around_the_signature_value_are_not_part_of_it(ams, layout):
    """The header's parts may have blanks around ',' and '=' (the parser allows them): a blank
    before the comma after the value went into the value, which then failed as a wrong signature."""
    from tests.support import sdk_body, signed_headers, vault_body
    path = "/ams/api/v1/vaults/vaultPaymentMethod"
    text = sdk_body(vault_body("blank-1"))
    headers = signed_headers(ams.merchant["client_id"], ams.merchant["private_key"], path, text)
    value = headers["signature"].split("signature=")[1]
    headers["signature"] = layout.format(v=value)
    body = ams.call(path, None, raw=text, headers=headers)
    assert body["result"]["resultCode"] == "SUCCESS", body


class TestPrivateKeyGivenAsPublicKey:
    """A merchant's private key given where its public key goes was refused as 'not an X.509
    SubjectPublicKeyInfo RSA public key', which does not say what went wrong; it is now said
    as such, and the key is neither kept nor echoed."""

    @pytest.fixture(scope="class")
    @classmethod
    def private_forms(cls):
        import base64

        from cryptography.hazmat.primitives import serialization as s

        from mockpay import signing
        key = signing.generate_private_key()
        pkcs1 = key.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
        return {
            "pkcs8 body": signing.private_key_body(key),
            "pkcs1 body": base64.b64encode(pkcs1).decode(),
            "pkcs1 pem": key.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL,
                                           s.NoEncryption()).decode(),
            "encrypted pem": key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,
                                               s.BestAvailableEncryption(b"pw")).decode(),
        }

    @pytest.mark.parametrize("form", ["pkcs8 body", "pkcs1 body", "pkcs1 pem", "encrypted pem"])
    def test_admin_api(self, app, services, private_forms, form):
        text = private_forms[form]
        r = app.test_client().post("/_mockpay/clients", json={"clientId": "SANDBOX_PK", "publicKey": text})
        assert r.status_code == 400
        message = r.get_json()["error"]["message"]
        assert message.startswith("publicKey: this is a private key: give its public key")
        body_lines = [line for line in text.splitlines() if not line.startswith("-----")]
        assert not any(line[:40] in r.get_data(as_text=True) for line in body_lines)
        assert services.clients.get("SANDBOX_PK") is None

    def test_cli(self, tmp_path, private_forms):
        from click.testing import CliRunner

        from mockpay.cli import main
        key_file = tmp_path / "key.pem"
        key_file.write_text(private_forms["pkcs1 pem"])
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "clients", "add", "SANDBOX_PK",
                                           "--public-key", str(key_file)])
        assert result.exit_code == 1
        assert "this is a private key" in result.output
        assert private_forms["pkcs1 pem"].splitlines()[1] not in result.output
        listed = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "clients", "list", "--json"])
        assert "SANDBOX_PK" not in listed.output

    def test_a_public_key_or_garbage_is_not_taken_for_one(self, merchant_keys):
        from mockpay import signing
        assert signing.load_public_key(merchant_keys["public"]) is not None
        with pytest.raises(signing.KeyFormatError, match="not an X.509 SubjectPublicKeyInfo"):
            signing.load_public_key("QUJD")  # base64, no key at all


def test_secret_files_made_readable_by_a_copy_are_0600_again(tmp_path, caplog):
    """A data directory copied with `cp -r` (umask 022) or unpacked from an archive left the
    signing key, the data key and the TLS keys readable by every user of the machine."""
    import stat

    from mockpay.crypto import Keyring
    Keyring(tmp_path)
    _, _, server_key = ensure_tls(tmp_path)
    secrets_ = [tmp_path / "keys" / "alipay_private_key.pem", tmp_path / "keys" / "data.key",
                tmp_path / "tls" / "ca-key.pem", server_key]
    for path in secrets_:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        path.chmod(0o644)  # as a copy leaves them
    with caplog.at_level("WARNING"):
        Keyring(tmp_path)
        ensure_tls(tmp_path)
    assert [stat.S_IMODE(p.stat().st_mode) for p in secrets_] == [0o600] * 4
    assert sum("readable by other users" in r.getMessage() for r in caplog.records) == 4
