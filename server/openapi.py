"""The OpenAPI 3.1 document, generated from the route metadata and pydantic models in ``server.api``."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server import keys
from server.api import ANYONE, Api, Endpoint, json_response

api = Api("/api/v1")

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
_REF = "#/components/schemas/{model}"
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def build_openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for ep in endpoints:
        for model in (ep.body, ep.response):
            if model is not None:
                models.add(model)
    ordered = sorted(models, key=lambda m: m.__name__)
    mapping, defs = models_json_schema(
        [(m, "validation" if _is_input(m, endpoints) else "serialization") for m in ordered],
        ref_template=_REF,
    )
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        path = _PARAM.sub(r"{\1}", ep.path)
        op: dict[str, Any] = {
            "operationId": f"{ep.handler.__module__.split('.')[1]}_{ep.handler.__name__}",
            "summary": ep.summary,
            "tags": list(ep.tags),
            "responses": _responses(ep, mapping),
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(ep.path)
        ]
        if ep.query is not None:
            params += _query_params(ep.query)
        if params:
            op["parameters"] = params
        if ep.body is not None:
            schema = mapping[(ep.body, "validation")]
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        elif ep.request_content:
            op["requestBody"] = {"required": True, "content": ep.request_content}
        if ep.roles is not None:
            op["security"] = [{"bearerAuth": []}, {"sessionCookie": []}]
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "HarmonyStream API", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "hs_session"},
            },
        },
    }


def _is_input(model: type[BaseModel], endpoints: list[Endpoint]) -> bool:
    return any(ep.body is model for ep in endpoints)


def _responses(ep: Endpoint, mapping: dict[Any, Any]) -> dict[str, Any]:
    if ep.bodiless:
        return {str(status): {"description": "No content."} for status in ep.bodiless}
    out: dict[str, Any] = {}
    if ep.status == 204:
        out["204"] = {"description": "Done; no content."}
    elif ep.response is not None:
        out[str(ep.status)] = {
            "description": "Success.",
            "content": {"application/json": {"schema": mapping[(ep.response, "serialization")]}},
        }
    else:
        content = {mt: {"schema": {"type": "string"}} for mt in ep.response_content} or {
            "application/json": {"schema": {"type": "object"}}
        }
        out[str(ep.status)] = {"description": "Success.", "content": content}
    error = {
        "description": "Error.",
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }
    out["default"] = error
    return out


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


@api.route(
    "GET",
    "/openapi.json",
    roles=ANYONE,
    tags=["ops"],
    response_content={"application/json": "The OpenAPI document"},
)
async def openapi_json(request: web.Request) -> web.Response:
    """This document."""
    return json_response(request.app[keys.OPENAPI])
