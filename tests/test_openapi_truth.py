"""The OpenAPI document against what the server really does (hunt-openapi): a document
looser than the server (a value it calls valid is refused) or stricter (a value it calls
invalid is accepted) misleads the fuzzer that reads it (tests/integration/test_fuzz.py)
as much as a merchant."""
from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from marshmallow import ValidationError, fields

from mockpay import openapi
from mockpay.schemas.fields import AmsInteger, AmsString

# Strings a request field may get: ordinary text, codes, digits (ASCII and not), control
# characters, DEL, and the shapes the patterned fields expect.
CORPUS = [
    "a", "Ada Lovelace", "VISA", "visa", "CARD", "card", "GB", "gb", "01", "13", "26", "2030", "123", "1234",
    "4054695723100768", "405469572310076", "1990-01-31", "12345678901", "a@b.example", "https://m.example/n",
    "a\x01b", "a\x1fb", "a\x7fb", "tab\there", "\x00", "ligne\nnext", "\x85", "Zoë", "名前",
    "١٢٣", "٤٠٥٤٦٩٥٧٢٣١٠٠٧٦٨", "٠١", "a@\x01b", "\x01@b", "2030-01-0١",
    "0", "-0", "720", "-720", "721", "-721", "000720", "0000720", "-999999", "999999", "12a", "+1", " 1",
]
INTEGERS = [0, 720, -720, 721, -721, 10 ** 6, True]


def ams_request_fields(app):
    """(where, marshmallow field, documented property) for every field of every AMS request body."""
    document = app.test_client().get("/_mockpay/openapi.json").get_json()
    seen = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "ams_api", None) or view.ams_api in seen:
            continue
        seen.add(view.ams_api)
        node = document["paths"][rule.rule]["post"]["requestBody"]["content"]["application/json"]["schema"]
        yield from _walk(view.ams_request_schema, node, document, view.ams_api + ":")


def _walk(schema_obj, node, document, where):
    component = openapi.deref(document, node)
    for name, field in schema_obj.fields.items():
        prop = openapi.deref(document, component["properties"][name])
        if isinstance(field, fields.Nested):
            yield from _walk(field.schema, prop, document, f"{where}{name}.")
        else:
            yield f"{where}{name}", field, {**prop, "components": document["components"]}


def marshmallow_accepts(field, value) -> bool:
    try:
        field.deserialize(value)
    except ValidationError:
        return False
    return True


def document_accepts(prop, value) -> bool:
    return Draft202012Validator(prop).is_valid(value)


def test_every_request_field_accepts_what_the_server_accepts(app):
    """For every scalar field of every AMS request body and a corpus of values, the
    documented property (type, length, pattern, enum, range) and the marshmallow field
    agree on what is valid. (A cardholder's name holding a card number is refused by a
    rule no JSON Schema states: the corpus holds none.)"""
    disagreements, checked = [], 0
    for where, field, prop in ams_request_fields(app):
        if not isinstance(field, (AmsString, AmsInteger)) and "anyOf" not in prop:
            continue
        values = CORPUS + (INTEGERS if isinstance(field, AmsInteger) else [])
        for value in values:
            if isinstance(field, AmsString) and field.no_card_number and value.isdigit():
                continue
            server, document = marshmallow_accepts(field, value), document_accepts(prop, value)
            if server != document:
                disagreements.append(f"{where} {value!r}: server {'accepts' if server else 'refuses'}, "
                                     f"document {'accepts' if document else 'refuses'}")
            checked += 1
    assert checked > 2000
    assert not disagreements, "\n".join(disagreements[:40]) + f"\n({len(disagreements)} in all)"


@pytest.mark.parametrize("value", ["a\x01b", "\x7f", "line\nbreak"])
def test_a_control_character_is_invalid_in_the_document_as_on_the_server(app, value):
    card_fields = {where: prop for where, _, prop in ams_request_fields(app)}
    for where in ("vaultPaymentMethod:metadata", "vaultPaymentMethod:paymentMethodDetail.card.payerEmail",
                  "vaultPaymentMethod:env.userAgent", "cacheCard:paymentMethodDetail.card.billingAddress.city"):
        assert not document_accepts(card_fields[where], value if "Email" not in where else f"a{value}@b"), where


def test_each_result_code_goes_with_its_result_status(app):
    """An answer whose resultStatus does not go with its resultCode (SUCCESS answered F,
    PARAM_ILLEGAL answered S) fails the document, as an unknown code does."""
    from mockpay.codes import API_CODES, RESULT_CODES

    document = app.test_client().get("/_mockpay/openapi.json").get_json()
    operations = [op for ops in document["paths"].values() for op in ops.values() if "x-ams-api" in op]
    assert len(operations) == 12
    for operation in operations:
        schema = {**operation["responses"]["200"]["content"]["application/json"]["schema"],
                  "components": document["components"]}
        validator = Draft202012Validator(schema)
        for code in API_CODES[operation["x-ams-api"]]:
            for status in "SFU":
                answer = {"result": {"resultStatus": status, "resultCode": code, "resultMessage": "m"}}
                assert validator.is_valid(answer) == (status == RESULT_CODES[code][0]), (operation["operationId"],
                                                                                        code, status)


# -- the admin API: what the views check is what the document says ------------------------

ADMIN_QUERIES = [  # (path, parameter, values) as the views bound them (admin.query_int)
    ("/_mockpay/requests", "limit", [0, 1, 1000, 1001]),
    ("/_mockpay/requests", "before", [-1, 0, 2 ** 62, 2 ** 62 + 1]),
    ("/_mockpay/vaults", "limit", [0, 1, 1000, 1001]),
    ("/_mockpay/vaults", "offset", [-1, 0, 2 ** 31, 2 ** 31 + 1]),
    ("/_mockpay/notifications", "limit", [0, 1, 1000, 1001]),
    ("/_mockpay/notifications", "offset", [-1, 0, 2 ** 31, 2 ** 31 + 1]),
]


@pytest.mark.parametrize("path,name,values", ADMIN_QUERIES, ids=lambda v: v if isinstance(v, str) else "")
def test_admin_query_bounds_are_documented(app, path, name, values):
    document = app.test_client().get("/_mockpay/openapi.json").get_json()
    parameter = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name)
    http = app.test_client()
    for value in values:
        status = http.get(path, query_string={name: value}).status_code
        assert status in (200, 400), (value, status)
        assert document_accepts(parameter["schema"], value) == (status == 200), (path, name, value, status)


@pytest.mark.parametrize("body,status", [({"clientId": ""}, 400), ({"clientId": "C"}, 200), ({}, 200)])
def test_reset_body_is_documented(app, body, status):
    document = app.test_client().get("/_mockpay/openapi.json").get_json()
    schema = {**document["paths"]["/_mockpay/reset"]["post"]["requestBody"]["content"]["application/json"]["schema"],
              "components": document["components"]}
    assert app.test_client().post("/_mockpay/clients", json={"clientId": "C"}).status_code == 201
    assert app.test_client().post("/_mockpay/reset", json=body).status_code == status
    assert document_accepts(schema, body) == (status == 200)
