"""The OpenAPI 3.1 document of a mockpay app, generated with apispec from its
routes and marshmallow schemas.

How a route gets into the document (the one place to declare it is the view):
- AMS API views: `@ams_endpoint(request_schema, api, response=response_schema)`
  (api/gateway.py) is all it takes; `register_api` serves the blueprint under
  the three prefixes, and every one of them is documented, with the AMS
  headers, the signed-answer headers and the result envelope. The result codes
  come from codes.API_CODES[api].
- Admin views (`/_mockpay/...`): every route is documented; `@doc(...)` adds its
  request body, query, response schema and status.
- Any other route (pages): only when it carries `@doc(...)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from .admin_auth import PREFIX as ADMIN_PREFIX, UI_PREFIX, under
from .codes import API_CODES, GATEWAY_CODES, RESULT_CODES
from .schemas.fields import AmsBoolean, AmsInteger, AmsString

OPENAPI_VERSION = "3.1.0"
ASCII_PATTERN = "^[\\x20-\\x7e]*$"
# what every AmsString refuses whatever else it allows (text.CONTROL)
NO_CONTROL_PATTERN = "^[^\\x00-\\x1f\\x7f]*$"
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}


@dataclass
class Doc:
    summary: str | None = None
    description: str | None = None
    request: object = None           # marshmallow schema (class or instance) of a JSON body
    query: object = None             # marshmallow schema of the query string
    response: object = None          # marshmallow schema of the success body
    status: int = 200
    content_type: str = "application/json"
    responses: dict = field(default_factory=dict)  # {status: (description, schema or None)}
    tags: tuple[str, ...] = ()
    hidden: bool = False


def doc(**kwargs):
    """Describe a view for the OpenAPI document (see Doc for the keywords)."""
    described = Doc(**kwargs)

    def decorate(view):
        view.openapi_doc = described
        return view

    return decorate


# -- marshmallow -> JSON Schema ---------------------------------------------------------

def _ams_field_properties(self, field_, ret) -> dict:  # an apispec attribute function
    props: dict = {}
    if isinstance(field_, AmsString):
        props["minLength"] = 1
        props["maxLength"] = field_.max_length
        if field_.pattern is not None:
            pattern = field_.pattern.pattern
            if field_.ascii_only:  # Python's \d is any Unicode digit: the ASCII ones are what passes
                pattern = pattern.replace("\\d", "[0-9]")
            props["pattern"] = f"^(?:{pattern})$"
            if not ret.get("description"):
                props["description"] = field_.pattern_help
        if field_.choices and field_.ignore_case:
            # The mock accepts any case: a plain enum would be stricter than the mock.
            ret.pop("enum", None)
            props["x-enum"] = list(field_.choices)
            props["pattern"] = "^(?:" + "|".join(_any_case(c) for c in field_.choices) + ")$"
            note = f"one of {', '.join(field_.choices)}, in any case (answered in upper case)"
            props["description"] = f"{ret['description']} ({note})" if ret.get("description") else note
        if "pattern" not in props and not (field_.choices and not field_.ignore_case):
            props["pattern"] = ASCII_PATTERN if field_.ascii_only else NO_CONTROL_PATTERN
    elif isinstance(field_, AmsBoolean):
        props["anyOf"] = [{"type": "boolean"},
                          {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"}]
        props["description"] = '"true" or "false" (the SDK sends a JSON boolean; both are accepted)'
    elif isinstance(field_, AmsInteger):
        string = {"type": "string", "pattern": _int_string_pattern(field_.low, field_.high)}
        props["anyOf"] = [string, {"type": "integer", "minimum": field_.low, "maximum": field_.high}] \
            if field_.allow_json_number else [string]
        props["description"] = (f"an integer from {field_.low} to {field_.high}, as a digit string"
                                + (" or a JSON number" if field_.allow_json_number else ""))
    return props


def _int_string_pattern(low: int, high: int, digits: int = 6) -> str:
    """The digit strings AmsInteger takes (-?[0-9]{1,6}) whose value is within low..high."""
    if low > 0 or high < 0:
        return f"^-?[0-9]{{1,{digits}}}$"  # (no such field: the range is not spelled out)
    positive = _at_most(high, digits)
    if low == -high:
        return f"^-?(?:{positive})$"
    return f"^(?:{positive}|-(?:{_at_most(-low, digits)}))$"


def _at_most(n: int, digits: int) -> str:
    """1 to `digits` ASCII digits (leading zeros allowed) worth at most n."""
    parts = []
    for length in range(1, digits + 1):
        if n >= 10 ** length - 1:
            parts.append(f"[0-9]{{{length}}}")
            continue
        bound = str(n).zfill(length)
        for i, d in enumerate(bound):
            if d != "0":
                rest = length - i - 1
                parts.append(bound[:i] + (f"[0-{int(d) - 1}]" if d != "1" else "0")
                             + (f"[0-9]{{{rest}}}" if rest else ""))
        parts.append(bound)
    return "|".join(parts)


def _status_of_codes(codes) -> list[dict]:
    """Each result code goes with one resultStatus (codes.RESULT_CODES; scenarios cannot
    change it): SUCCESS is S, VERIFICATION_IN_PROCESS U, PARAM_ILLEGAL F, ..."""
    by_status: dict[str, list[str]] = {}
    for code in codes:
        by_status.setdefault(RESULT_CODES[code][0], []).append(code)
    return [{"properties": {"resultStatus": {"const": status}, "resultCode": {"enum": sorted(group)}}}
            for status, group in sorted(by_status.items())]


def _any_case(text: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


class _Names:
    """Component names: the class name without 'Schema'; qualified by module on a clash."""

    def __init__(self):
        self.by_class: dict[type, str] = {}
        self.taken: dict[str, type] = {}

    def prefer(self, cls: type, name: str) -> None:
        """Name `cls` so, unless it already has a name or the name is taken."""
        if cls not in self.by_class and name not in self.taken:
            self.by_class[cls], self.taken[name] = name, cls

    def __call__(self, schema) -> str:
        cls = schema if isinstance(schema, type) else type(schema)
        if cls in self.by_class:
            return self.by_class[cls]
        name = cls.__name__[:-6] if cls.__name__.endswith("Schema") and cls.__name__ != "Schema" else cls.__name__
        if name in self.taken and self.taken[name] is not cls:
            module = cls.__module__.rsplit(".", 1)[-1]
            name = "".join(part.capitalize() for part in module.split("_")) + name
        self.by_class[cls], self.taken[name] = name, cls
        return name


def _schema_class(schema) -> type:
    return schema if isinstance(schema, type) else type(schema)


# -- the document -------------------------------------------------------------------------

AMS_HEADERS = {
    "ClientId": {"name": "client-id", "in": "header", "required": True,
                 "description": "The client id Antom assigned to the merchant (registered with mockpay).",
                 "schema": {"type": "string", "maxLength": 64}},
    "RequestTime": {"name": "request-time", "in": "header", "required": True,
                    "description": "When the request was signed: ISO 8601 (the Python SDK) or epoch "
                                   "milliseconds (the Java and Go SDKs), signed verbatim.",
                    "schema": {"type": "string"}},
    "Signature": {"name": "signature", "in": "header", "required": True,
                  "description": "algorithm=RSA256,keyVersion=1,signature=<URL-encoded base64 RSA-SHA256 over "
                                 "'<METHOD> <path>\\n<client-id>.<request-time>.<raw body>'>",
                  "schema": {"type": "string", "pattern": "^algorithm=RSA256,keyVersion=[0-9]+,signature=.+$"}},
}
RESPONSE_HEADERS = {
    "client-id": {"description": "The client id of the request.", "schema": {"type": "string"}},
    "response-time": {"description": "When mockpay signed the answer (ISO 8601, mock clock).",
                      "schema": {"type": "string"}},
    "signature": {"description": "algorithm=RSA256,keyVersion=1,signature=<value> over "
                                 "'<METHOD> <path>\\n<client-id>.<response-time>.<raw body>', with mockpay's key "
                                 "(the SDK's alipay_public_key).",
                  "schema": {"type": "string"}},
}

DESCRIPTION = """mockpay emulates the Antom (Alipay) card vaulting APIs for merchants using Antom's official
server SDKs, and offers an admin API to inspect and steer it.

**AMS API** (tag `AMS API`): every operation is served under three prefixes: `/ams/api/v1` (production
paths), `/ams/sandbox/api/v1` (what the SDKs call for a client id starting with `SANDBOX_`) and `/v1`
(the reference pages' titles). Requests are POST with a JSON body and three signed headers; every
answer, errors included, is HTTP 200 with a signed body carrying `result{resultStatus, resultCode,
resultMessage}`.

**Admin API** (tag `Admin API`): JSON under `/_mockpay/`; errors are a 4xx status with
`{"error": {"code", "message"}}`."""


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("mockpay")
    except Exception:  # noqa: BLE001 - not installed: a source checkout
        return "0.0.0"


def _flask_path(rule: str) -> tuple[str, list[dict]]:
    """'/clients/<client_id>' -> ('/clients/{client_id}', [path parameter])."""
    params = []

    def repl(m: re.Match) -> str:
        converter, name = (m.group(1) or "string"), m.group(2)
        kind = {"int": "integer", "float": "number"}.get(converter, "string")
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": kind}})
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", repl, rule), params


def _summary(view, fallback: str) -> str:
    text = (view.__doc__ or "").strip()
    return text.split("\n\n", 1)[0].replace("\n", " ") if text else fallback


class _Builder:
    def __init__(self):
        self.names = _Names()
        self.plugin = MarshmallowPlugin(schema_name_resolver=self.names)
        self.spec = APISpec(title="mockpay", version=_version(), openapi_version=OPENAPI_VERSION,
                            plugins=[self.plugin], info={"description": DESCRIPTION})
        self.plugin.converter.add_attribute_function(_ams_field_properties)
        for name, parameter in AMS_HEADERS.items():
            self.spec.components.parameter(name, "header", parameter)
        self.ref("mockpay.schemas.responses.ResultSchema")

    def ref(self, schema) -> dict:
        """A $ref to the component of a marshmallow schema (class, instance or
        "module.Class"), registering it (and, through apispec, what it nests)."""
        if isinstance(schema, str):
            import importlib
            module, _, name = schema.rpartition(".")
            schema = getattr(importlib.import_module(module), name)
        name = self.names(_schema_class(schema))
        if name not in self.spec.components.schemas:
            self.spec.components.schema(name, schema=_schema_class(schema))
        return {"$ref": f"#/components/schemas/{name}"}

    # -- AMS API --------------------------------------------------------------------------
    def ams_operation(self, rule, view) -> tuple[str, dict]:
        from .api.gateway import PREFIXES
        api = view.ams_api
        prefix_key = next((k for k, p in PREFIXES.items() if rule.rule.startswith(p + "/")), "other")
        codes = sorted(API_CODES.get(api, GATEWAY_CODES | {"SUCCESS"}))
        response = self.ref(view.ams_response_schema or "mockpay.schemas.responses.EnvelopeSchema")
        operation = {
            "operationId": f"{api}_{prefix_key}",
            "tags": ["AMS API"],
            "summary": api,
            "description": _summary(view, api) + f"\n\nServed under all three prefixes; this one: "
                                                 f"`{PREFIXES.get(prefix_key, '')}`.",
            "parameters": list(AMS_HEADERS),  # apispec turns component names into $refs
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": self.ref(view.ams_request_schema)}}},
            "responses": {"200": {
                "description": "The signed answer, errors included (resultStatus F or U).",
                "headers": RESPONSE_HEADERS,
                "content": {"application/json": {"schema": {"allOf": [
                    response,
                    {"properties": {"result": {"properties": {"resultCode": {"enum": codes}},
                                               "anyOf": _status_of_codes(codes)}}},
                ]}}},
            }},
            "x-ams-api": api,
            "x-ams-prefix": prefix_key,
            "x-result-codes": {code: {"status": RESULT_CODES[code][0], "message": RESULT_CODES[code][1]}
                               for code in codes if code in RESULT_CODES},
        }
        return rule.rule, {"post": operation}

    # -- admin API and documented pages ----------------------------------------------------
    def documented_operation(self, rule, view, described: Doc) -> tuple[str, dict]:
        path, path_params = _flask_path(rule.rule)
        methods = sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))
        admin = rule.rule.startswith(ADMIN_PREFIX + "/")
        operations = {}
        for method in methods:
            params = list(path_params)
            if described.query is not None:
                params += self.plugin.converter.schema2parameters(_schema_class(described.query), location="query")
            if described.response is not None:
                content = {described.content_type: {"schema": self.ref(described.response)}}
            elif described.content_type == "application/json":
                content = {"application/json": {"schema": {"type": "object"}}}
            else:
                content = {described.content_type: {"schema": {"type": "string"}}}
            success = {"description": STATUS_TEXT.get(described.status, "Success")}
            if described.status != 204:
                success["content"] = content
            responses = {str(described.status): success}
            for status, (text, schema) in described.responses.items():
                responses[str(status)] = {"description": text}
                if schema is not None:
                    responses[str(status)]["content"] = {"application/json": {"schema": self.ref(schema)}}
            if admin:
                responses.setdefault("4XX", {"description": "An admin API error.", "content": {
                    "application/json": {"schema": self.ref("mockpay.schemas.admin.AdminErrorSchema")}}})
            operation = {
                "operationId": f"{rule.endpoint}_{method.lower()}".replace(".", "_"),
                "tags": list(described.tags) or (["Admin API"] if admin else ["Pages"]),
                "summary": described.summary or _summary(view, rule.endpoint),
                "responses": responses,
            }
            if described.description:
                operation["description"] = described.description
            if params:
                operation["parameters"] = params
            if described.request is not None and method in ("POST", "PUT", "PATCH"):
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": self.ref(described.request)}}}
            operations[method.lower()] = operation
        return path, operations

    def name_ams_schemas(self, views) -> None:
        """<Api>Request / <Api>Response, whichever route mentions them first."""
        for view in views:
            title = view.ams_api[:1].upper() + view.ams_api[1:]
            self.names.prefer(_schema_class(view.ams_request_schema), f"{title}Request")
            if view.ams_response_schema is not None:
                self.names.prefer(_schema_class(view.ams_response_schema), f"{title}Response")

    def build(self, app) -> dict:
        paths: dict[str, dict] = {}
        self.name_ams_schemas(v for v in app.view_functions.values() if getattr(v, "ams_api", None))
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            view = app.view_functions.get(rule.endpoint)
            if view is None or rule.endpoint == "static":
                continue
            described = getattr(view, "openapi_doc", None)
            if described is not None and described.hidden:
                continue
            if getattr(view, "ams_api", None):
                path, operations = self.ams_operation(rule, view)
            elif described is not None or (rule.rule.startswith(ADMIN_PREFIX + "/")
                                           and not under(rule.rule, UI_PREFIX)):  # the dashboard is HTML
                path, operations = self.documented_operation(rule, view, described or Doc())
            else:
                continue
            paths.setdefault(path, {}).update(operations)
        for path, operations in paths.items():
            self.spec.path(path=path, operations=operations)
        document = self.spec.to_dict()
        document["tags"] = [
            {"name": "AMS API", "description": "The Antom vaulting APIs, as the official SDKs call them."},
            {"name": "Admin API", "description": "Inspect and steer mockpay."},
        ]
        self._describe_components(document)
        return document

    def _describe_components(self, document: dict) -> None:
        """Schema docstrings become component descriptions."""
        schemas = document.get("components", {}).get("schemas", {})
        for cls, name in self.names.by_class.items():
            text = (cls.__doc__ or "").strip()
            if name in schemas and text and issubclass(cls, Schema) and cls.__doc__ is not Schema.__doc__:
                schemas[name].setdefault("description", text.split("\n\n", 1)[0].replace("\n", " "))


def build_spec(app) -> dict:
    """The OpenAPI 3.1 document of `app` (a dict), without `servers`."""
    return _Builder().build(app)


def spec_for(app) -> dict:
    """build_spec, cached on the app (its routes do not change once it serves)."""
    cached = app.extensions.get("mockpay.openapi")
    if cached is None:
        cached = app.extensions["mockpay.openapi"] = build_spec(app)
    return cached


# -- for the HTML page ---------------------------------------------------------------------

def deref(document: dict, node):
    """Follow $ref (local pointers only)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        target = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
        seen += 1
    return node


def _merge_all_of(document: dict, schema: dict) -> dict:
    schema = deref(document, schema)
    if "allOf" not in schema:
        return schema
    merged: dict = {"type": "object", "properties": {}, "required": []}
    for part in schema["allOf"]:
        part = _merge_all_of(document, part)
        for name, prop in part.get("properties", {}).items():
            if name in merged["properties"]:
                base = deref(document, merged["properties"][name])
                extra = prop
                merged["properties"][name] = {"allOf": [base, extra]}
            else:
                merged["properties"][name] = prop
        merged["required"] += part.get("required", [])
        for key in ("description",):
            if key in part and key not in merged:
                merged[key] = part[key]
    return merged


def field_rows(document: dict, schema, prefix: str = "", depth: int = 0) -> list[dict]:
    """Flatten a schema into rows {name, type, required, constraints, description} for a table."""
    rows: list[dict] = []
    if schema is None or depth > 8:
        return rows
    schema = _merge_all_of(document, schema)
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        full = f"{prefix}{name}"
        resolved = _merge_all_of(document, prop)
        if "allOf" in prop and not resolved.get("properties"):
            parts = [deref(document, p) for p in prop["allOf"]]
            resolved = {k: v for p in parts for k, v in p.items()}
        kind = resolved.get("type")
        if isinstance(kind, list):
            kind = " | ".join(kind)
        if "anyOf" in resolved:
            kind = " | ".join(sorted({str(o.get("type")) for o in resolved["anyOf"]}))
        nested = resolved.get("properties")
        items = resolved.get("items")
        constraints = []
        if "maxLength" in resolved:
            constraints.append(f"max {resolved['maxLength']}")
        choices = resolved.get("enum") or resolved.get("x-enum")
        if choices and len(choices) > 8:
            constraints.append(f"one of {len(choices)} values")
        elif choices:
            constraints.append("one of " + ", ".join(str(v) for v in choices))
        if resolved.get("pattern") == ASCII_PATTERN:
            constraints.append("printable ASCII")
        elif resolved.get("pattern") == NO_CONTROL_PATTERN:
            constraints.append("no control characters")
        elif "pattern" in resolved and not choices:
            constraints.append(f"pattern {resolved['pattern']}")
        if "minimum" in resolved or "maximum" in resolved:
            constraints.append(f"{resolved.get('minimum', '')}..{resolved.get('maximum', '')}")
        rows.append({"name": full, "type": kind or ("object" if nested else ""), "required": name in required,
                     "constraints": "; ".join(constraints), "description": resolved.get("description", "")})
        if nested:
            rows += field_rows(document, resolved, full + ".", depth + 1)
        elif isinstance(items, dict):
            item = _merge_all_of(document, items)
            rows[-1]["type"] = f"array of {item.get('type', 'object')}"
            if item.get("properties"):
                rows += field_rows(document, item, full + "[].", depth + 1)
    return rows
