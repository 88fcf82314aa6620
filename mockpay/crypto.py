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
import logging
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
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


def _keep_private(*paths: Path) -> None:
    """Secret files stay 0600: a data directory copied with `cp -r` (or unpacked from an
    archive) leaves them readable by every user of the machine. Where the mode cannot be
    changed (a read-only copy, another owner), it is left as it is."""
    for path in paths:
        try:
            mode = path.stat().st_mode
            if mode & 0o077:
                path.chmod(0o600)
                logging.getLogger("mockpay.keys").warning("%s was readable by other users (mode %o); it is 0600 again",
                                                          path, mode & 0o777)
        except OSError:
            pass


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
            _keep_private(signing_path, secret_path)
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

CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=825)
# a certificate this close to its end is renewed when ensure_tls runs (each `mockpay serve`),
# so that a long-running test environment restarted now and then never serves an expired one
RENEW_BEFORE = dt.timedelta(days=30)

log = logging.getLogger("mockpay.tls")


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mockpay local CA"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def ca_path(data_dir: Path) -> Path:
    """Where the local CA's certificate is (or will be): `<data_dir>/tls/ca.pem`."""
    return Path(data_dir) / "tls" / "ca.pem"


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def tls_name(host: str) -> str:
    """A name for the server certificate, as it goes in the SAN: an IP address (IPv6 with or
    without brackets), or a DNS name (IDNA-encoded; a leading '*.' wildcard allowed).
    ValueError, naming it, for anything else (a URL, a host:port, spaces...)."""
    text = host.strip()
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(inner))
    except ValueError:
        pass
    try:
        name = text.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        name = ""
    labels = name.split(".")
    if labels and labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"TLS host {host!r} is not a host name or an IP address "
                         "(give the name alone: no scheme, port or path)")
    return name


def _fresh(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and now + RENEW_BEFORE < cert.not_valid_after_utc


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _new_ca(ca: Path, ca_key_path: Path, now: dt.datetime) -> None:
    ca_key = signing.generate_private_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("mockpay local CA"))
        .issuer_name(_name("mockpay local CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # ca.pem goes first and comes back last: a crash in between leaves no CA, made anew next time
    ca.unlink(missing_ok=True)
    _write_private(ca_key_path, ca_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_public(ca, ca_cert.public_bytes(serialization.Encoding.PEM))


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        raise ValueError(f"{path} is not a PEM certificate (remove it to have it made anew)") from None


def _server_cert_usable(cert_path: Path, key_path: Path, names_path: Path, names: list[str],
                        ca_cert: x509.Certificate, now: dt.datetime) -> bool:
    """The server certificate can be served as it is: for these names, from this CA, with
    its key, and not about to expire."""
    try:
        if names_path.read_text() != "\n".join(names):
            return False
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca_cert)  # from the CA clients trust now (made anew?)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None,
                                                 unsafe_skip_rsa_key_validation=True)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return _fresh(cert, now) and key.public_key() == cert.public_key()


def ensure_tls(data_dir: Path, hosts: tuple[str, ...] = (), now: dt.datetime | None = None
               ) -> tuple[Path, Path, Path]:
    """Create (once) a local CA at ca_path(data_dir), and a server certificate
    for localhost, 127.0.0.1, ::1 and `hosts`, issued by it. Returns (ca, cert, key) paths.
    The server certificate is reissued whenever the set of names changes, when it is not
    from the CA in ca.pem, and when it expires within RENEW_BEFORE; the CA is made anew
    (with a warning: clients must trust the new ca.pem) when it expires within RENEW_BEFORE.
    ValueError for a host that is no name or IP address, or for damaged CA files."""
    ca = ca_path(data_dir)
    tls_dir = ca.parent
    names = sorted({"localhost", "127.0.0.1", "::1", *(tls_name(h) for h in hosts)})
    ca_key_path = tls_dir / "ca-key.pem"
    cert_path, key_path = tls_dir / "server.pem", tls_dir / "server-key.pem"
    names_path = tls_dir / "server.names"
    now = now or dt.datetime.now(dt.timezone.utc)
    with _locked(tls_dir):
        ca_cert = _load_cert(ca) if ca_key_path.exists() else None
        if ca_cert is not None and not _fresh(ca_cert, now):
            log.warning("the local CA %s expires on %s: a new CA is made; clients must trust the new %s",
                        ca, ca_cert.not_valid_after_utc.date(), ca)
            ca_cert = None
        if ca_cert is None:
            _new_ca(ca, ca_key_path, now)
            ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
        if not _server_cert_usable(cert_path, key_path, names_path, names, ca_cert, now):
            try:
                ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
            except (ValueError, TypeError):
                raise ValueError(f"{ca_key_path} is not an unencrypted PEM private key "
                                 f"(remove it and {ca.name} to have a new CA made)") from None
            if ca_key.public_key() != ca_cert.public_key():
                raise ValueError(f"{ca} and {ca_key_path} are not one key pair "
                                 "(remove both to have a new CA made)")
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
                .not_valid_after(min(now + SERVER_LIFETIME, ca_cert.not_valid_after_utc))
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
            names_path.unlink(missing_ok=True)  # written last: a crash in between reissues next time
            _write_private(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
            names_path.write_text("\n".join(names))
        _keep_private(ca_key_path, key_path)
    return ca, cert_path, key_path
