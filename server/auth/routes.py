"""``/api/v1/auth/*``: register, token sign-in, refresh, logout, and the web session."""

from __future__ import annotations

import secrets

from aiohttp import web
from aiohttp_session import get_session, new_session

from media.records import User
from server import keys
from server.api import ANYONE, SIGNED_IN, Api
from server.auth.schemas import LoginIn, RefreshIn, RegisterIn, SessionOut, TokenOut
from server.auth.service import TokenPair
from server.errors import Unauthorized
from server.middleware.client_ip import client_ip
from server.users.schemas import UserOut

api = Api("/api/v1")


async def _authenticate(request: web.Request, body: LoginIn) -> User:
    """The user signing in, within the login rate limits (per account, then per address)."""
    return await request.app[keys.AUTH].authenticate(
        body.username,
        body.password,
        limiter=request.app[keys.RATE_LIMITER],
        address=client_ip(request, request.app[keys.SETTINGS]),
    )


def _device(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")


def _token_out(pair: TokenPair, user: User) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        user=UserOut.of(user),
    )


@api.route(
    "POST", "/auth/register", roles=ANYONE, body=RegisterIn, response=UserOut, status=201, tags=["auth"]
)
async def register(request: web.Request, body: RegisterIn) -> UserOut:
    """Create an account; new users are listeners."""
    settings = request.app[keys.SETTINGS]
    await request.app[keys.RATE_LIMITER].hit(
        "register:ip", client_ip(request, settings), settings.rate_limits.register_per_ip
    )
    user = await request.app[keys.AUTH].register(body.username, body.email, body.password)
    return UserOut.of(user)


@api.route("POST", "/auth/login", roles=ANYONE, body=LoginIn, response=TokenOut, tags=["auth"])
async def login(request: web.Request, body: LoginIn) -> TokenOut:
    """Sign in with username (or email) and password; answers an access and a refresh token."""
    auth = request.app[keys.AUTH]
    user = await _authenticate(request, body)
    return _token_out(await auth.start_login(user, _device(request)), user)


@api.route("POST", "/auth/refresh", roles=ANYONE, body=RefreshIn, response=TokenOut, tags=["auth"])
async def refresh(request: web.Request, body: RefreshIn) -> TokenOut:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    pair, user = await request.app[keys.AUTH].refresh(body.refresh_token)
    return _token_out(pair, user)


@api.route("POST", "/auth/logout", roles=SIGNED_IN, status=204, tags=["auth"])
async def logout(request: web.Request) -> None:
    """End this sign-in: its access and refresh tokens (or its session cookie) stop working."""
    principal = request[keys.PRINCIPAL]
    await request.app[keys.AUTH].logout(principal.login_id)
    if principal.via == "cookie":
        (await get_session(request)).invalidate()


@api.route("POST", "/auth/session", roles=ANYONE, body=LoginIn, response=SessionOut, tags=["auth"])
async def create_session(request: web.Request, body: LoginIn) -> SessionOut:
    """Sign in for the web app: sets the session cookie; send ``csrf_token`` as X-CSRF-Token on writes."""
    auth = request.app[keys.AUTH]
    user = await _authenticate(request, body)
    login_id = await auth.start_cookie_login(user, _device(request))
    session = await new_session(request)  # a fresh id: no session fixation
    session["login_id"] = login_id
    session["csrf"] = secrets.token_urlsafe(24)
    return SessionOut(user=UserOut.of(user), csrf_token=session["csrf"])


@api.route("GET", "/auth/session", roles=SIGNED_IN, response=SessionOut, tags=["auth"])
async def read_session(request: web.Request) -> SessionOut:
    """The signed-in web session's user and CSRF token."""
    principal = request[keys.PRINCIPAL]
    if principal.via != "cookie":
        raise Unauthorized("No web session; this call is for the session cookie.", code="no_session")
    session = await get_session(request)
    user = await request.app[keys.USERS].get(principal.user_id)
    return SessionOut(user=UserOut.of(user), csrf_token=session["csrf"])


@api.route("DELETE", "/auth/session", roles=SIGNED_IN, status=204, tags=["auth"])
async def delete_session(request: web.Request) -> None:
    """Sign the web session out."""
    await logout(request)
