"""Request id, one structured log line per request, and the request metrics.

Outermost, so it sees the final status of everything below it, error answers included.

Media files (``/hls/``, ``/media/``, nginx's ``/hls-auth/`` checks) answered without an error are
logged at debug level, everything else at info. A listener fetches a segment every ~6 s, so at info
they would be most of the log (10,000 listeners: ~1,700 lines a second) and a quarter of the CPU a
segment costs; the Prometheus counters still count every one of them, and any refusal or failure is
logged at info. ``HS_LOG_LEVEL=debug`` brings them back.
"""

from __future__ import annotations

import os
import re
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from server import keys

log = structlog.get_logger("harmonystream.access")
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MEDIA_PREFIXES = ("/hls/", "/media/", "/hls-auth/")
REDACTED = "[redacted]"


def redact_path(path: str) -> str:
    """``path`` as it may be logged: the signed-URL token of a media path (anyone holding it may play
    the track until it expires) is replaced. Query strings are never logged (Subsonic clients put
    passwords there)."""
    if path.startswith(_MEDIA_PREFIXES):
        parts = path.split("/", 3)  # "", "hls", token, rest
        if len(parts) >= 3 and parts[2]:
            parts[2] = REDACTED
            return "/".join(parts)
    return path


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID object.
    request_id = incoming if VALID_REQUEST_ID.match(incoming) else os.urandom(16).hex()
    request[keys.REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        request.app[keys.METRICS].observe(request.method, route, status, elapsed)
        principal = request.get(keys.PRINCIPAL)
        quiet = status < 400 and request.path.startswith(_MEDIA_PREFIXES)
        (log.debug if quiet else log.info)(
            "request",
            request_id=request_id,
            method=request.method,
            path=redact_path(request.path),
            route=route,
            status=status,
            ms=round(elapsed * 1000, 2),
            user_id=principal.user_id if principal else None,
        )


def _route_name(request: web.Request) -> str:
    """The route's template (``/api/v1/users/{id}``), never the raw path, to bound label cardinality."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    if resource is None or info.http_exception is not None:
        return "unmatched"
    return resource.canonical
