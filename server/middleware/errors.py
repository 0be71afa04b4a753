"""Every failure becomes the API's JSON error shape: never a stack trace, never HTML.

Domain errors carry their status; a database or Redis that is down becomes 503 with Retry-After;
aiohttp's own HTTP errors (unknown route, wrong method, body too large) are reshaped too.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from server.documents import MONGO_DOWN, REDIS_DOWN
from server.errors import AppError, ServiceUnavailable
from server.middleware.access_log import redact_path

log = structlog.get_logger("harmonystream.errors")

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media",
    416: "range_not_satisfiable",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AppError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 404 else "Not found."
        err = AppError(message, code=code)
        err.status = exc.status
        return error_response(err, extra_headers=exc.headers)
    except MONGO_DOWN as exc:
        log.warning("dependency_down", dependency="database", error=str(exc))
        return error_response(ServiceUnavailable("database"))
    except REDIS_DOWN as exc:
        log.warning("dependency_down", dependency="redis", error=str(exc))
        return error_response(ServiceUnavailable("redis"))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled_error", path=redact_path(request.path))
        return error_response(AppError())


def error_response(exc: AppError, extra_headers: object = None) -> web.Response:
    headers = dict(exc.headers)
    if extra_headers:
        for name in ("Allow", "Retry-After", "Content-Range"):
            value = extra_headers.get(name)  # type: ignore[attr-defined]
            if value:
                headers[name] = value
    return web.json_response(exc.to_json(), status=exc.status, headers=headers)
