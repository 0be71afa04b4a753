"""``create_app(settings)``: the one place that builds and wires every part of the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.redis_storage import RedisStorage

from media.catalog_cache import CatalogCache
from media.layout import HLS_DIR, MediaLayout
from migrations import apply_pending
from server import keys
from server.api import add_routes
from server.auth import app_password_routes
from server.auth import routes as auth_routes
from server.auth.app_passwords import AppPasswordStore, SecretBox
from server.auth.passwords import PasswordHasher
from server.auth.service import AuthService
from server.auth.store import LoginStore
from server.auth.tokens import TokenCodec
from server.catalog import admin_routes as catalog_admin_routes
from server.catalog import routes as catalog_routes
from server.catalog.album_store import AlbumStore
from server.catalog.artist_store import ArtistStore
from server.catalog.ingest import IngestService
from server.catalog.scan_jobs import scans_ctx_factory
from server.catalog.service import CatalogService
from server.catalog.store import TrackStore
from server.catalog.upload import sweep_stale_uploads
from server.delivery import ladder_routes
from server.delivery import routes as delivery_routes
from server.delivery.ladder_cache import LadderCache
from server.delivery.onplay import OnPlayLadders
from server.delivery.revocation import Revocations
from server.delivery.service import DeliveryService
from server.events import EventBus
from server.handles import make_redis, open_database
from server.health import routes as health_routes
from server.jobs import routes as jobs_routes
from server.jobs.runtime import jobs_ctx
from server.lyrics import routes as lyrics_routes
from server.lyrics.store import LyricsStore
from server.metrics import Metrics
from server.middleware.access_log import access_log_middleware
from server.middleware.auth import SESSION_COOKIE, auth_middleware
from server.middleware.errors import error_middleware
from server.middleware.ratelimit import RateLimiter, rate_limit_middleware
from server.middleware.security_headers import security_headers_middleware
from server.openapi import api as openapi_routes
from server.openapi import build_openapi
from server.pages.routes import setup_pages
from server.playback import routes as playback_routes
from server.playback.queues import PlayQueues
from server.playback.service import PlaybackService
from server.playback.state import PlaybackStates
from server.playback.store import HistoryStore
from server.playlists import routes as playlist_routes
from server.playlists.store import PlaylistStore
from server.realtime.devices import DeviceRegistry
from server.realtime.hub import RealtimeHub
from server.recommend import routes as recommend_routes
from server.recommend.trending import TrendingCounter
from server.search import routes as search_routes
from server.search.context import discovery_ctx
from server.settings import Settings
from server.shutdown import bounded
from server.subsonic.marks import Annotations
from server.subsonic.routes import setup_subsonic
from server.supervisor import Supervisor
from server.users import routes as user_routes
from server.users.removal import AccountRemoval
from server.users.store import UserStore
from transcoder.albums import AlbumLoudness


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
        # Subsonic apps post id lists as repeated form fields: a 1,000-entry play queue, a 5,000-track
        # playlist. aiohttp's default of 1,000 fields answered them 413; the 1 MB cap bounds memory.
        client_max_fields=10_000,
    )
    app[keys.SETTINGS] = settings
    app[keys.REDIS] = redis
    app[keys.METRICS] = Metrics()
    app[keys.METRICS].watch_disk(settings.data_dir)
    app[keys.SUPERVISOR] = Supervisor(app[keys.METRICS])
    app[keys.EVENTS] = EventBus()
    app[keys.DELIVERY] = DeliveryService(
        settings, Revocations(redis, settings.redis_prefix, settings.media_url_ttl)
    )
    if settings.scans_on_play:
        app[keys.ONPLAY] = OnPlayLadders(
            MediaLayout(settings.media_dir),
            on_loudness=lambda track_id, loudness: app[keys.CATALOG].set_track(
                track_id, {"loudness": loudness}
            ),
            analysis_concurrency=settings.analysis_concurrency,
            cache=LadderCache(settings.media_dir / HLS_DIR, settings.ladder_cache_mb * 1024 * 1024),
        )
        app.on_cleanup.append(_close_onplay)
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
    app.cleanup_ctx.append(_playback_ctx)
    # Revoked media URLs followed from Redis (pub/sub), as soon as Redis is there.
    app.cleanup_ctx.append(_revocations_ctx)
    # Search index, playlists, recommendations: after the catalog; the index builds in the background.
    app.cleanup_ctx.append(discovery_ctx)
    # Socket.IO after the services its handlers call; stopped before them.
    app.cleanup_ctx.append(_realtime_ctx)
    # Background work last (the job queue, in-process transcoders): they publish through Socket.IO and
    # stop first, finishing or handing back their jobs while everything they use is still open.
    app.cleanup_ctx.append(jobs_ctx)
    # Scans started through the API queue transcodes; stopped (cancelled) before the job queue.
    app.cleanup_ctx.append(scans_ctx_factory(_enqueue))
    # /socket.io passes through every middleware: none of them touches a response once it is prepared
    # (the WebSocket), auth skips the path (server.realtime authenticates), rate limits cover /api only.
    app[keys.REALTIME] = RealtimeHub(settings)
    app[keys.REALTIME].attach(app)

    endpoints = add_routes(
        app,
        health_routes.api,
        auth_routes.api,
        app_password_routes.api,
        user_routes.api,
        catalog_routes.api,
        catalog_admin_routes.api,
        lyrics_routes.api,
        openapi_routes,
        delivery_routes.api,
        delivery_routes.signed,
        ladder_routes.api,
        playback_routes.api,
        search_routes.api,
        playlist_routes.api,
        recommend_routes.api,
        jobs_routes.api,
    )
    app[keys.SERVER_VERSION] = _version()
    app[keys.OPENAPI] = build_openapi(endpoints, app[keys.SERVER_VERSION])
    # The Subsonic API: another protocol (server/subsonic), so not in the OpenAPI document.
    setup_subsonic(app)
    # After the APIs: the web app's shell and static files (not part of the OpenAPI document).
    setup_pages(app)
    return app


async def _close_onplay(app: web.Application) -> None:
    await app[keys.ONPLAY].close()


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
    app[keys.APP_PASSWORDS] = AppPasswordStore(db, SecretBox(settings.secret_key))
    app[keys.ANNOTATIONS] = Annotations(db)
    app[keys.TRACKS] = TrackStore(db)
    app[keys.LYRICS] = LyricsStore(db)
    # The embedded Redis stand-in is slower than the local store it would cache: no cache then.
    cache = CatalogCache(app[keys.REDIS] if settings.redis_url else None, settings.redis_prefix)
    app[keys.CATALOG] = CatalogService(
        tracks=app[keys.TRACKS],
        artists=ArtistStore(db),
        albums=AlbumStore(db),
        cache=cache,
        loudness=AlbumLoudness(db, cache, app[keys.DELIVERY].store),
        lyrics=app[keys.LYRICS],
        events=app[keys.EVENTS],
        layout=MediaLayout(settings.media_dir),
        bucket=app[keys.DELIVERY].store if app[keys.DELIVERY].remote else None,
    )
    # The job queue is looked up per upload: it is wired separately and may start after this.
    app[keys.INGEST] = IngestService(app[keys.CATALOG], lambda: _enqueue(app))
    # Temp uploads of a process that died mid-upload: those no live process holds the lock of.
    await asyncio.to_thread(sweep_stale_uploads, settings.tmp_dir)
    app[keys.AUTH] = AuthService(
        users=app[keys.USERS],
        logins=LoginStore(db),
        hasher=hasher,
        tokens=app[keys.TOKENS],
        redis=app[keys.REDIS],
        settings=settings,
        revocations=app[keys.DELIVERY].revocations,
    )
    yield
    hasher.close()


def _enqueue(app: web.Application) -> Callable[[str], Awaitable[object]] | None:
    jobs = app.get(keys.JOBS)
    return jobs.enqueue if jobs is not None else None


async def _playback_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[keys.HISTORY] = HistoryStore(app[keys.DB])
    app[keys.PLAYBACK] = PlaybackService(
        states=PlaybackStates(app[keys.REDIS], settings.redis_prefix),
        history=app[keys.HISTORY],
        tracks=app[keys.TRACKS],
        events=app[keys.EVENTS],
        counted=TrendingCounter(app[keys.REDIS], settings.redis_prefix),
    )
    app[keys.PLAY_QUEUES] = PlayQueues(app[keys.REDIS], settings.redis_prefix)
    app[keys.ACCOUNTS] = AccountRemoval(
        users=app[keys.USERS],
        auth=app[keys.AUTH],
        app_passwords=app[keys.APP_PASSWORDS],
        annotations=app[keys.ANNOTATIONS],
        playlists=PlaylistStore(app[keys.DB]),
        history=app[keys.HISTORY],
        playback=PlaybackStates(app[keys.REDIS], settings.redis_prefix),
        devices=DeviceRegistry(app[keys.REDIS], settings.redis_prefix),
        queues=app[keys.PLAY_QUEUES],
    )
    yield


async def _revocations_ctx(app: web.Application) -> AsyncIterator[None]:
    revocations = app[keys.DELIVERY].revocations
    assert revocations is not None
    supervisor = app[keys.SUPERVISOR]
    supervisor.start("media-revocations", revocations.follow)
    yield
    await bounded(supervisor.stop("media-revocations"), seconds=10, what="media revocations")


async def _realtime_ctx(app: web.Application) -> AsyncIterator[None]:
    hub = app[keys.REALTIME]
    await hub.start(
        auth=app[keys.AUTH],
        playback=app[keys.PLAYBACK],
        devices=DeviceRegistry(app[keys.REDIS], app[keys.SETTINGS].redis_prefix),
        events=app[keys.EVENTS],
    )
    supervisor = app[keys.SUPERVISOR]
    supervisor.start("device-presence", hub.keep_present)
    yield
    await bounded(supervisor.stop("device-presence"), seconds=10, what="device presence")
    await bounded(hub.stop(), seconds=10, what="realtime")
    await app[keys.EVENTS].close()


def _version() -> str:
    try:
        return version("harmonystream")
    except PackageNotFoundError:
        return "0.0.0"
