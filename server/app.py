"""``create_app(settings)``: the one place that builds and wires every part of the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.redis_storage import RedisStorage

from migrations import apply_pending
from server import keys
from server.api import add_routes
from server.auth import routes as auth_routes
from server.auth.passwords import PasswordHasher
from server.auth.service import AuthService
from server.auth.store import LoginStore
from server.auth.tokens import TokenCodec
from server.catalog.store import TrackStore
from server.handles import make_redis, open_database
from server.events import EventBus
from server.health import routes as health_routes
from server.metrics import Metrics
from server.middleware.access_log import access_log_middleware
from server.middleware.auth import SESSION_COOKIE, auth_middleware
from server.middleware.errors import error_middleware
from server.middleware.ratelimit import RateLimiter, rate_limit_middleware
from server.middleware.security_headers import security_headers_middleware
from server.openapi import api as openapi_routes
from server.openapi import build_openapi
from server.settings import Settings
from server.users import routes as user_routes
from server.users.store import UserStore


def create_app(settings: Settings) -> web.Application:
    """A ready-to-run application; nothing connects until the app starts (``cleanup_ctx``)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    redis = make_redis(settings)
    session_storage = RedisStorage(
        redis,
        cookie_name=SESSION_COOKIE,
        max_age=settings.refresh_token_ttl,
        httponly=True,
        samesite="Lax",
        secure=settings.cookie_secure,
    )
    app = web.Application(
        # Order matters; each wraps the ones after it:
        middlewares=[
            # 1. Outermost: request id, access log and metrics see the final status of everything.
            access_log_middleware,
            # 2. Security headers go on every answer, error answers included.
            security_headers_middleware,
            # 3. Every exception below becomes the JSON error shape (503 for a dependency that is down).
            error_middleware,
            # 4. The session must be loaded before auth reads the cookie, and saved after the handler.
            session_middleware(session_storage),
            # 5. Who is calling; needs Redis and the database, whose failures 3. reports.
            auth_middleware,
            # 6. After auth, so signed-in users are limited per user rather than per address.
            rate_limit_middleware,
        ],
        client_max_size=1024 * 1024,
    )
    app[keys.SETTINGS] = settings
    app[keys.REDIS] = redis
    app[keys.METRICS] = Metrics()
    app[keys.EVENTS] = EventBus()
    app[keys.RATE_LIMITER] = RateLimiter(redis, settings.redis_prefix)
    app[keys.TOKENS] = TokenCodec(
        settings.secret_key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=settings.access_token_ttl,
    )
    # In dependency order; each is closed in reverse order at shutdown.
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_services_ctx)

    endpoints = add_routes(app, health_routes.api, auth_routes.api, user_routes.api, openapi_routes)
    app[keys.OPENAPI] = build_openapi(endpoints, _version())
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[keys.REDIS].aclose()


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_database(app[keys.SETTINGS]) as db:
        app[keys.DB] = db
        await apply_pending(db)
        yield


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    db = app[keys.DB]
    hasher = PasswordHasher(settings.hash_threads)
    app[keys.HASHER] = hasher
    app[keys.USERS] = UserStore(db)
    app[keys.TRACKS] = TrackStore(db)
    app[keys.AUTH] = AuthService(
        users=app[keys.USERS],
        logins=LoginStore(db),
        hasher=hasher,
        tokens=app[keys.TOKENS],
        redis=app[keys.REDIS],
        settings=settings,
    )
    yield
    hasher.close()


def _version() -> str:
    try:
        return version("harmonystream")
    except PackageNotFoundError:
        return "0.0.0"
