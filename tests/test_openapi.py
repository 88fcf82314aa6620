"""The OpenAPI 3.1 document: valid, complete (every API route under every prefix,
every admin route), faithful to the marshmallow schemas, and true of the
answers the server really gives."""
from __future__ import annotations

import json
import urllib.request

import pytest
from flask import Blueprint, jsonify
from jsonschema import Draft202012Validator
from marshmallow import Schema, fields
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from mockpay import create_app, openapi, testing
from mockpay.api.gateway import PREFIXES, ams_endpoint, register_api, route
from mockpay.schemas.fields import AmsString
from tests.support import OWN_OK, vault_body

VAULT = "/ams/sandbox/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/sandbox/api/v1/vaults/inquireVaulting"
CREATE = "/ams/sandbox/api/v1/vaults/createVaultingSession"
CACHE = "/ams/sandbox/api/v1/paymentMethods/cacheCard"


@pytest.fixture
def document(app):
    response = app.test_client().get("/_mockpay/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def ams_views(app):
    """(rule, view) for every AMS API route the app serves."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "ams_api", None):
            yield rule, view


def body_schema(document, path: str, where: str = "response", status: str = "200", method: str = "post") -> dict:
    operation = document["paths"][path][method]
    if where == "request":
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
    else:
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def assert_valid(document, path, body, where="response", status="200", method="post"):
    validator = Draft202012Validator(body_schema(document, path, where, status, method))
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_api_route_appears_under_all_three_prefixes(app, document):
    apis = set()
    for rule, view in ams_views(app):
        suffix = next(rule.rule[len(p):] for p in PREFIXES.values() if rule.rule.startswith(p + "/"))
        for key, prefix in PREFIXES.items():
            operation = document["paths"][prefix + suffix]["post"]
            assert operation["x-ams-api"] == view.ams_api
            assert operation["operationId"] == f"{view.ams_api}_{key}"
        apis.add(view.ams_api)
    assert {"vaultPaymentMethod", "inquireVaulting"} <= apis
    documented = {op["x-ams-api"] for ops in document["paths"].values() for op in ops.values() if "x-ams-api" in op}
    assert documented == apis


def test_ams_operations_carry_the_signed_headers_and_the_envelope(document):
    for path, operations in document["paths"].items():
        operation = operations.get("post")
        if not operation or "x-ams-api" not in operation:
            continue
        names = {openapi.deref(document, p)["name"] for p in operation["parameters"]}
        assert names == {"client-id", "request-time", "signature"}, path
        answer = operation["responses"]["200"]
        assert set(answer["headers"]) == {"client-id", "response-time", "signature"}
        schema = openapi.deref(document, answer["content"]["application/json"]["schema"]["allOf"][0])
        assert openapi.deref(document, schema["properties"]["result"]) == openapi.deref(
            document, {"$ref": "#/components/schemas/Result"})
        assert "result" in schema["required"]


def test_every_admin_route_is_documented(app, document):
    admin_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/_mockpay/")
                   and not r.rule.startswith("/_mockpay/ui")]  # HTML pages (the dashboard)
    assert len(admin_rules) >= 5
    for rule in admin_rules:
        path, _ = openapi._flask_path(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][path][method.lower()]
            assert "Admin API" in operation["tags"]
            assert "4XX" in operation["responses"]


def _walk(schema_obj, node, document, where=""):
    """Yield (path, marshmallow field, documented property) for every field."""
    component = openapi.deref(document, node)
    for name, field in schema_obj.fields.items():
        prop = component["properties"][name]
        yield f"{where}{name}", field, prop
        if isinstance(field, fields.Nested):
            yield from _walk(field.schema, prop, document, f"{where}{name}.")


def test_request_schemas_max_length_and_required_match_marshmallow(app, document):
    checked = 0
    for rule, view in ams_views(app):
        operation = document["paths"][rule.rule]["post"]
        node = operation["requestBody"]["content"]["application/json"]["schema"]
        schema = view.ams_request_schema
        for where, field, prop in _walk(schema, node, document):
            prop = openapi.deref(document, prop)
            if isinstance(field, AmsString):
                assert prop.get("maxLength") == field.max_length, where
                checked += 1
            else:
                assert "maxLength" not in prop, where
        component = openapi.deref(document, node)
        assert set(component.get("required", [])) == {n for n, f in schema.fields.items() if f.required}
    assert checked > 40


def test_request_patterns_match_what_the_schema_accepts(document):
    """The documented patterns agree with the marshmallow fields on real values."""
    body = testing.vault_payment_method()
    assert_valid(document, VAULT, body, where="request")
    for bad in ({"expiryMonth": "13"}, {"cardNo": "4111-1111"}, {"cvv": "12a"}):
        wrong = testing.deep_merge(body, {"paymentMethodDetail": {"card": bad}})
        with pytest.raises(AssertionError):
            assert_valid(document, VAULT, wrong, where="request")
    too_long = testing.deep_merge(body, {"vaultingRequestId": "x" * 65})
    with pytest.raises(AssertionError, match="too long"):
        assert_valid(document, VAULT, too_long, where="request")
    lower_case = testing.deep_merge(body, {"env": {"terminalType": "app"}})  # what the SDK sample sends
    assert_valid(document, VAULT, lower_case, where="request")


def test_real_answers_match_the_documented_responses(ams, services, document):
    success = ams.call(VAULT, vault_body("doc-1"))
    assert success["result"]["resultCode"] == "SUCCESS"
    assert_valid(document, VAULT, success)
    inquired = ams.call(INQUIRE, {"vaultingRequestId": "doc-1"})
    assert inquired["vaultingStatus"] == "SUCCESS"
    assert_valid(document, INQUIRE, inquired)

    missing = ams.call(INQUIRE, {"vaultingRequestId": "nope"})
    assert missing["result"]["resultCode"] == "VAULTING_NOT_EXIST"
    assert_valid(document, INQUIRE, missing)
    illegal = ams.call(VAULT, vault_body("doc-2", expiryMonth="13"))
    assert illegal["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert_valid(document, VAULT, illegal)

    services.clock.advance(20 * 366 * 86400)  # every card expired
    expired = ams.call(VAULT, vault_body("doc-3", OWN_OK))
    assert expired["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert_valid(document, VAULT, expired)
    failed = ams.call(INQUIRE, {"vaultingRequestId": "doc-3"})
    assert failed["vaultingStatus"] == "FAIL"
    assert_valid(document, INQUIRE, failed)

    session = ams.call(CREATE, {"paymentMethodType": "CARD", "vaultingRequestId": "doc-s",
                                "redirectUrl": "https://merchant.example/return"})
    assert session["result"]["resultCode"] == "SUCCESS"
    assert_valid(document, CREATE, session)
    refused = ams.call(CREATE, {"paymentMethodType": "CARD", "vaultingRequestId": "mockpay-session-process-fail-1"})
    assert refused["result"]["resultCode"] == "PROCESS_FAIL"
    assert_valid(document, CREATE, refused)
    card = {"cardNo": "4054695723100768", "expiryYear": "2030", "expiryMonth": "07",
            "instUserName": {"firstName": "Ada", "lastName": "Lovelace"},
            "billingAddress": {"region": "GB", "city": "London", "address1": "1 St James's Square"}}
    cached = ams.call(CACHE, {"paymentMethodDetail": {"paymentMethodDetailType": "card", "card": card}})
    assert cached["result"]["resultCode"] == "SUCCESS" and cached["paymentMethodDetail"]["card"]["instUserName"]
    assert_valid(document, CACHE, cached)
    not_cached = ams.call(CACHE, {"paymentMethodDetail": {"paymentMethodDetailType": "card",
                                                          "card": {**card, "cardNo": "4000000606000000"}}})
    assert not_cached["result"]["resultCode"] == "USER_NOT_EXIST"
    assert_valid(document, CACHE, not_cached)

    schemas = document["components"]["schemas"]
    assert set(schemas["CreateVaultingSessionResponse"]["properties"]) == {
        "result", "vaultingSessionData", "vaultingSessionId", "vaultingSessionExpiryTime", "normalUrl"}
    assert set(schemas["CacheCardResponse"]["properties"]) == {"result", "paymentMethodDetail", "expiryTime"}
    with pytest.raises(AssertionError, match="Additional properties"):
        assert_valid(document, CACHE, {**cached, "paymentMethodDetail": {
            **cached["paymentMethodDetail"], "card": {**cached["paymentMethodDetail"]["card"], "cvv": "123"}}})

    # the response schemas are closed: an undocumented field would fail
    with pytest.raises(AssertionError, match="Additional properties"):
        assert_valid(document, INQUIRE, {**failed, "surprise": "x"})
    with pytest.raises(AssertionError):
        assert_valid(document, INQUIRE, {**failed, "result": {**failed["result"], "resultCode": "NOT_A_CODE"}})


def test_real_admin_answers_match_the_documented_responses(app, document):
    http = app.test_client()
    created = http.post("/_mockpay/clients", json={"clientId": "SANDBOX_DOC"})
    assert created.status_code == 201
    assert "merchantPrivateKey" in created.get_json()
    assert_valid(document, "/_mockpay/clients", created.get_json(), status="201")
    assert_valid(document, "/_mockpay/clients", http.get("/_mockpay/clients").get_json(), method="get")
    assert_valid(document, "/_mockpay/health", http.get("/_mockpay/health").get_json(), method="get")
    missing = http.get("/_mockpay/clients/NOPE")
    assert missing.status_code == 404
    assert_valid(document, "/_mockpay/clients/{client_id}", missing.get_json(), status="4XX", method="get")
    bad = http.post("/_mockpay/clients", json={"clientId": "bad id!"})
    assert bad.status_code == 400
    assert_valid(document, "/_mockpay/clients", bad.get_json(), status="4XX")
    with pytest.raises(AssertionError):  # the error schema is closed too
        assert_valid(document, "/_mockpay/clients", {"error": "flat"}, status="4XX")


# -- routes added later are picked up -------------------------------------------------------

class WidgetRequestSchema(Schema):
    widgetId = AmsString(40, required=True)
    note = AmsString(7)


class WidgetResponseSchema(Schema):
    result = fields.Nested("mockpay.schemas.responses.ResultSchema", required=True)
    widgetId = fields.String()


class WidgetQuerySchema(Schema):
    colour = fields.String(metadata={"description": "filter by colour"})


def test_routes_added_by_other_features_are_picked_up(tmp_path):
    """A new API family and new admin views document themselves by their decorators."""
    widgets = Blueprint("widgets", __name__)

    @route(widgets, "/widgets/makeWidget")
    @ams_endpoint(WidgetRequestSchema(), "makeWidget", response=WidgetResponseSchema())
    def make_widget(client_id, body):
        """Make a widget."""
        return {"result": {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success"}}

    extra_admin = Blueprint("extra_admin", __name__, url_prefix="/_mockpay")

    @extra_admin.get("/widgets")
    @openapi.doc(query=WidgetQuerySchema, response=WidgetResponseSchema)
    def list_widgets():
        """The widgets."""
        return jsonify({})

    @extra_admin.post("/widgets/<int:widget_id>/poke")
    def poke_widget(widget_id):
        return jsonify({})

    page = Blueprint("page", __name__)

    @page.get("/challenge/<challenge_id>")
    def challenge(challenge_id):
        return "<html></html>"

    app = create_app({"data_dir": tmp_path / "data", "dispatcher": False})
    register_api(app, widgets)
    app.register_blueprint(extra_admin)
    app.register_blueprint(page)
    document = app.test_client().get("/_mockpay/openapi.json").get_json()
    validate(document, cls=OpenAPIV31SpecValidator)

    for key, prefix in PREFIXES.items():
        operation = document["paths"][f"{prefix}/widgets/makeWidget"]["post"]
        assert operation["operationId"] == f"makeWidget_{key}"
        assert operation["summary"] == "makeWidget"
    request = openapi.deref(document, {"$ref": "#/components/schemas/MakeWidgetRequest"})
    assert request["properties"]["note"]["maxLength"] == 7 and request["required"] == ["widgetId"]
    assert "MakeWidgetResponse" in document["components"]["schemas"]

    listed = document["paths"]["/_mockpay/widgets"]["get"]
    assert listed["summary"] == "The widgets."
    assert [p["name"] for p in listed["parameters"]] == ["colour"]
    poke = document["paths"]["/_mockpay/widgets/{widget_id}/poke"]["post"]
    assert poke["parameters"] == [{"name": "widget_id", "in": "path", "required": True,
                                   "schema": {"type": "integer"}}]
    assert "/challenge/{challenge_id}" not in document["paths"]  # a page without @doc stays out
    app.extensions["mockpay"].store.close()


# -- served by a real server, browsed by a real browser -----------------------------------

def test_served_by_a_running_server(mockpay):
    with urllib.request.urlopen(mockpay.base_url + "/_mockpay/openapi.json") as response:
        assert response.headers.get_content_type() == "application/json"
        document = json.loads(response.read())
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["servers"] == [{"url": mockpay.base_url, "description": "this mockpay"}]
    with urllib.request.urlopen(mockpay.base_url + "/_mockpay/docs") as response:
        assert response.headers.get_content_type() == "text/html"
        html = response.read().decode()
    for path in document["paths"]:
        assert f">{path}<" in html, path


@pytest.mark.browser
def test_docs_page_in_chromium_is_self_contained(mockpay, tmp_path, browser):
    requested = []
    page = browser.new_page()
    try:
        page.on("request", lambda r: requested.append(r.url))
        page.goto(mockpay.base_url + "/_mockpay/docs")
        assert page.title() == "mockpay API reference"
        assert page.locator("section#vaultPaymentMethod h2").inner_text() == "vaultPaymentMethod"
        rows = page.locator("#vaultPaymentMethod table").first.locator("td.name").all_inner_texts()
        assert "paymentMethodDetail.card.cardNo" in rows
        page.click("nav >> text=inquireVaulting")
        assert page.url.endswith("#inquireVaulting")
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    finally:
        page.close()
    assert requested and all(url.startswith(mockpay.base_url) for url in requested), requested
    assert (tmp_path / "docs.png").stat().st_size > 10000


def test_documented_answer_lengths_are_the_sdks(document):
    """Every answer field whose description in the official SDK's model gives a maximum length
    ("More information: Maximum length: N characters") is published with that maxLength: the
    SDK's models are what merchants read (vaultingStatus 10, maskedCardNo 64)."""
    import re

    from com.alipay.ams.api.model.card_payment_method_detail import CardPaymentMethodDetail
    from com.alipay.ams.api.response.pay.alipay_vaulting_payment_method_response import \
        AlipayVaultingPaymentMethodResponse
    from com.alipay.ams.api.response.pay.alipay_vaulting_query_response import AlipayVaultingQueryResponse
    from com.alipay.ams.api.response.pay.alipay_vaulting_session_response import AlipayVaultingSessionResponse

    components = document["components"]["schemas"]
    checked = []
    for component, model in (("VaultPaymentMethodResponse", AlipayVaultingPaymentMethodResponse),
                             ("InquireVaultingResponse", AlipayVaultingQueryResponse),
                             ("CreateVaultingSessionResponse", AlipayVaultingSessionResponse),
                             ("VaultedCard", CardPaymentMethodDetail)):
        for name, prop in components[component]["properties"].items():
            attribute = getattr(model, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(), None)
            found = re.search(r"Maximum length: (\d+)", getattr(attribute, "__doc__", None) or "")
            if found:
                checked.append(name)
                assert prop.get("maxLength") == int(found.group(1)), f"{component}.{name}"
    assert {"vaultingStatus", "maskedCardNo", "cardToken", "vaultingSessionData"} <= set(checked)
