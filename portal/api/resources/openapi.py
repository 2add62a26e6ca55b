"""The OpenAPI 3.1 document of the API, built from the endpoints' own declarations."""

from __future__ import annotations

import re

from flask import current_app, jsonify

from portal.api.params import object_schema
from portal.api.routing import ENDPOINTS, Endpoint, bp

_PATH_VALUE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["type", "message"],
        "properties": {
            "type": {"type": "string", "enum": ["api_error", "card_error", "idempotency_error",
                                                "invalid_request_error"]},
            "message": {"type": "string"},
            "code": {"type": "string"},
            "param": {"type": "string"},
            "decline_code": {"type": "string"},
        },
    }},
}


def _object_schemas() -> dict:
    from portal.objects.schemas import components

    return components()


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{_component(name)}"}


def _component(name: str) -> str:
    return name  # OpenAPI allows dots in component names: Stripe's object names as they are


def _response_schema(spec: Endpoint, schemas: dict) -> dict:
    returns = spec.returns or ""
    if spec.deleted:
        return {"type": "object", "required": ["id", "object", "deleted"],
                "properties": {"id": {"type": "string"}, "object": {"type": "string"},
                               "deleted": {"type": "boolean", "enum": [True]}}}
    if returns.startswith("list:"):
        item = returns.removeprefix("list:")
        items = _ref(item) if item in schemas else {"type": "object"}
        return {"type": "object", "required": ["object", "data", "has_more", "url"],
                "properties": {"object": {"type": "string", "enum": ["list"]},
                               "data": {"type": "array", "items": items},
                               "has_more": {"type": "boolean"}, "url": {"type": "string"}}}
    return _ref(returns) if returns in schemas else {"type": "object"}


def _operation(spec: Endpoint, schemas: dict) -> dict:
    path_names = _PATH_VALUE.findall(spec.path)
    operation: dict = {
        "operationId": spec.name,
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string", "maxLength": 64}}
                       for name in path_names],
        "responses": {
            str(spec.status): {"description": "Successful response.", "content": {
                "application/json": {"schema": _response_schema(spec, schemas)}}},
            "default": {"description": "Error response.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/error"}}}},
        },
    }
    if spec.method == "POST":
        body = object_schema(spec.params)
        operation["requestBody"] = {"required": False, "content": {
            "application/x-www-form-urlencoded": {
                "schema": body,
                "encoding": {name: {"style": "deepObject", "explode": True}
                             for name, schema in body["properties"].items()
                             if schema.get("type") in ("object", "array")},
            }}}
        operation["parameters"].append({"name": "Idempotency-Key", "in": "header",
                                        "required": False,
                                        "schema": {"type": "string", "maxLength": 255}})
    else:
        for name, param in spec.params.items():
            schema = param.schema()
            entry = {"name": name, "in": "query", "required": param.required, "schema": schema}
            if schema.get("type") in ("object", "array"):
                entry |= {"style": "deepObject", "explode": True}
            operation["parameters"].append(entry)
    return operation


def document() -> dict:
    """The whole document, for /v1/openapi.json and the tests."""
    schemas = _object_schemas()
    paths: dict = {}
    for spec in ENDPOINTS:
        if spec.name == "openapi_document":
            continue
        path = "/v1" + _PATH_VALUE.sub(r"{\1}", spec.path)
        paths.setdefault(path, {})[spec.method.lower()] = _operation(spec, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Billing portal API", "version": _api_version(),
                 "description": "Stripe's wire format for the objects this portal keeps: "
                                "point a Stripe client library's API base here."},
        "servers": [{"url": current_app.config["PUBLIC_URL"].rstrip("/")}],
        "security": [{"bearer": []}, {"basic": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "basic": {"type": "http", "scheme": "basic"}},
            "schemas": {"error": ERROR_SCHEMA,
                        **{_component(name): schema for name, schema in schemas.items()}},
        },
    }


def _api_version() -> str:
    from portal.objects.common import API_VERSION

    return API_VERSION


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI document: public, as Stripe's own is."""
    return jsonify(document())
