"""AMS message signatures: SHA256withRSA (PKCS#1 v1.5) over
`<METHOD> <path>\\n<client-id>.<time>.<body>`, base64 then URL-encoded.

Keys travel as base64 bodies without PEM armour (what the official SDKs take);
PEM text is accepted too.
"""
from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_plus

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class KeyFormatError(ValueError):
    pass


def _der(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("key is not base64") from exc


def load_private_key(text: str | bytes) -> rsa.RSAPrivateKey:
    der = _der(text)
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError as exc:
        raise KeyFormatError("not a PKCS#8 or PKCS#1 RSA private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("not an RSA private key")
    return key


def _is_private_key(der: bytes) -> bool:
    try:
        serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:  # an encrypted one, given no password: a private key all the same
        return True
    except ValueError:
        return False
    return True


def load_public_key(text: str | bytes) -> rsa.RSAPublicKey:
    der = _der(text)
    try:
        key = serialization.load_der_public_key(der)
    except ValueError as exc:
        if _is_private_key(der):  # said as such, and never kept nor echoed
            raise KeyFormatError("this is a private key: give its public key (X.509 SubjectPublicKeyInfo), "
                                 "and keep the private key to yourself") from None
        raise KeyFormatError("not an X.509 SubjectPublicKeyInfo RSA public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("not an RSA public key")
    return key


def private_key_body(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 DER, base64, one line: what DefaultAlipayClient takes as merchant_private_key."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return base64.b64encode(der).decode()


def public_key_body(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign_content(method: str, path: str, client_id: str, time: str, body: bytes | str) -> bytes:
    if isinstance(body, str):
        body = body.encode("utf-8")
    return f"{method} {path}\n{client_id}.{time}.".encode("utf-8") + body


# quote_plus() of a base64 text, as a table: only these three characters change.
_URL_ENCODE_B64 = str.maketrans({"+": "%2B", "/": "%2F", "=": "%3D"})


def sign(key: rsa.RSAPrivateKey, method: str, path: str, client_id: str, time: str,
         body: bytes | str) -> str:
    """The URL-encoded signature value (no raw '=' left, as the Java SDK needs)."""
    raw = key.sign(sign_content(method, path, client_id, time, body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode().translate(_URL_ENCODE_B64)


def verify(key: rsa.RSAPublicKey, method: str, path: str, client_id: str, time: str,
           body: bytes | str, value: str) -> bool:
    try:
        raw = base64.b64decode(unquote_plus(value), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, sign_content(method, path, client_id, time, body), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def signature_header(value: str, key_version: str = "1") -> str:
    return f"algorithm=RSA256,keyVersion={key_version},signature={value}"


# the value is lazy, so that blanks before the next comma are not part of it
_HEADER_PART = re.compile(r"\s*([A-Za-z]+)\s*=\s*(.*?)\s*")


def parse_signature_header(header: str | None) -> dict[str, str] | None:
    """`algorithm=RSA256,keyVersion=1,signature=<v>` -> dict, or None when malformed.

    The value itself is URL-encoded, so it holds no ',' or '='; we still split
    only on the first '=' of each part to be lenient with padding left raw.
    """
    if not header:
        return None
    parts = {}
    for chunk in header.split(","):
        m = _HEADER_PART.fullmatch(chunk)
        if not m:
            return None
        parts[m.group(1)] = m.group(2)
    if "signature" not in parts or not parts["signature"]:
        return None
    if parts.get("algorithm", "RSA256") != "RSA256":
        return None
    return parts
