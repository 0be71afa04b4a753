"""Route metadata: one decorator declares method, path, who may call, and the pydantic models.

The same metadata enforces roles (the only place that does), parses and validates input, shapes the
JSON answer, and generates the OpenAPI document, so the contract and the code cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server import keys
from server.errors import Forbidden, Invalid, Unauthorized, UnsupportedMedia
from server.timestamps import iso

Handler = Callable[..., Awaitable[Any]]
M = TypeVar("M", bound=BaseModel)

ANYONE: frozenset[str] | None = None
"""No credentials needed."""
SIGNED_IN: frozenset[str] = frozenset()
"""Any signed-in user, whatever their roles."""
ADMIN = frozenset({"admin"})
ARTIST = frozenset({"artist", "admin"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    roles: frozenset[str] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    summary: str = ""
    tags: tuple[str, ...] = ()
    request_content: dict[str, Any] | None = None
    """Raw OpenAPI requestBody content, for bodies that are not JSON (uploads)."""
    response_content: dict[str, str] = field(default_factory=dict)
    """Non-JSON answers as {media type: description}."""
    bodiless: tuple[int, ...] = ()
    """Statuses this route answers with no body at all, whatever happens (preflights, nginx's auth
    check); when given they are the route's only documented answers."""


class Api:
    """A list of endpoints; ``create_app`` registers every module's list on the router."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        roles: frozenset[str] | None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        tags: Iterable[str] = (),
        request_content: dict[str, Any] | None = None,
        response_content: dict[str, str] | None = None,
        bodiless: tuple[int, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method.upper(),
                    path=self.prefix + path,
                    handler=handler,
                    roles=roles,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    summary=(handler.__doc__ or "").strip().split("\n")[0],
                    tags=tuple(tags),
                    request_content=request_content,
                    response_content=response_content or {},
                    bodiless=bodiless,
                )
            )
            return handler

        return register


def add_routes(app: web.Application, *apis: Api) -> list[Endpoint]:
    endpoints = [ep for api in apis for ep in api.endpoints]
    for ep in endpoints:
        app.router.add_route(ep.method, ep.path, _wrap(ep))
    return endpoints


def _wrap(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if ep.roles is not None:
            principal = request.get(keys.PRINCIPAL)
            if principal is None:
                if request.get(keys.CSRF_FAILED):
                    raise Forbidden("Missing or wrong X-CSRF-Token header.", code="csrf_failed")
                raise Unauthorized()
            if ep.roles and not (ep.roles & principal.roles):
                raise Forbidden()
        kwargs: dict[str, Any] = {}
        if ep.body is not None:
            kwargs["body"] = await parse_body(request, ep.body)
        if ep.query is not None:
            kwargs["query"] = parse_query(request, ep.query)
        result = await ep.handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204 if ep.status == 200 else ep.status)
        return json_response(result, status=ep.status)

    handle.__name__ = ep.handler.__name__
    return handle


async def parse_body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise UnsupportedMedia("Send the body as application/json.")
    raw = await request.read()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(
            "The body is not valid JSON.", code="malformed_json", details={"body": str(exc)}
        ) from exc
    return validate(model, data)


def parse_query(request: web.Request, model: type[M]) -> M:
    return validate(model, dict(request.query))


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(details={"fields": field_errors(exc)}) from exc


def field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors as {"field.path": "message"}; "body" when the whole document is wrong."""
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        out.setdefault(where, err["msg"])
    return out


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return web.Response(
        body=json.dumps(data, default=_json_default, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
