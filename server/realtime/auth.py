"""Who is connecting a socket: an access token in the Socket.IO ``auth`` payload, or the session cookie.

Nothing else is accepted (no token in the query string, where it would end up in access logs). A
bad, expired or revoked token refuses the connection even when a cookie is present as well: a client
that sends a token means that token.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from server.auth.service import AuthService, Principal
from server.errors import AppError, Unauthorized
from server.middleware.auth import SESSION_COOKIE


async def authenticate(auth_service: AuthService, environ: dict[str, Any], auth: Any) -> Principal:
    """The caller of this connection; raises ``Unauthorized`` (or another ``AppError``) to refuse it."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if token is not None:
        if not isinstance(token, str) or not token:
            raise Unauthorized("The token must be a non-empty string.", code="invalid_token")
        return await auth_service.principal_from_token(token)
    request: web.Request | None = environ.get("aiohttp.request")
    if request is not None and SESSION_COOKIE in request.cookies:
        session = await get_session(request)
        login_id = session.get("login_id")
        if login_id:
            principal = await auth_service.principal_from_login(login_id, via="cookie")
            if principal is not None:
                return principal
        raise Unauthorized("This session has ended; sign in again.", code="session_expired")
    raise Unauthorized("Connect with auth: {token: <access token>} or a signed-in session cookie.")


def refusal(exc: AppError) -> dict[str, str]:
    """What a refused client receives in its ``connect_error``."""
    return {"code": exc.code, "message": exc.message}
