"""Helpers shared by the tests: signing as the SDK does, request bodies, and a
real `mockpay serve` process."""
from __future__ import annotations

import base64
import functools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote_plus

import requests
from com.alipay.ams.api.tools.date_tools import get_cur_iso8601_time
from com.alipay.ams.api.tools.signature_tool import gen_sign_content
from com.alipay.ams.api.tools.signature_tool import verify as sdk_verify
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

VISA_OK = "4054695723100768"
MC_OK = "5162774114974622"
# mockpay's own success card: unlike Antom's sandbox cards (any expiry), it is declined
# CARD_EXPIRED once its expiry date is past on the mock clock
OWN_OK = "4000000101000000"


def vault_body(request_id: str = "vault-1", card_no: str = VISA_OK, **card_overrides) -> dict:
    card = {"cardNo": card_no, "cvv": "123", "expiryYear": "30", "expiryMonth": "08",
            "cardholderName": {"firstName": "Ada", "lastName": "Lovelace"}}
    card.update(card_overrides)
    return {
        "vaultingRequestId": request_id,
        "vaultingNotificationUrl": "https://merchant.example/notify",
        "redirectUrl": "https://merchant.example/return",
        "paymentMethodDetail": {"paymentMethodType": "CARD", "card": card},
        "env": {"terminalType": "WEB"},
    }


def token_vault_body(request_id: str, token: str, **card) -> dict:
    """vaultPaymentMethod with a cacheCard token (and a CVV) in place of the card."""
    body = vault_body(request_id)
    body["paymentMethodDetail"]["card"] = {"cardToken": token, "cvv": "123", **card}
    return body


def cache_body(card_no: str = VISA_OK, **card_overrides) -> dict:
    card = {
        "cardNo": card_no,
        "brand": "VISA",
        "securityCode": "444",
        "expiryYear": "2030",
        "expiryMonth": "07",
        "instUserName": {"firstName": "Ada", "lastName": "Lovelace"},
        "billingAddress": {"region": "CN", "state": "Zhejiang", "city": "Hangzhou", "zipCode": "3100000",
                           "address1": "1 West Lake Road", "address2": "Floor 2"},
    }
    card.update(card_overrides)
    return {"paymentMethodDetail": {"paymentMethodDetailType": "card",
                                    "card": {k: v for k, v in card.items() if v is not None}}}


def session_body(request_id: str = "vs-1", **overrides) -> dict:
    body = {
        "paymentMethodType": "CARD",
        "vaultingRequestId": request_id,
        "vaultingNotificationUrl": "https://merchant.example/notify",
        "redirectUrl": "https://merchant.example/return",
        "merchantRegion": "US",
        "is3DSAuthentication": "false",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def sdk_body(body: dict) -> str:
    """What the Python SDK sends: json.dumps(indent=3)."""
    return json.dumps(body, indent=3)


@functools.lru_cache(maxsize=64)
def _merchant_key(private_key: str):
    if "-----" in private_key:
        return serialization.load_pem_private_key(private_key.encode(), password=None)
    return serialization.load_der_private_key(base64.b64decode(private_key), password=None)


def sign_like_sdk(method: str, path: str, client_id: str, request_time: str, body: str | bytes,
                  private_key: str) -> str:
    """The SDK's `signature_tool.sign`, byte for byte (RSA PKCS#1 v1.5 is deterministic; the
    SDK's own content builder), but with the key loaded once: the SDK parses and checks the
    PEM key on every call, ~60 ms. tests/test_properties.py checks the two agree. A bytes
    body is signed as it is (the SDK could only send UTF-8)."""
    if isinstance(body, bytes):
        content = gen_sign_content(method, path, client_id, request_time, "").encode("utf-8") + body
    else:
        content = gen_sign_content(method, path, client_id, request_time, body).encode("utf-8")
    raw = _merchant_key(private_key).sign(content, padding.PKCS1v15(), hashes.SHA256())
    return quote_plus(base64.b64encode(raw).decode())


def signed_headers(client_id: str, private_key: str, path: str, body: str | bytes, method: str = "POST",
                   request_time: str | None = None) -> dict:
    request_time = request_time or get_cur_iso8601_time()
    value = sign_like_sdk(method, path, client_id, request_time, body, private_key)
    return {
        "Content-Type": "application/json; charset=UTF-8",
        "client-id": client_id,
        "request-time": request_time,
        "signature": f"algorithm=RSA256,keyVersion=1,signature={value}",
    }


def response_verifies(path: str, headers, body: str | bytes, alipay_public_key: str, method: str = "POST") -> bool:
    """Verify an answer exactly as the SDK does (lower-case headers, signature= split)."""
    if isinstance(body, bytes):
        body = body.decode()
    signature = headers.get("signature")
    if not signature or "signature=" not in signature:
        return False
    return sdk_verify(method, path, headers["client-id"], headers["response-time"], body,
                      signature.split("signature=")[1], alipay_public_key)


def digits_shown(text: str, digits: str) -> bool:
    """`digits` (a CVV, say) as a value of its own: not inside a longer number, a time, a latency,
    or random hex such as a page's nonce or a token, where any three digits turn up by chance.
    Nor the whole part of a decimal: a log line's "852.4ms" is a latency, not CVV 852."""
    return re.search(rf"(?<![0-9A-Za-z.,:]){digits}(?![0-9A-Za-z]|[.,:][0-9])", text) is not None


class WallClock:
    """The wall clock the mock clock runs with, stopped: it moves only by `advance`, so a
    check made a second before a deadline does not depend on how fast the machine is."""

    def __init__(self, monkeypatch):
        from types import SimpleNamespace

        from mockpay import clock as clock_mod
        from mockpay import store as store_mod
        self.now = time.time()
        monkeypatch.setattr(store_mod, "_now_real", lambda: self.now)
        monkeypatch.setattr(clock_mod, "time", SimpleNamespace(time=lambda: self.now, monotonic=time.monotonic))

    def advance(self, seconds: float) -> None:
        self.now += seconds


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and never one this run has handed out before: the probe
    socket is closed at once, so two calls in a row (a server's HTTP and HTTPS ports) could
    otherwise be given the same port, and the second listener then fails to bind."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def random_loopback() -> str:
    """A loopback address of its own, so that parallel runs can each bind port 443."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def bind_failed(output: str, host: str, port: int, errno_: int) -> bool:
    """gunicorn's own line for a refused bind (13: permission denied, 98: in use)."""
    return f"connection to ('{host}', {port}) failed: [Errno {errno_}]" in output


def may_skip_port_443(output: str, host: str) -> bool:
    """Port 443 refused for want of privilege: the one start failure that is the machine's,
    not mockpay's, and a reason to skip, except under CI=true, which runs as root."""
    return bind_failed(output, host, 443, 13) and os.environ.get("CI") != "true"


class ServerProcess:
    """`mockpay serve` as a child process (real gunicorn)."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int | None = None, tls: bool = False,
                 workers: int = 2, extra_args: tuple[str, ...] = (), env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.host, self.port, self.tls, self.workers = host, port or free_port(), tls, workers
        self.extra_args = extra_args
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mockpay.cli", "--data-dir", str(self.data_dir), *args],
                              capture_output=True, text=True, check=check, env=self.env)

    def start(self, timeout: float = 20) -> "ServerProcess":
        args = [sys.executable, "-m", "mockpay.cli", "--data-dir", str(self.data_dir), "serve",
                "--host", self.host, "--port", str(self.port), "--workers", str(self.workers), *self.extra_args]
        if self.tls:
            args += ["--tls", "--tls-host", self.host]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        verify = str(self.data_dir / "tls" / "ca.pem") if self.tls else True
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mockpay serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.base_url + "/_mockpay/health", timeout=1, verify=verify).ok:
                    return self
            except (requests.RequestException, OSError):  # not listening yet, or CA not written yet
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mockpay serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    def kill(self) -> None:
        """SIGKILL the whole process group: master and workers, no clean-up."""
        self.stop(signal.SIGKILL)


# -- proof (issue 7): signing what is really sent, over a real server --------------------

class SigningAuth(requests.auth.AuthBase):
    """A requests auth that signs the prepared request as the SDK signs: the method, the
    path and the body bytes exactly as they go on the wire (set last, after the body is
    serialised), with a fresh request-time. Used by the fuzzer, whose generated bodies
    are only known once serialised."""

    def __init__(self, client: dict):
        self.client = client

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        from urllib.parse import unquote, urlsplit

        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        path = unquote(urlsplit(prepared.url).path)
        headers = signed_headers(self.client["clientId"], self.client["merchantPrivateKey"], path, body,
                                 method=prepared.method)
        headers.pop("Content-Type", None)  # keep the content type the request was built with
        prepared.headers.update(headers)
        return prepared


def ams_call(server, path: str, body=None, *, client: dict | None = None, raw: str | bytes | None = None,
             headers: dict | None = None, sign_path: str | None = None, sign_body: str | bytes | None = None,
             request_time: str | None = None, session: requests.Session | None = None,
             verify_answer: bool = True) -> requests.Response:
    """POST one AMS request to a real server (`server.base_url`), signed as the SDK signs it
    (`sign_path` / `sign_body`: sign something else than what is sent). `headers` are applied
    after signing; a None value removes that header. By default the answer must be HTTP 200
    and carry a signature that verifies with the mock's public key."""
    client = client or server.client
    text = raw if raw is not None else sdk_body(body)
    data = text.encode("utf-8") if isinstance(text, str) else text
    signed = sign_body if sign_body is not None else text
    h = signed_headers(client["clientId"], client["merchantPrivateKey"], sign_path or path, signed,
                       request_time=request_time)
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    response = (session or requests).post(server.base_url + path, data=data, headers=h, timeout=30)
    if verify_answer:
        assert response.status_code == 200, (response.status_code, response.text[:300])
        assert response_verifies(path, response.headers, response.content, client["alipayPublicKey"]), \
            "the answer's signature does not verify with the mock's public key"
    return response


# What a request may leave behind: the domain's tables (not the request journal, which
# records every call on purpose).
STATE_TABLES = ("vaults", "vaulting_sessions", "card_tokens", "notifications", "scenario_state")


def stored_rows(data_dir: Path) -> dict[str, int]:
    """Row counts of the state tables, read from the server's SQLite file (read-only, so a
    running server is not disturbed; WAL readers see every committed transaction)."""
    import sqlite3

    db = sqlite3.connect(f"file:{Path(data_dir) / 'mockpay.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in STATE_TABLES}
    finally:
        db.close()


def raw_http(host: str, port: int, request: bytes, timeout: float = 10):
    """Send bytes exactly as given on a fresh socket; return the parsed answer
    (an http.client.HTTPResponse, its body read into `.body`)."""
    import http.client

    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.body = response.read()
        return response
    finally:
        sock.close()
