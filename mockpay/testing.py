"""Test helpers for merchants: request builders, and the `mockpay` pytest fixture's server.

Request builders fill a valid request with realistic Faker data, so that a test
states only what it cares about::

    from mockpay import testing

    body = testing.vault_payment_method()                      # a valid dict
    body = testing.vault_payment_method(brand="AMEX")           # 15-digit Amex, 4-digit CVV
    body = testing.vault_payment_method(scenario="failure")     # Antom's failure sandbox card
    body = testing.vault_payment_method(card={"expiryMonth": "13"})   # only what the test is about
    request = testing.vault_payment_method_request(brand="MASTERCARD")  # an official-SDK object

Keyword arguments in camelCase are request fields, deep-merged into the
generated request (`None` removes a field); `card=` merges into
`paymentMethodDetail.card`. Lower-case keywords are options of the builder.

The pytest plugin (mockpay.pytest_plugin) builds on `MockpayServer` below.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import random as _random
import ssl
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from .cards import detect_brand, luhn_complete

__all__ = [
    "BRANDS", "SANDBOX_CARDS", "SCENARIOS", "RequestBuilder", "card_number", "card",
    "vault_payment_method", "inquire_vaulting", "create_vaulting_session",
    "vault_payment_method_request", "inquire_vaulting_request", "create_vaulting_session_request",
    "to_sdk_request", "deep_merge", "MockpayServer", "Client", "AdminError", "ScenarioError",
]


def __getattr__(name: str):
    """ScenarioError (mockpay.scenarios), without loading the scenario machinery up front."""
    if name == "ScenarioError":
        from .scenarios import ScenarioError
        return ScenarioError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# -- cards ------------------------------------------------------------------------

# brand -> (number prefixes, length). Every generated number is checked against
# mockpay.cards.detect_brand, so the mock recognises the brand the test asked for.
BRANDS: dict[str, tuple[tuple[str, ...], int]] = {
    "VISA": (("4",), 16),
    "MASTERCARD": (("51", "52", "53", "54", "55", "2221", "2720"), 16),
    "AMEX": (("34", "37"), 15),
    "DISCOVER": (("6011", "644", "649"), 16),
    "JCB": (("3528", "3589"), 16),
    "DINERS": (("36", "300", "305", "38"), 14),
    "CUP": (("62",), 16),
    "ELO": (("4011", "4312", "5067", "6277", "6363"), 16),
    "HIPERCARD": (("606282",), 16),
    "MIR": (("2200", "2204"), 16),
    "TROY": (("9792",), 16),
    "MAESTRO": (("5018", "5020", "6304", "6759"), 16),
}

# Antom's published sandbox cards (AMS-FACTS.md); all pass the Luhn check.
SANDBOX_CARDS: dict[str, str] = {
    "success_visa": "4054695723100768",
    "success_mastercard": "5162774114974622",
    "failure_visa": "4054692760174822",
    "failure_mastercard": "5162770472561357",
    "success_korea": "9490220011669217",
    "success_brazil": "4294097400915107",
    "success_mexico": "4006055482525268",
    "success_chile": "4600729331819383",
    "success_peru": "4310377720003234",
    "3ds_exemption": "4035501000000008",
}

# Named scenarios a builder understands: a sandbox card, or a change to the card.
SCENARIOS: dict[str, str] = {
    **{name: f"Antom sandbox card {number}" for name, number in SANDBOX_CARDS.items()},
    "success": "Antom's success sandbox card of the brand (VISA or MASTERCARD)",
    "failure": "Antom's failure sandbox card of the brand (VISA or MASTERCARD)",
    "3ds_challenge": "a card with is3DSAuthentication \"true\"",
    "invalid_expiry": "expiry month 13 (Antom's sandbox rule; mockpay answers PARAM_ILLEGAL)",
    "invalid_cvv": "CVV 99 (Antom's sandbox rule; mockpay answers PARAM_ILLEGAL)",
}

# Documented maximum lengths the generated personal data must respect.
_NAME_MAX = {"firstName": 32, "middleName": 32, "lastName": 32, "fullName": 128}
_ADDRESS_MAX = {"region": 2, "state": 8, "city": 32, "address1": 256, "address2": 256, "zipCode": 32}


def deep_merge(base: dict, overrides: dict | None) -> dict:
    """A copy of `base` with `overrides` merged in: dicts recursively, None deletes."""
    out = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fit(text: str, limit: int) -> str:
    """`text` on one line (Faker's en_GB, en_IN and en_NZ street addresses hold a line break,
    which the API refuses as a control character), cut to `limit` characters."""
    text = " ".join(text.split())
    return text[:limit].rstrip() or text[:limit]


class RequestBuilder:
    """Builds valid AMS vaulting requests with Faker data.

    `seed` makes the personal data reproducible; request ids are always unique
    (uuid4), so that two runs against one long-lived mock never collide.
    """

    def __init__(self, seed: int | None = None, locale: str = "en_US"):
        self._seed = seed
        self._locale = locale
        self._faker = None
        self._lock = threading.Lock()

    @property
    def faker(self):
        if self._faker is None:  # Faker is imported on first use: it is not free
            from faker import Faker
            with self._lock:
                if self._faker is None:
                    fake = Faker(self._locale)
                    if self._seed is not None:
                        fake.seed_instance(self._seed)
                    self._faker = fake
        return self._faker

    @property
    def random(self) -> _random.Random:
        return self.faker.random

    # -- building blocks ------------------------------------------------------------
    def request_id(self, prefix: str = "vault") -> str:
        return f"{prefix}-{uuid.uuid4().hex}"

    def card_number(self, brand: str = "VISA", *, prefix: str | None = None, length: int | None = None) -> str:
        """A Luhn-valid number of `brand` (mockpay detects that brand from it), or one
        starting with `prefix` (a BIN a scenario file matches on)."""
        brand = brand.upper()
        if prefix is None and brand not in BRANDS:
            raise ValueError(f"no number pattern for brand {brand!r}; known: {', '.join(BRANDS)}")
        prefixes, default_length = BRANDS.get(brand, (("4",), 16))
        length = length or default_length
        if not 12 <= length <= 19:
            raise ValueError("a card number has 12 to 19 digits")
        for _ in range(200):
            start = prefix if prefix is not None else self.random.choice(prefixes)
            if not start.isdigit() or len(start) >= length:
                raise ValueError(f"prefix {start!r} must be digits, shorter than {length}")
            body = start + "".join(self.random.choice("0123456789") for _ in range(length - len(start) - 1))
            number = luhn_complete(body)
            if prefix is not None or detect_brand(number) == brand:
                return number
        raise AssertionError(f"could not make a {brand} number")  # pragma: no cover

    def expiry(self, years_ahead: tuple[int, int] = (1, 5)) -> tuple[str, str]:
        """(expiryYear "YY", expiryMonth "MM"), in the future of the real clock."""
        year = dt.date.today().year + self.random.randint(*years_ahead)
        return f"{year % 100:02d}", f"{self.random.randint(1, 12):02d}"

    def cvv(self, brand: str | None = None) -> str:
        digits = 4 if brand == "AMEX" else 3
        return "".join(self.random.choice("0123456789") for _ in range(digits))

    def cardholder_name(self) -> dict:
        fake = self.faker
        first, last = _fit(fake.first_name(), 32), _fit(fake.last_name(), 32)
        return {"firstName": first, "lastName": last, "fullName": _fit(f"{first} {last}", 128)}

    def region(self) -> str:
        try:
            code = self.faker.current_country_code()
        except (AttributeError, ValueError):
            code = "US"
        return code if len(code) == 2 and code.isalpha() and code.isupper() else "US"

    def billing_address(self) -> dict:
        fake = self.faker
        address = {"region": self.region()}
        state = getattr(fake, "state_abbr", None)
        if state is not None:
            value = state()
            if 0 < len(value) <= _ADDRESS_MAX["state"]:
                address["state"] = value
        address["city"] = _fit(fake.city(), _ADDRESS_MAX["city"])
        address["address1"] = _fit(fake.street_address(), _ADDRESS_MAX["address1"])
        if self.random.random() < 0.3:
            secondary = getattr(fake, "secondary_address", None)
            if secondary is not None:
                address["address2"] = _fit(secondary(), _ADDRESS_MAX["address2"])
        address["zipCode"] = _fit(fake.postcode(), _ADDRESS_MAX["zipCode"])
        return address

    def email(self) -> str:
        for _ in range(10):
            value = self.faker.email()
            if len(value) <= 64:
                return value
        return "buyer@example.com"  # pragma: no cover

    def env(self, terminal_type: str = "WEB") -> dict:
        fake = self.faker
        user_agent = fake.user_agent()
        return {
            "terminalType": terminal_type,
            "userAgent": user_agent,
            "clientIp": fake.ipv4_public(),
            "deviceTokenId": uuid.UUID(int=self.random.getrandbits(128)).hex,
            "cookieId": uuid.UUID(int=self.random.getrandbits(128)).hex,
            "browserInfo": {
                "acceptHeader": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "javaEnabled": False,
                "javaScriptEnabled": True,
                "language": self._locale.replace("_", "-"),
                "userAgent": user_agent,
            },
            "colorDepth": "24",
            "screenHeight": str(self.random.choice((768, 900, 1080, 1440))),
            "screenWidth": str(self.random.choice((1366, 1440, 1920, 2560))),
            "timeZoneOffset": self.random.choice((-480, -300, 0, 60, 480, 540)),
        }

    def merchant_url(self, path: str) -> str:
        """An https URL on a reserved .example domain (nothing real is ever called)."""
        return f"https://{self.faker.domain_word()}.example/{path.lstrip('/')}"

    # -- cards with scenarios ---------------------------------------------------------
    def card(self, brand: str | None = None, *, card_no: str | None = None, scenario: str | None = None,
             minimal: bool = False, **overrides) -> dict:
        """vaultPaymentMethod's paymentMethodDetail.card."""
        extra: dict = {}
        if card_no is None and isinstance(overrides.get("cardNo"), str):
            card_no = overrides["cardNo"]  # card={"cardNo": an Amex}: a 4-digit CVV, as card_no= gives
        if scenario is not None:
            card_no, extra = self._scenario(scenario, brand, card_no)
        if card_no is None:
            card_no = self.card_number(brand or "VISA")
        detected = brand.upper() if brand else detect_brand(card_no)
        year, month = self.expiry()
        card = {"cardNo": card_no, "expiryYear": year, "expiryMonth": month}
        if not minimal:
            card["cvv"] = self.cvv(detected)
            card["cardholderName"] = self.cardholder_name()
            card["billingAddress"] = self.billing_address()
            card["payerEmail"] = self.email()
            if brand:
                card["brand"] = brand.upper()
        card = deep_merge(card, extra)
        return deep_merge(card, overrides)

    def _scenario(self, scenario: str, brand: str | None, card_no: str | None) -> tuple[str, dict]:
        key = scenario.lower()
        if key in SANDBOX_CARDS:
            return SANDBOX_CARDS[key], {}
        if key in ("success", "failure"):
            which = (brand or "VISA").lower()
            number = SANDBOX_CARDS.get(f"{key}_{which}")
            if number is None:
                raise ValueError(f"Antom publishes {key} cards for VISA and MASTERCARD only, not {brand}")
            return number, {}
        number = card_no or self.card_number(brand or "VISA")
        if key == "3ds_challenge":
            return number, {"is3DSAuthentication": "true"}
        if key == "invalid_expiry":
            return number, {"expiryMonth": "13"}
        if key == "invalid_cvv":
            return number, {"cvv": "99"}
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")

    # -- whole requests (dicts) -------------------------------------------------------
    def vault_payment_method(self, *, brand: str | None = None, card_no: str | None = None,
                             scenario: str | None = None, card: dict | None = None, minimal: bool = False,
                             **fields: Any) -> dict:
        """A valid vaultPaymentMethod body. `minimal`: only the required fields."""
        body = {
            "vaultingRequestId": self.request_id("vault"),
            "vaultingNotificationUrl": self.merchant_url("antom/vaulting/notify"),
            "redirectUrl": self.merchant_url("checkout/vaulted"),
            "paymentMethodDetail": {
                "paymentMethodType": "CARD",
                "card": self.card(brand, card_no=card_no, scenario=scenario, minimal=minimal, **(card or {})),
            },
            "env": {"terminalType": "WEB"} if minimal else self.env(),
        }
        if not minimal:
            body["merchantRegion"] = body["paymentMethodDetail"]["card"].get("billingAddress", {}).get(
                "region", "US")
        return deep_merge(body, fields)

    def inquire_vaulting(self, vaulting_request_id: str | None = None, **fields: Any) -> dict:
        body = {"vaultingRequestId": vaulting_request_id or self.request_id("vault")}
        return deep_merge(body, fields)

    def create_vaulting_session(self, *, is3ds: bool | None = None, minimal: bool = False, **fields: Any) -> dict:
        """A createVaultingSession body (paymentMethodType CARD)."""
        body: dict = {"paymentMethodType": "CARD", "vaultingRequestId": self.request_id("session")}
        if not minimal:
            body["vaultingNotificationUrl"] = self.merchant_url("antom/vaulting/notify")
            body["redirectUrl"] = self.merchant_url("checkout/vaulted")
            body["merchantRegion"] = self.region()
        if is3ds is not None:
            body["is3DSAuthentication"] = "true" if is3ds else "false"
        return deep_merge(body, fields)

    # -- official-SDK request objects -----------------------------------------------
    def vault_payment_method_request(self, **kwargs):
        """The same, as the SDK's AlipayVaultingPaymentMethodRequest."""
        return to_sdk_request("vaultPaymentMethod", self.vault_payment_method(**kwargs))

    def inquire_vaulting_request(self, vaulting_request_id: str | None = None, **fields):
        return to_sdk_request("inquireVaulting", self.inquire_vaulting(vaulting_request_id, **fields))

    def create_vaulting_session_request(self, **kwargs):
        return to_sdk_request("createVaultingSession", self.create_vaulting_session(**kwargs))


def _sdk_bool(value):
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def to_sdk_request(api: str, body: dict):
    """Turn a request dict into the official SDK's request object for `api`.

    The SDK (global-open-sdk-python) serialises only the fields its models
    declare: a field it does not know (e.g. metadata, merchantAccountId on
    vaultPaymentMethod in 1.7.1) is dropped, as it would be for a merchant.
    """
    try:
        from com.alipay.ams.api.model.env import Env
        from com.alipay.ams.api.model.payment_method_detail import PaymentMethodDetail
        from com.alipay.ams.api.request.vaulting.alipay_vaulting_payment_method_request import \
            AlipayVaultingPaymentMethodRequest
        from com.alipay.ams.api.request.vaulting.alipay_vaulting_query_request import AlipayVaultingQueryRequest
        from com.alipay.ams.api.request.vaulting.alipay_vaulting_session_request import \
            AlipayVaultingSessionRequest
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("SDK request objects need the official SDK: pip install global-open-sdk-python") from exc

    body = copy.deepcopy(body)
    if api == "vaultPaymentMethod":
        req = AlipayVaultingPaymentMethodRequest()
        req.vaulting_request_id = body.get("vaultingRequestId")
        req.vaulting_notification_url = body.get("vaultingNotificationUrl")
        req.redirect_url = body.get("redirectUrl")
        req.merchant_region = body.get("merchantRegion")
        if "paymentMethodDetail" in body:
            detail_body = body["paymentMethodDetail"]
            card = detail_body.get("card")
            if isinstance(card, dict) and "is3DSAuthentication" in card:
                card["is3DSAuthentication"] = _sdk_bool(card["is3DSAuthentication"])
            detail = PaymentMethodDetail()
            detail.parse_rsp_body(detail_body)
            req.payment_method_detail = detail
        if "env" in body:
            env = Env()
            env.parse_rsp_body(body["env"])
            req.env = env
        return req
    if api == "inquireVaulting":
        req = AlipayVaultingQueryRequest()
        req.vaulting_request_id = body.get("vaultingRequestId")
        return req
    if api == "createVaultingSession":
        req = AlipayVaultingSessionRequest()
        req.payment_method_type = body.get("paymentMethodType")
        req.vaulting_request_id = body.get("vaultingRequestId")
        req.vaulting_notification_url = body.get("vaultingNotificationUrl")
        req.redirect_url = body.get("redirectUrl")
        req.merchant_region = body.get("merchantRegion")
        if "is3DSAuthentication" in body:
            req.is_3D_s_authentication = _sdk_bool(body["is3DSAuthentication"])
        return req
    raise ValueError(f"no SDK request object for {api!r}")


_default = RequestBuilder()
card_number = _default.card_number
card = _default.card
vault_payment_method = _default.vault_payment_method
inquire_vaulting = _default.inquire_vaulting
create_vaulting_session = _default.create_vaulting_session
vault_payment_method_request = _default.vault_payment_method_request
inquire_vaulting_request = _default.inquire_vaulting_request
create_vaulting_session_request = _default.create_vaulting_session_request


# -- a real mockpay server inside the test process ---------------------------------------

@dataclass(frozen=True)
class Client:
    """A registered merchant client, in the form DefaultAlipayClient takes."""
    client_id: str
    merchant_private_key: str
    alipay_public_key: str


def random_loopback() -> str:
    """A loopback address of its own (Linux routes all of 127/8 to lo), so that
    parallel runs can each have port 443."""
    rng = _random.SystemRandom()
    return f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(2, 254)}"


class ServerTemplate:
    """Key material made once and copied into every server's data directory.

    RSA key generation (the mock's signing key, the TLS CA and server keys, a
    merchant key) costs about 0.1 s a key; a pytest session pays it once, and
    each `mockpay` fixture then starts by copying a few files.
    """

    def __init__(self, directory: Path, gateway_host: str | None = None):
        self.directory = Path(directory)
        self.gateway_host = gateway_host or random_loopback()
        self._lock = threading.Lock()
        self._merchant: tuple[str, str] | None = None
        self._ready = False

    def prepare(self) -> "ServerTemplate":
        with self._lock:
            if not self._ready:
                from . import signing
                from .crypto import Keyring, ensure_tls
                Keyring(self.directory)
                ensure_tls(self.directory, (self.gateway_host,))
                key = signing.generate_private_key()
                self._merchant = (signing.private_key_body(key), signing.public_key_body(key.public_key()))
                self._ready = True
        return self

    @property
    def merchant_keys(self) -> tuple[str, str]:
        """(merchant private key, merchant public key), base64 bodies."""
        self.prepare()
        return self._merchant

    def seed(self, data_dir: Path) -> None:
        import shutil
        self.prepare()
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        for name in ("keys", "tls"):
            shutil.copytree(self.directory / name, data_dir / name, dirs_exist_ok=True)


# The official SDK connects to port 443 of the gateway host, always. Where the
# test process may not bind port 443, the servers in "redirect" mode register
# their gateway host here, and the SDK's connection factory is wrapped so that a
# connection to that host goes to the server's real port instead.
_REDIRECTS: dict[str, int] = {}
_REDIRECT_LOCK = threading.Lock()
_SDK_CONNECTION = "__get_http_connection"  # module-level name in the SDK's default_http_rpc
_original_connection = None


def _install_redirect(host: str, port: int) -> None:
    global _original_connection
    try:
        from com.alipay.ams.api.net import default_http_rpc
    except ImportError:  # no official SDK installed: nothing to redirect
        return
    with _REDIRECT_LOCK:
        if _original_connection is None:
            _original_connection = getattr(default_http_rpc, _SDK_CONNECTION)
            original = _original_connection

            def get_http_connection(url, *args, **kwargs):
                connection = original(url, *args, **kwargs)
                port_ = _REDIRECTS.get(connection.host)
                if port_ is not None and connection.port == 443:
                    connection.port = port_
                return connection

            setattr(default_http_rpc, _SDK_CONNECTION, get_http_connection)
        _REDIRECTS[host] = port


def _remove_redirect(host: str) -> None:
    global _original_connection
    with _REDIRECT_LOCK:
        _REDIRECTS.pop(host, None)
        if not _REDIRECTS and _original_connection is not None:
            from com.alipay.ams.api.net import default_http_rpc
            setattr(default_http_rpc, _SDK_CONNECTION, _original_connection)
            _original_connection = None


def _bind(host: str, port: int):
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class _LateApp:
    """A WSGI callable whose Flask app is set once the listening ports are known."""
    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


TRANSPORTS = ("auto", "port443", "redirect")


class AdminError(RuntimeError):
    def __init__(self, status: int, body):
        self.status, self.body = status, body
        super().__init__(f"admin API answered HTTP {status}: {body}")


class MockpayServer:
    """A mockpay server in this process: the Flask app on werkzeug threaded servers.

    - `base_url`: plain HTTP on a free port of 127.0.0.1 (admin API, pages, links).
    - `gateway_url`: `https://<gateway host>` for the official SDK, served with a
      certificate from the mock's CA; `SSL_CERT_FILE` is pointed at a bundle that
      adds that CA while the server runs (the SDK verifies with
      `ssl.create_default_context()`, which reads it).
    - `sdk_transport`: "port443" when this process could bind port 443 of a
      loopback address of its own (root, or CAP_NET_BIND_SERVICE); otherwise
      "redirect": the server listens on a free port and the SDK's connection
      factory sends connections for the gateway host there. Everything else of
      the SDK (signing, headers, TLS verification, response checks) is unchanged.
    """

    def __init__(self, data_dir: Path, *, client_id: str = "SANDBOX_PYTEST", settings: dict | None = None,
                 sdk_transport: str = "auto", template: ServerTemplate | None = None):
        if sdk_transport not in TRANSPORTS:
            raise ValueError(f"sdk_transport must be one of {', '.join(TRANSPORTS)}, not {sdk_transport!r}")
        self.data_dir = Path(data_dir)
        self.client_id = client_id
        self.settings = dict(settings or {})
        self.requested_transport = sdk_transport
        self.template = template or ServerTemplate(self.data_dir.parent / (self.data_dir.name + "-keys"))
        self.builder = RequestBuilder()
        self.app = None
        self.client: Client | None = None
        self.base_url = ""
        self.gateway_url = ""
        self.gateway_host = ""
        self.gateway_port = 0
        self.sdk_transport = ""
        self._servers: list = []
        self._threads: list[threading.Thread] = []
        self._sdk = None
        self._previous_cert_file: str | None = None
        self.trust_file: Path | None = None
        self._env_set = False

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> "MockpayServer":
        from werkzeug.serving import WSGIRequestHandler, make_server

        from . import create_app
        from .config import load_config
        from .crypto import ensure_tls

        self.template.seed(self.data_dir)
        late = _LateApp()

        class QuietHandler(WSGIRequestHandler):
            def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
                import logging
                logging.getLogger("mockpay.testing").debug(message, *args)

        try:
            http_sock = _bind("127.0.0.1", 0)
            tls_sock, host = self._bind_gateway()
            ca, cert, key = ensure_tls(self.data_dir, (host,))  # reissued only if the host changed
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            for sock, ssl_context in ((http_sock, None), (tls_sock, context)):
                server = make_server(sock.getsockname()[0], sock.getsockname()[1], late, threaded=True,
                                     request_handler=QuietHandler, ssl_context=ssl_context, fd=sock.fileno())
                sock.close()  # werkzeug holds its own duplicate of the descriptor
                self._servers.append(server)
            self.base_url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
            self.gateway_host, self.gateway_port = host, self._servers[1].server_address[1]
            self.gateway_url = f"https://{host}"
            self.ca_file = Path(ca)

            settings = {"data_dir": self.data_dir, "host": "127.0.0.1", "port": self._servers[0].server_address[1],
                        "public_url": self.base_url, **self.settings}
            # MOCKPAY_* variables of the developer's shell do not leak into tests.
            self.app = create_app(load_config(settings, environ={}))
            late.app = self.app
            for server in self._servers:
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                          name=f"mockpay-{server.server_address[1]}", daemon=True)
                thread.start()
                self._threads.append(thread)
            self._trust_ca()
            if self.sdk_transport == "redirect":
                _install_redirect(self.gateway_host, self.gateway_port)
            self.client = self.add_client(self.client_id)
        except BaseException:
            self.stop()
            raise
        return self

    def _bind_gateway(self):
        import errno
        host = self.template.gateway_host
        mode = self.requested_transport
        why = ""
        if mode in ("auto", "port443"):
            for _ in range(5):
                try:
                    sock = _bind(host, 443)
                    self.sdk_transport = "port443"
                    return sock, host
                except PermissionError:
                    why = "this process may not bind port 443 (run as root or grant CAP_NET_BIND_SERVICE)"
                    break
                except OSError as exc:
                    if exc.errno == errno.EADDRNOTAVAIL:  # no 127/8 beyond 127.0.0.1 (macOS)
                        why, host = f"{host} is not a local address here", "127.0.0.1"
                        break
                    if exc.errno != errno.EADDRINUSE:
                        raise
                    why, host = "port 443 was busy on every loopback address tried", random_loopback()
            if mode == "port443":
                raise OSError(f"sdk_transport=port443, but {why}")
        self.sdk_transport = "redirect"
        return _bind(host, 0), host

    def _trust_ca(self) -> None:
        """Point SSL_CERT_FILE at the mock's CA, plus what SSL_CERT_FILE named before.

        The system's CA directory (SSL_CERT_DIR, e.g. /etc/ssl/certs) stays trusted;
        the system bundle file is not copied in, because create_default_context()
        parses SSL_CERT_FILE on every SDK call (~50 ms for a full bundle)."""
        import os
        previous = os.environ.get("SSL_CERT_FILE")
        parts = []
        if previous:
            try:
                parts.append(Path(previous).read_text())
            except (OSError, UnicodeDecodeError):
                pass
        parts.append(self.ca_file.read_text())
        bundle = self.data_dir / "trust-bundle.pem"
        bundle.write_text("\n".join(p.rstrip("\n") for p in parts) + "\n")
        self.trust_file = bundle
        self._previous_cert_file = previous
        os.environ["SSL_CERT_FILE"] = str(bundle)
        self._env_set = True

    def untrust_ca(self) -> None:
        """Put SSL_CERT_FILE back as start() found it, if it still names this server's trust
        bundle (if someone pointed it elsewhere since, theirs stands). stop() does; the pytest
        plugin does once more when the test's teardown is over, because a `monkeypatch` the
        test asked for before `mockpay` undoes its setenv after the fixture stopped, and so
        puts this bundle back."""
        import os
        if self.trust_file is not None and os.environ.get("SSL_CERT_FILE") == str(self.trust_file):
            if self._previous_cert_file is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = self._previous_cert_file

    def stop(self) -> None:
        if self.sdk_transport == "redirect" and self.gateway_host:
            _remove_redirect(self.gateway_host)
        if self._env_set:
            self.untrust_ca()
            self._env_set = False
        # shut both down at once: each notices within its poll interval
        stoppers = [threading.Thread(target=server.shutdown) for server, _ in zip(self._servers, self._threads)]
        for stopper in stoppers:
            stopper.start()
        for stopper, thread in zip(stoppers, self._threads):
            stopper.join(5)
            thread.join(5)
        for server in self._servers:
            server.server_close()
        self._servers, self._threads = [], []
        if self.app is not None:  # None when start() failed before the app was made
            services = self.app.extensions["mockpay"]
            services.dispatcher.stop()  # its thread and senders: nothing outlives the test
            services.store.close()

    def __enter__(self) -> "MockpayServer":
        return self.start() if not self._servers else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- collaborators -----------------------------------------------------------------
    @property
    def services(self):
        """The app's collaborators (mockpay.Services): store, clock, keyring, ..."""
        return self.app.extensions["mockpay"]

    @property
    def sdk(self):
        """DefaultAlipayClient for the registered client, ready to execute()."""
        if self._sdk is None:
            self._sdk = self.sdk_client()
        return self._sdk

    def sdk_client(self, client: Client | None = None):
        try:
            from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the SDK client needs the official SDK: pip install global-open-sdk-python") from exc
        client = client or self.client
        return DefaultAlipayClient(self.gateway_url, client.client_id, client.merchant_private_key,
                                   client.alipay_public_key)

    def execute(self, request, client: Client | None = None) -> dict:
        """Send an SDK request object with the official SDK; the parsed JSON answer."""
        sdk = self.sdk if client is None else self.sdk_client(client)
        return json.loads(sdk.execute(request))

    # -- admin API -------------------------------------------------------------------
    def admin(self, method: str, path: str, body: dict | None = None, *, text: str | None = None,
              expect: tuple[int, ...] = (200, 201, 202, 204)):
        """Call the admin API (`/_mockpay/...`) with a JSON `body` (or a YAML `text`), and the
        admin token when the server has one; the decoded JSON answer. Raises AdminError on
        any status not in `expect`."""
        import urllib.error
        import urllib.request
        if text is not None:
            data, content_type = text.encode("utf-8"), "application/yaml"
        else:
            data, content_type = (None if body is None else json.dumps(body).encode()), "application/json"
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        token = self.app.extensions["mockpay"].config.admin_token if self.app is not None else ""
        if token:  # @pytest.mark.mockpay(admin_token=...): the admin API wants it, as on a shared server
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method.upper(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode("utf-8", "replace")
        if status not in expect:
            raise AdminError(status, decoded)
        return decoded

    def add_client(self, client_id: str, *, generate: bool = False) -> Client:
        """Register another client. It shares the session's merchant key pair unless `generate`."""
        if generate:
            answer = self.admin("POST", "/_mockpay/clients", {"clientId": client_id})
            return Client(answer["clientId"], answer["merchantPrivateKey"], answer["alipayPublicKey"])
        private, public = self.template.merchant_keys
        answer = self.admin("POST", "/_mockpay/clients", {"clientId": client_id, "publicKey": public})
        return Client(answer["clientId"], private, answer["alipayPublicKey"])

    # -- helpers -----------------------------------------------------------------------
    def now(self) -> float:
        """The mock clock, epoch seconds."""
        return self.services.clock.now()

    def advance(self, seconds) -> float:
        """Move the mock clock forward (seconds or a timedelta); what falls due is sent
        at once. Returns the new mock time."""
        if isinstance(seconds, dt.timedelta):
            seconds = seconds.total_seconds()
        return self.services.advance_clock(seconds)

    def reset(self) -> None:
        """Forget everything the server holds (POST /_mockpay/reset); the fixture's
        client is registered again if the reset removed it."""
        self.admin("POST", "/_mockpay/reset", {})
        try:
            self.admin("GET", f"/_mockpay/clients/{self.client_id}")
        except AdminError as exc:
            if exc.status != 404:
                raise
            self.client = self.add_client(self.client_id)
            self._sdk = None

    def notifications(self, vaulting_request_id: str | None = None, *, client_id: str | None = None,
                      status: str | None = None, wait: float = 0.0, limit: int = 100) -> list[dict]:
        """The notifyVaulting notifications (GET /_mockpay/notifications), newest first, each
        with its body and every attempt. Filters: `vaulting_request_id`, `client_id`, `status`
        ("pending", "delivered", "given_up"). Sending is asynchronous: with `wait` (seconds),
        polls until at least one notification matches, then returns (possibly [] after `wait`)."""
        import time
        params = {"vaultingRequestId": vaulting_request_id, "clientId": client_id, "status": status,
                  "limit": limit}
        query = urlencode({k: v for k, v in params.items() if v is not None})
        deadline = time.monotonic() + wait
        while True:
            found = self.admin("GET", f"/_mockpay/notifications?{query}")["notifications"]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.02)

    def complete_challenge(self, vaulting_request_id: str, outcome: str = "success", *, otp: str | None = None,
                           client_id: str | None = None) -> dict:
        """Finish a vault's open 3DS challenge as the buyer would on its page
        (POST /_mockpay/vaults/<vaultingRequestId>/complete): `outcome` is "success", "fail"
        or "cancel"; `otp` is checked against a scenario's one-time code when given;
        `client_id` picks the vault when two clients used the same id. Returns what
        inquireVaulting now says, plus `clientId` and `redirectUrl`. Raises AdminError
        (404 no such vault, 409 no challenge or already over, 422 wrong code)."""
        body: dict[str, Any] = {"outcome": outcome}
        if otp is not None:
            body["otp"] = otp
        if client_id is not None:
            body["clientId"] = client_id
        return self.admin("POST", f"/_mockpay/vaults/{quote(vaulting_request_id, safe='')}/complete", body)

    def use_scenarios(self, *scenarios, client_id: str | None = None) -> dict | None:
        """Load scenario rules for one client id only (PUT /_mockpay/clients/<clientId>/scenarios;
        default: the fixture's client), replacing any loaded before and restarting sequences.

        Each scenario is a path to a scenario file (str or Path), the YAML text of one, or a
        mapping shaped like one ({"rules": [...], "default": {...}}). Several are tried in
        the order given (their rules concatenated; the first `default` wins). Files are
        checked here first, so a mistake raises mockpay.scenarios.ScenarioError naming the
        file and line. With no scenario, the client's rules are dropped. Returns the
        server's answer (the compiled rules), or None after dropping."""
        import yaml

        from . import scenarios as sc
        target = client_id or self.client_id
        path = f"/_mockpay/clients/{quote(target, safe='')}/scenarios"
        if not scenarios:
            self.admin("DELETE", path)
            return None
        documents = []
        for i, scenario in enumerate(scenarios, start=1):
            text, source = _scenario_text(scenario, i)
            sc.parse(text, source)  # ScenarioError, naming file and line
            documents.append(yaml.safe_load(text))
        if len(documents) == 1:
            text = _scenario_text(scenarios[0], 1)[0]
        else:
            merged: dict[str, Any] = {"version": 1, "rules": [r for d in documents for r in d.get("rules") or []]}
            default = next((d["default"] for d in documents if d.get("default") is not None), None)
            if default is not None:
                merged["default"] = default
            text = json.dumps(merged)
        return self.admin("PUT", path, text=text)


def _scenario_text(scenario, index: int) -> tuple[str, str]:
    """(YAML or JSON text, a name for error messages) of one use_scenarios() argument."""
    if isinstance(scenario, dict):
        return json.dumps(scenario), f"use_scenarios argument {index}"
    if isinstance(scenario, Path) or (isinstance(scenario, str) and "\n" not in scenario
                                      and ":" not in scenario):
        path = Path(scenario)
        if not path.is_file():
            raise FileNotFoundError(f"no scenario file {str(path)!r}")
        return path.read_text(encoding="utf-8"), str(path)
    if isinstance(scenario, str):
        return scenario, f"use_scenarios argument {index}"
    raise TypeError(f"a scenario is a file path, YAML text or a mapping, not {type(scenario).__name__}")
