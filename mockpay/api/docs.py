"""/_mockpay/openapi.json and /_mockpay/docs: the OpenAPI 3.1 document of this
app and the same rendered server-side as one self-contained HTML page (no
script, no CDN, no viewer to vendor)."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, render_template, request
from markupsafe import Markup, escape

from .. import openapi
from ..admin_auth import PREFIX

bp = Blueprint("docs", __name__, url_prefix=PREFIX)

PREFIX_ORDER = ("prod", "sandbox", "short")


@bp.app_template_filter("mockpay_markdown")
def inline_markdown(text: str) -> Markup:
    """The little CommonMark the descriptions use: **bold** and `code`."""
    html = str(escape(text))
    html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return Markup(html)


def _document() -> dict:
    document = dict(openapi.spec_for(current_app))
    document["servers"] = [{"url": request.host_url.rstrip("/"), "description": "this mockpay"}]
    return document


@bp.get("/openapi.json")
@openapi.doc(summary="This API description (OpenAPI 3.1).")
def openapi_json():
    return jsonify(_document())


def _body_rows(document: dict, operation: dict, where: str) -> list[dict]:
    if where == "request":
        content = operation.get("requestBody", {}).get("content", {})
    else:
        ok = next((r for status, r in operation.get("responses", {}).items() if status.startswith("2")), {})
        content = ok.get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return openapi.field_rows(document, schema) if schema else []


def page_model(document: dict) -> dict:
    """What the HTML page shows, taken from the document itself."""
    ams: dict[str, dict] = {}
    others = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            api = operation.get("x-ams-api")
            if api:
                entry = ams.setdefault(api, {
                    "api": api, "description": operation.get("description", "").split("\n\n")[0],
                    "paths": [], "request": _body_rows(document, operation, "request"),
                    "response": _body_rows(document, operation, "response"),
                    "codes": operation.get("x-result-codes", {}),
                })
                entry["paths"].append((operation.get("x-ams-prefix"), path))
                continue
            parameters = [openapi.deref(document, p) for p in operation.get("parameters", [])]
            others.append({
                "id": operation.get("operationId", f"{method}-{path}"), "method": method.upper(), "path": path,
                "summary": operation.get("summary", ""), "tag": (operation.get("tags") or [""])[0],
                "parameters": parameters, "request": _body_rows(document, operation, "request"),
                "response": _body_rows(document, operation, "response"),
                "statuses": sorted(operation.get("responses", {})),
            })
    for entry in ams.values():
        entry["paths"].sort(key=lambda p: PREFIX_ORDER.index(p[0]) if p[0] in PREFIX_ORDER else 9)
    components = document.get("components", {})
    return {
        "info": document.get("info", {}),
        "ams": sorted(ams.values(), key=lambda e: e["api"]),
        "others": others,
        "headers": [components.get("parameters", {})[name] for name in openapi.AMS_HEADERS],
        "response_headers": openapi.RESPONSE_HEADERS,
        "envelope": openapi.field_rows(document, {"$ref": "#/components/schemas/Result"}),
    }


@bp.get("/docs")
@openapi.doc(summary="This API description as an HTML page.", content_type="text/html")
def docs_page():
    document = _document()
    return render_template("openapi_docs.html", document=document, **page_model(document))
