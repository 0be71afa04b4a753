"""Every failure becomes the API's JSON error shape: never a stack trace, never HTML.

Domain errors carry their status; a database or Redis that is down becomes 503 with Retry-After;
a full disk becomes 507 (``server.disk``); aiohttp's own HTTP errors (unknown route, wrong method,
body too large) are reshaped too; media errors and invalid records are mapped by
``server.errors.SHARED_ERRORS``. The statuses come from ``server.errors.HTTP_STATUS``.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from server.disk import is_disk_full
from server.documents import MONGO_DOWN, REDIS_DOWN
from server.errors import (
    SHARED,
    AppError,
    InsufficientStorage,
    ServiceUnavailable,
    error_for_status,
    from_shared_error,
)
from server.middleware.access_log import redact_path

log = structlog.get_logger("harmonystream.errors")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AppError as exc:
        return error_response(exc)
    except SHARED as exc:
        # The shared layer knows nothing of HTTP; server.errors.SHARED_ERRORS says what each means here.
        return error_response(from_shared_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason if exc.status != 404 else "Not found."
        return error_response(error_for_status(exc.status, message), extra_headers=exc.headers)
    except MONGO_DOWN as exc:
        log.warning("dependency_down", dependency="database", error=str(exc))
        return error_response(ServiceUnavailable("database"))
    except REDIS_DOWN as exc:
        log.warning("dependency_down", dependency="redis", error=str(exc))
        return error_response(ServiceUnavailable("redis"))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        if is_disk_full(exc):
            log.error("disk_full", path=redact_path(request.path), error=str(exc))
            return error_response(InsufficientStorage())
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
