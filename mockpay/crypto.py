"""Secrets of the data directory: the mock's signing key, the data key (AES-GCM),
card fingerprints, opaque tokens, and the local TLS certificate authority.

Everything is created once, under a file lock, so that several gunicorn
workers starting together agree on the same keys.
"""
from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import signing


@contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Keyring:
    """The mock's own keys, kept in `<data_dir>/keys/`."""

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / "keys"
        with _locked(self.dir):
            signing_path = self.dir / "alipay_private_key.pem"
            if not signing_path.exists():
                key = signing.generate_private_key()
                _write_private(signing_path, key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
            secret_path = self.dir / "data.key"
            if not secret_path.exists():
                _write_private(secret_path, secrets.token_bytes(64))
        # The key is our own file (0600, written above): skipping the RSA consistency
        # check saves ~40 ms on every app start (each test server, each gunicorn worker).
        try:
            self.private_key = serialization.load_pem_private_key(signing_path.read_bytes(), password=None,
                                                                  unsafe_skip_rsa_key_validation=True)
        except (ValueError, TypeError):  # cryptography's message is a tuple of OpenSSL errors
            raise ValueError(f"{signing_path} is not an unencrypted PEM private key") from None
        self.public_key = self.private_key.public_key()
        material = secret_path.read_bytes()
        if len(material) != 64:
            raise ValueError(f"{secret_path} is not a data key (64 bytes)")
        self._aead = AESGCM(material[:32])
        self._mac_key = material[32:]

    @property
    def public_key_body(self) -> str:
        return signing.public_key_body(self.public_key)

    # -- card data at rest -------------------------------------------------
    def encrypt(self, plaintext: str, context: str = "") -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode() or None)
        return base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str = "") -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode() or None).decode()

    def seal_json(self, obj, context: str) -> str:
        """URL-safe AES-GCM sealed JSON (session data)."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, json.dumps(obj, separators=(",", ":")).encode(), context.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open_json(self, token: str, context: str):
        """Inverse of seal_json; raises ValueError on anything tampered or foreign."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], context.encode()))
        except Exception as exc:  # InvalidTag, binascii.Error, JSON errors
            raise ValueError("sealed data is invalid") from exc

    def fingerprint(self, card_no: str) -> str:
        """Stable per card within a data directory: 64 lower-case hex characters."""
        return hmac.new(self._mac_key, b"card:" + card_no.encode(), hashlib.sha256).hexdigest()

    def digest(self, data: bytes) -> str:
        """Keyed digest for idempotency checks (the canonical body may hold a card number)."""
        return hmac.new(self._mac_key, b"body:" + data, hashlib.sha256).hexdigest()

    def page_pad(self, session_id: str) -> str:
        """A one-session pad (64 hex characters) for the hosted page to mask what it keeps
        in the browser: served only with the form, while the session is open."""
        return hmac.new(self._mac_key, b"page-pad:" + session_id.encode(), hashlib.sha256).hexdigest()


def new_card_token() -> str:
    """Shaped like Antom's sample token: 'ALIPAY' + base64 of 64 random bytes."""
    return "ALIPAY" + base64.b64encode(secrets.token_bytes(64)).decode()


def new_id(prefix: str = "", nbytes: int = 16) -> str:
    return prefix + secrets.token_hex(nbytes)


# -- local TLS certificate authority -------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mockpay local CA"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def ca_path(data_dir: Path) -> Path:
    """Where the local CA's certificate is (or will be): `<data_dir>/tls/ca.pem`."""
    return Path(data_dir) / "tls" / "ca.pem"


def ensure_tls(data_dir: Path, hosts: tuple[str, ...] = ()) -> tuple[Path, Path, Path]:
    """Create (once) a local CA at ca_path(data_dir), and a server certificate
    for localhost, 127.0.0.1, ::1 and `hosts`, issued by it. Returns (ca, cert, key) paths.
    The server certificate is reissued whenever the set of names changes."""
    ca = ca_path(data_dir)
    tls_dir = ca.parent
    names = sorted({"localhost", "127.0.0.1", "::1", *hosts})
    ca_key_path = tls_dir / "ca-key.pem"
    cert_path, key_path = tls_dir / "server.pem", tls_dir / "server-key.pem"
    names_path = tls_dir / "server.names"
    now = dt.datetime.now(dt.timezone.utc)
    with _locked(tls_dir):
        if not ca.exists():
            ca_key = signing.generate_private_key()
            ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
            ca_cert = (
                x509.CertificateBuilder()
                .subject_name(_name("mockpay local CA"))
                .issuer_name(_name("mockpay local CA"))
                .public_key(ca_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=True,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(ski, critical=False)
                .sign(ca_key, hashes.SHA256())
            )
            _write_private(ca_key_path, ca_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        if not cert_path.exists() or not names_path.exists() or names_path.read_text() != "\n".join(names):
            ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
            ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
            key = signing.generate_private_key()
            alt = []
            for n in names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    alt.append(x509.DNSName(n))
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=825))
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=True, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=False, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256())
            )
            _write_private(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            names_path.write_text("\n".join(names))
    return ca, cert_path, key_path
