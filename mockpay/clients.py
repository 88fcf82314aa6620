"""Merchant clients: a client id and the public key its requests are verified with."""
from __future__ import annotations

import re
import threading

from . import signing
from .codes import AmsError

CLIENT_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


class ClientError(ValueError):
    pass


class Clients:
    def __init__(self, store, keyring, clock):
        self.store = store
        self.keyring = keyring
        self.clock = clock
        self._keys: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def add(self, client_id: str, public_key: str | None = None, generate: bool = False) -> dict:
        """Register a client. With generate, mockpay makes the merchant key pair and
        returns the private key in the form DefaultAlipayClient takes."""
        if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
            raise ClientError("clientId must be 1 to 64 letters, digits or _ . : -")
        private_body = None
        if generate:
            key = signing.generate_private_key()
            private_body = signing.private_key_body(key)
            public_key = signing.public_key_body(key.public_key())
        elif public_key is not None:
            try:
                public_key = signing.public_key_body(signing.load_public_key(public_key))
            except signing.KeyFormatError as exc:
                raise ClientError(f"publicKey: {exc}") from None
        self.store.add_client(client_id, public_key, private_body, self.clock.now_iso())
        return self.describe(self.store.get_client(client_id), with_private_key=generate)

    def describe(self, row, with_private_key: bool = False) -> dict:
        out = {
            "clientId": row["client_id"],
            "publicKey": row["public_key"],
            "alipayPublicKey": self.keyring.public_key_body,
            "createdAt": row["created_at"],
        }
        if with_private_key:
            out["merchantPrivateKey"] = row["merchant_private_key"]
        return out

    def get(self, client_id: str):
        return self.store.get_client(client_id)

    def list(self) -> list:
        return self.store.list_clients()

    def verification_key(self, client_id: str):
        """The public key to verify this client's requests, or AmsError INVALID_CLIENT / KEY_NOT_FOUND."""
        row = self.store.get_client(client_id)
        if row is None:
            raise AmsError("INVALID_CLIENT", f"client-id {client_id!r} is not registered")
        if not row["public_key"]:
            raise AmsError("KEY_NOT_FOUND", f"no public key is registered for client-id {client_id!r}")
        cache_key = (client_id, row["public_key"])
        key = self._keys.get(cache_key)
        if key is None:
            key = signing.load_public_key(row["public_key"])
            with self._lock:
                self._keys[cache_key] = key
        return key
