"""Who is calling: a Bearer access token, or else the web session cookie (with CSRF on writes).

It only attaches a ``Principal`` to the request; what the caller may do is decided by the route's
declared roles in ``server.api``.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import get_session

from server import keys
from server.errors import Unauthorized

SESSION_COOKIE = "hs_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# /socket.io authenticates in server.realtime (auth payload or cookie); a refusal there is a Socket.IO
# connect_error, never an HTTP error that would break the transport.
_NO_AUTH_PREFIXES = ("/healthz", "/readyz", "/metrics", "/hls/", "/static/", "/media/", "/socket.io")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(_NO_AUTH_PREFIXES):
        return await handler(request)
    auth = request.app[keys.AUTH]
    header = request.headers.get("Authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Use 'Authorization: Bearer <access token>'.", code="invalid_token")
        request[keys.PRINCIPAL] = await auth.principal_from_token(token.strip())
    elif SESSION_COOKIE in request.cookies:
        session = await get_session(request)
        login_id = session.get("login_id")
        if login_id:
            sent = request.headers.get(CSRF_HEADER, "")
            if request.method not in _SAFE_METHODS and not hmac.compare_digest(sent, session.get("csrf", "")):
                # A cross-site form can carry the cookie but never this header.
                request[keys.CSRF_FAILED] = True
            else:
                principal = await auth.principal_from_login(login_id, via="cookie")
                if principal is None:
                    session.invalidate()
                else:
                    request[keys.PRINCIPAL] = principal
    return await handler(request)
