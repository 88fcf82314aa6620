"""Every field of every AMS request, walked from the marshmallow schemas, with a valid
body to put a bad value into. Used by the property tests (tests/test_properties.py)
and the bad-input catalogue (tests/test_bad_input.py), so that a field added to a
schema is covered by both without anyone listing it."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator

from marshmallow import Schema
from marshmallow import fields as mm

from mockpay.schemas import payment_methods, sessions, vaulting
from mockpay.schemas.fields import AmsBoolean, AmsInteger, AmsString
from tests.support import cache_body, session_body, vault_body


@dataclass(frozen=True)
class Api:
    name: str
    path: str  # under /ams/api/v1
    schema: Schema
    valid_body: object  # () -> a body the schema accepts


APIS = (
    Api("vaultPaymentMethod", "/vaults/vaultPaymentMethod", vaulting.vault_payment_method, vault_body),
    Api("inquireVaulting", "/vaults/inquireVaulting", vaulting.inquire_vaulting,
        lambda: {"vaultingRequestId": "inquire-1", "merchantAccountId": "M1"}),
    Api("createVaultingSession", "/vaults/createVaultingSession", sessions.create_vaulting_session, session_body),
    Api("cacheCard", "/paymentMethods/cacheCard", payment_methods.cache_card, cache_body),
)


@dataclass(frozen=True)
class Field:
    api: Api
    path: str  # dotted, e.g. paymentMethodDetail.card.cardNo
    field: mm.Field

    @property
    def id(self) -> str:
        return f"{self.api.name}:{self.path}"

    @property
    def kind(self) -> str:
        for kind, cls in (("string", AmsString), ("boolean", AmsBoolean), ("integer", AmsInteger),
                          ("object", mm.Nested)):
            if isinstance(self.field, cls):
                return kind
        raise TypeError(f"{self.id}: a field type the catalogue does not know: {type(self.field).__name__}")

    def body_with(self, value) -> dict:
        """A valid body of the API with this field set to `value` (parents created as needed)."""
        body = copy.deepcopy(self.api.valid_body())
        *parents, leaf = self.path.split(".")
        node = body
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
        return body


def walk(schema: Schema, prefix: str = "") -> Iterator[tuple[str, mm.Field]]:
    for name, field in schema.fields.items():
        path = f"{prefix}{field.data_key or name}"
        yield path, field
        if isinstance(field, mm.Nested):
            yield from walk(field.schema, path + ".")


FIELDS = tuple(Field(api, path, field) for api in APIS for path, field in walk(api.schema))
STRING_FIELDS = tuple(f for f in FIELDS if f.kind == "string")


def bad_values(f: Field) -> list[tuple[str, object, str]]:
    """(label, value, words the message must say after the field's path) for one field."""
    if f.kind == "string":
        s: AmsString = f.field
        cases = [
            ("number", 12345, "must be a JSON string"),
            ("boolean", True, "must be a JSON string"),
            ("null", None, "must not be null"),
            ("empty", "", "must not be empty"),
            ("over-long", "7" * (s.max_length + 1), f"must be at most {s.max_length} characters"),
            ("control-character", "a\x07", "must not contain control characters"),
        ]
        if s.ascii_only:
            cases.append(("non-ASCII", "é", "must contain ASCII characters only"))
        if s.no_card_number:
            cases.append(("card-number", "Ann 4111 1111 1111 1111", "must not contain a card number"))
        return cases
    if f.kind == "boolean":
        return [("number", 1, '"true" or "false"'), ("word", "yes", '"true" or "false"'),
                ("null", None, "must not be null")]
    if f.kind == "integer":
        low, high = f.field.low, f.field.high
        return [("out-of-range", str(high + 1), f"an integer from {low} to {high}"),
                ("word", "abc", f"an integer from {low} to {high}"), ("null", None, "must not be null")]
    return [("string", "x", "must be a JSON object"), ("array", [1], "must be a JSON object"),
            ("null", None, "must not be null")]
